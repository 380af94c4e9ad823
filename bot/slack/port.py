"""Slack as the application layer's port (bot/chat/port.py): Web API calls, and read-back by message metadata.

The client is slack_sdk's, built by bot/slack/app.py's `make_client`: its retry handlers wait out 429s by
Retry-After and retry 5xx and dropped connections, and its CrisisWebClient turns an answer the bot cannot use
into BadAnswer (an OSError). What Slack refuses comes out of here as `Refused(error, method)`; nothing else of
slack_sdk's reaches the layer.

Read-back: every message a step that must not repeat posts carries Slack message metadata naming its incident
and step (`tag`), so a restarted bot finds what a process that died had Slack post, by the incident's unique
code, never by a time: the bot's clock may run ahead of Slack's (a server whose clock drifted, still inside the
five minutes a request signature allows), and a history read from "when the bot thinks it tried" would then miss
what Slack stamped earlier and post it a second time. A file share carries no metadata: the report is known by
its file name (`find_upload`), a channel by its name and creator (`find_room`). History and lists are read with
slack_sdk's own cursor iteration (a SlackResponse follows `next_cursor` when iterated), at most MAX_PAGES pages.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from itertools import islice
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata
from slack_sdk.web import SlackResponse

from bot.chat.message import Message
from bot.chat.port import Attachment, Dialect, Port, Refused, Room, Tag
from bot.incidents.roles import Person
from bot.slack.render import MESSAGE_LIMIT, blocks
from bot.slack.text import SLACK, fit

log = logging.getLogger("crisisbot.slack")
CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{2,}")  # a channel, group or DM id, as Slack writes them

STEP_EVENT = "crisisbot_step"
MAX_PAGES = 20  # pages of 200: an incident channel, or a person's DM with the bot, read back after a crash
LIST_LIMIT = 999  # conversations.list answers invalid_limit unless `limit` is "an integer under 1000"
ALREADY_IN = "already_in_channel"
# What Slack answers for one person it could not add when `errors` is missing (a list of one, force or not).
PERSON_ERRORS = {"user_not_found", "cant_invite", "user_is_restricted", "user_is_ultra_restricted", "user_is_bot"}
UNKNOWN_PERSON = ("user_not_found", "user_not_visible")


def tag(step: Tag) -> Metadata:
    """The metadata that lets a later run recognise this step's message."""
    return Metadata(event_type=STEP_EVENT, event_payload={"incident": step.code, "step": step.step})


def drawn(message: Message) -> list[dict[str, Any]] | None:
    """Block Kit for a message with parts; none for plain text (the closing message, a notice without buttons)."""
    return blocks(message) if message.parts else None


def error_of(exc: SlackApiError) -> str:
    return str(exc.response.get("error"))


@contextmanager
def refusals(method: str) -> Iterator[None]:
    """Slack's refusal as the layer's `Refused`; an answer the client cannot read (a later page of a cursor
    walk, which bypasses CrisisWebClient.api_call) as an OSError, like a lost one."""
    try:
        yield
    except SlackApiError as exc:
        raise Refused(error_of(exc), method) from exc
    except (json.JSONDecodeError, UnicodeDecodeError, http.client.HTTPException) as exc:
        raise OSError(f"{method}: unreadable answer ({type(exc).__name__})") from exc


def pages(response: SlackResponse) -> Iterator[SlackResponse]:
    """The response and the ones its cursor leads to, MAX_PAGES at most (slack_sdk follows `next_cursor`)."""
    return islice(response, MAX_PAGES)


class SlackPort:
    """bot/chat/port.py's Port on slack_sdk's WebClient."""

    dialect: Dialect = SLACK
    room_name_limit = 80  # Slack's channel name limit

    def __init__(self, client: WebClient) -> None:
        self.client = client

    # ---- rooms ----------------------------------------------------------------------------------------
    def create_room(self, name: str, private: bool) -> Room:
        with refusals("conversations.create"):
            channel = self.client.conversations_create(name=name, is_private=private)["channel"]
        return Room(str(channel["id"]), str(channel["name"]))

    def set_topic(self, room: str, text: str) -> None:
        with refusals("conversations.setTopic"):
            self.client.conversations_setTopic(channel=room, topic=text)

    def invite(self, room: str, people: list[str]) -> dict[str, str]:
        """Bring `people` into `room`; returns who could not be brought in, with Slack's reason.

        Without `force` Slack fails the whole call when one person cannot be added, `already_in_channel` included
        (the level-3 escalation lists members and newcomers together); with `force=true` it adds everyone it can
        and names the others in `errors`. Someone already in the channel is in. Raises Refused when the call
        itself failed.
        """
        users = [u for u in dict.fromkeys(people) if u]
        if not users:
            return {}
        try:
            self.client.conversations_invite(channel=room, users=",".join(users), force=True)
        except SlackApiError as exc:
            errors, error = exc.response.get("errors"), exc.response.get("error")
            if isinstance(errors, list):
                failed = {
                    str(e.get("user")): str(e.get("error")) for e in errors if isinstance(e, dict) and e.get("user")
                }
            elif len(users) == 1 and error in PERSON_ERRORS | {ALREADY_IN}:
                failed = {users[0]: str(error)}
            else:
                raise Refused(str(error), "conversations.invite") from exc
            return {u: why for u, why in failed.items() if why != ALREADY_IN}
        return {}

    # ---- messages -------------------------------------------------------------------------------------
    def _post(self, channel: str, message: Message, step: Tag | None) -> SlackResponse:
        args: dict[str, Any] = {"channel": channel, "text": fit(message.text, MESSAGE_LIMIT)}
        if message.parts:
            args["blocks"] = blocks(message)
        if step is not None:
            args["metadata"] = tag(step)
        with refusals("chat.postMessage"):
            return self.client.chat_postMessage(**args)

    def post(self, room: str, message: Message, tag: Tag | None = None) -> str:
        return str(self._post(room, message, tag)["ts"])

    def dm(self, person: str, message: Message, tag: Tag | None = None) -> str:
        response = self._post(person, message, tag)
        return f"{response['channel']}:{response['ts']}"

    def update(self, room: str, ref: str, message: Message) -> None:
        with refusals("chat.update"):
            self.client.chat_update(channel=room, ts=ref, blocks=blocks(message), text=message.text)

    def pin(self, room: str, ref: str) -> None:
        with refusals("pins.add"):
            self.client.pins_add(channel=room, timestamp=ref)

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """Ephemeral in `room`, else (not a member, or Slack did not answer) by DM; raises when the DM failed."""
        text = fit(message.text, MESSAGE_LIMIT)
        drawn = blocks(message) if message.parts else None
        try:
            if room:
                self.client.chat_postEphemeral(channel=room, user=person, text=text, blocks=drawn)
                return
        except (SlackApiError, OSError):
            pass  # the bot or the person is not in that channel, or Slack did not answer: a DM instead
        with refusals("chat.postMessage"):
            self.client.chat_postMessage(channel=person, text=text, blocks=drawn)

    def upload(
        self, room: str, path: Path, filename: str, title: str, comment: str, also: tuple[Attachment, ...] = ()
    ) -> str:
        files = [{"file": str(path), "filename": filename, "title": title}]
        files += [{"file": str(p), "filename": name, "title": t} for p, name, t in also]
        with refusals("files.uploadV2"):
            response = self.client.files_upload_v2(channel=room, initial_comment=comment, file_uploads=files)
        return ",".join(str(f.get("id", "")) for f in response.get("files") or []) or "ok"

    # ---- read-back ------------------------------------------------------------------------------------
    def find_posts(self, room: str, code: str, steps: set[str]) -> dict[str, str]:
        """The ts of each of `steps` posted in `room` for incident `code` (by metadata: no time bound)."""
        found: dict[str, str] = {}
        with refusals("conversations.history"):
            history = self.client.conversations_history(channel=room, include_all_metadata=True, limit=200)
            for page in pages(history):
                for message in _messages(page):
                    step = _step_of(message, code)
                    if step in steps and (step not in found or float(message["ts"]) < float(found[step])):
                        found[step] = message["ts"]  # the first one, should a step ever have landed twice
        return found

    def find_dm(self, person: str, code: str, step: str) -> str | None:
        """`<dm channel>:<ts>` of the step's DM to `person`, as `dm` answers, or None."""
        with refusals("conversations.open"):
            channel = self.client.conversations_open(users=person)["channel"]["id"]
        found = self.find_posts(channel, code, {step})
        return f"{channel}:{found[step]}" if step in found else None

    def find_upload(self, room: str, filename: str) -> str | None:
        """The ids (comma-separated, as `upload` answers) of the files of this bot's first share in `room` that
        holds a file named `filename` (the report's, unique per incident), or None: an upload whose answer was
        lost."""
        found: str | None = None
        with refusals("conversations.history"):
            me = self.client.auth_test()["user_id"]
            for page in pages(self.client.conversations_history(channel=room, limit=200)):
                for message in _messages(page):  # newest first: the last match is the first share
                    files = [f for f in message.get("files") or [] if isinstance(f, dict)]
                    if any(f.get("name") == filename and f.get("user", message.get("user")) == me for f in files):
                        found = ",".join(str(f.get("id", "")) for f in files)
        return found

    def room_by_name(self, name: str) -> str | None:
        """The id of the channel called `name` (a leading "#" ignored) among those the bot can see; a channel
        configured by id is its own ref (the announcements channel may be given either way)."""
        if CONVERSATION_ID.fullmatch(name):
            return name
        name = name.lstrip("#")
        for channel in self._channels("public_channel,private_channel"):
            if channel.get("name") == name:
                return str(channel["id"])
        return None

    def find_room(self, name: str, private: bool, taken: Callable[[str], bool]) -> Room | None:
        """The channel `name` this bot created for no other incident: a create whose answer was lost.

        Not bounded by its `created` time: that is Slack's clock, the try's was ours. A channel name carries the
        declare's date, and one the bot made for another incident is `taken`."""
        with refusals("auth.test"):
            me = self.client.auth_test()["user_id"]
        for channel in self._channels("private_channel" if private else "public_channel"):
            if channel.get("name") == name and channel.get("creator") == me and not taken(channel["id"]):
                return Room(str(channel["id"]), str(channel["name"]))
        return None

    def _channels(self, types: str) -> Iterator[dict[str, Any]]:
        with refusals("conversations.list"):
            listing = self.client.conversations_list(types=types, exclude_archived=True, limit=LIST_LIMIT)
            for page in pages(listing):
                yield from page.get("channels", [])

    # ---- people ---------------------------------------------------------------------------------------
    def locale(self, person: str) -> str | None:
        try:
            return self.client.users_info(user=person, include_locale=True)["user"].get("locale") or None
        except (SlackApiError, OSError, KeyError):
            return None  # Slack gave no locale: the caller's default is a fine answer

    def person(self, person: str) -> Person | None:
        """What Slack says about one account; None when Slack did not answer (logged)."""
        try:
            info = self.client.users_info(user=person)["user"]
        except SlackApiError as exc:
            if error_of(exc) in UNKNOWN_PERSON:
                return Person(person, known=False)
            log.warning("users.info %s: %s", person, error_of(exc))
            return None
        except (OSError, KeyError) as exc:
            log.warning("users.info %s: %s", person, type(exc).__name__)
            return None
        return Person(
            person,
            deactivated=bool(info.get("deleted")),
            bot=bool(info.get("is_bot")) or person == "USLACKBOT",
            workspace_admin=bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")),
        )

    def display_name(self, person: str) -> str | None:
        """The name a report shows ("Anna de Vries" rather than a user id); None when Slack did not say."""
        try:
            profile = self.client.users_info(user=person)["user"]
        except (SlackApiError, OSError, KeyError):
            return None
        return str(profile.get("real_name") or profile.get("name") or person)


def _messages(page: SlackResponse) -> list[dict[str, Any]]:
    return [m for m in page.get("messages") or [] if isinstance(m, dict)]


def _step_of(message: dict[str, Any], code: str) -> str | None:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    if metadata.get("event_type") == STEP_EVENT and payload.get("incident") == code:
        return str(payload.get("step"))
    return None


def _satisfies_the_port(client: WebClient) -> Port:
    return SlackPort(client)  # mypy checks here that SlackPort is a Port

"""Slack as the application layer's Port (bot/chat/port.py): Web API calls, read-back by message metadata.

Slack's refusals become `Refused(<Slack's error code>)`; a lost answer stays the OSError slack_sdk raised.
Each method makes the same Web API calls the Slack code made before it moved behind the port (no extra round
trip), e.g. a DM is one chat.postMessage to the member id, and Slack answers with the DM's channel.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat.message import Message
from bot.chat.port import Attachment, Dialect, Refused, Room, Tag
from bot.incidents.roles import Person
from bot.slack import readback, render
from bot.slack.provision import invite_people
from bot.slack.render import MESSAGE_LIMIT
from bot.slack.text import SLACK, fit

CONVERSATION_ID = re.compile(r"[CGD][A-Z0-9]{2,}")


@contextmanager
def refusals(method: str) -> Iterator[None]:
    """Slack's "no" as the port's Refused, with Slack's error code as the reason."""
    try:
        yield
    except SlackApiError as exc:
        raise Refused(str(exc.response.get("error")), method) from exc


def blocks(message: Message) -> list[dict[str, Any]] | None:
    """Block Kit for a message with parts; none for plain text (the closing message, a notice without buttons)."""
    return render.blocks(message) if message.parts else None


class SlackPort:
    """bot/chat/port.Port on a slack_sdk WebClient."""

    dialect: Dialect = SLACK

    def __init__(self, client: WebClient) -> None:
        self.client = client

    # ---- rooms ----------------------------------------------------------------------------------------
    def create_room(self, name: str, private: bool) -> Room:
        with refusals("conversations.create"):
            channel = self.client.conversations_create(name=name, is_private=private)["channel"]
        return Room(channel["id"], channel["name"])

    def set_topic(self, room: str, text: str) -> None:
        with refusals("conversations.setTopic"):
            self.client.conversations_setTopic(channel=room, topic=text)

    def invite(self, room: str, people: list[str]) -> dict[str, str]:
        with refusals("conversations.invite"):
            return invite_people(self.client, room, people)

    # ---- messages -------------------------------------------------------------------------------------
    def post(self, room: str, message: Message, tag: Tag | None = None) -> str:
        with refusals("chat.postMessage"):
            response = self.client.chat_postMessage(
                channel=room, text=fit(message.text, MESSAGE_LIMIT), blocks=blocks(message), metadata=_metadata(tag)
            )
        return str(response["ts"])

    def dm(self, person: str, message: Message, tag: Tag | None = None) -> str:
        with refusals("chat.postMessage"):
            response = self.client.chat_postMessage(
                channel=person, text=fit(message.text, MESSAGE_LIMIT), blocks=blocks(message), metadata=_metadata(tag)
            )
        return f"{response['channel']}:{response['ts']}"

    def update(self, room: str, ref: str, message: Message) -> None:
        with refusals("chat.update"):
            self.client.chat_update(channel=room, ts=ref, text=message.text, blocks=blocks(message))

    def pin(self, room: str, ref: str) -> None:
        with refusals("pins.add"):
            self.client.pins_add(channel=room, timestamp=ref)

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """Ephemeral in `room`; else (not a member, or Slack did not answer) by DM."""
        text = fit(message.text, MESSAGE_LIMIT)
        try:
            if room:
                self.client.chat_postEphemeral(channel=room, user=person, text=text, blocks=blocks(message))
                return
        except (SlackApiError, OSError):
            pass  # the bot or the person is not in that channel, or Slack did not answer: a DM instead
        with refusals("chat.postMessage"):
            self.client.chat_postMessage(channel=person, text=text, blocks=blocks(message))

    def upload(
        self, room: str, path: Path, filename: str, title: str, comment: str, also: tuple[Attachment, ...] = ()
    ) -> str:
        files = [{"file": str(f), "filename": n, "title": t} for f, n, t in ((path, filename, title), *also)]
        with refusals("files.uploadV2"):
            response = self.client.files_upload_v2(channel=room, initial_comment=comment, file_uploads=files)
        return ",".join(str(f.get("id", "")) for f in response.get("files") or []) or "ok"

    # ---- read-back ------------------------------------------------------------------------------------
    def find_posts(self, room: str, code: str, steps: set[str]) -> dict[str, str]:
        with refusals("conversations.history"):
            return readback.find_messages(self.client, room, code, steps)

    def find_dm(self, person: str, code: str, step: str) -> str | None:
        with refusals("conversations.history"):
            return readback.find_dm(self.client, person, code, step)

    def find_room(self, name: str, private: bool, taken: Callable[[str], bool]) -> Room | None:
        with refusals("conversations.list"):
            found = readback.find_channel(self.client, name, private, taken)
        return Room(found["id"], found["name"]) if found else None

    def find_upload(self, room: str, filename: str) -> str | None:
        with refusals("conversations.history"):
            return readback.find_file(self.client, room, filename)

    def room_by_name(self, name: str) -> str | None:
        """A channel given by id is its own ref; one given by name is looked up (its history needs the id)."""
        if CONVERSATION_ID.fullmatch(name):
            return name
        with refusals("conversations.list"):
            return readback.channel_id(self.client, name)

    # ---- people ---------------------------------------------------------------------------------------
    def locale(self, person: str) -> str | None:
        with refusals("users.info"):
            return self.client.users_info(user=person, include_locale=True)["user"].get("locale") or None

    def person(self, person: str) -> Person | None:
        try:
            info = self.client.users_info(user=person)["user"]
        except SlackApiError as exc:
            if exc.response.get("error") in ("user_not_found", "user_not_visible"):
                return Person(person, known=False)
            return None
        except (OSError, KeyError):
            return None
        return Person(
            person,
            deactivated=bool(info.get("deleted")),
            bot=bool(info.get("is_bot")) or person == "USLACKBOT",
            workspace_admin=bool(info.get("is_admin") or info.get("is_owner") or info.get("is_primary_owner")),
        )

    def display_name(self, person: str) -> str | None:
        with refusals("users.info"):
            profile = self.client.users_info(user=person)["user"]
        return profile.get("real_name") or profile.get("name") or None


def _metadata(tag: Tag | None) -> Any:
    return readback.tag(tag.code, tag.step) if tag else None

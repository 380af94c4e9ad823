"""Find in Slack what a process that died mid-declare or mid-resolve had already done but not yet noted.

Every message the provisioner and the closing steps post carries Slack message metadata naming its incident
and step, and every step is noted as *tried* before its call goes out. A step tried but not noted as done may
or may not have reached Slack; these look-ups answer which, so a restarted bot finishes the set-up or the
closing without repeating it. Only a resumed run pays for them: a first run has nothing tried. A file share
carries no metadata: the report is known by its file name (`find_file`), a channel by its name and creator.

What identifies a step is Slack's own data (metadata naming the incident's unique code, the report's file
name, a channel no other incident has), never a time: the bot's clock may run ahead of Slack's (a server
whose clock drifted, still inside the five minutes a request signature allows), and a history read from "when
the bot thinks it tried" would then miss what Slack stamped earlier and post it a second time.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.metadata import Metadata

if TYPE_CHECKING:
    from bot.store import Store

log = logging.getLogger("crisisbot.slack")

STEP_EVENT = "crisisbot_step"
MAX_PAGES = 20  # pages of 200: an incident channel, or a person's DM with the bot, read back after a crash
LIST_LIMIT = 999  # conversations.list answers invalid_limit unless `limit` is "an integer under 1000"


def tried(name: str = "") -> str:
    """What a try notes: what a later run needs to find it besides its step (the name a channel was asked for)."""
    return json.dumps({"name": name} if name else {})


def tried_name(note: str) -> str:
    return str(json.loads(note).get("name", ""))


class LookUpFailed(Exception):
    """Slack refused the look-up of a step a dead run tried: it may be there, so it must not be redone blindly."""

    def __init__(self, cause: SlackApiError | OSError) -> None:
        super().__init__(str(cause))
        self.cause = cause


def once(
    store: Store,
    incident_id: int,
    step: str,
    call: Callable[[], str],
    record: Callable[[str], None],
    now: datetime,
    look: Callable[[], str | None] | None = None,
) -> str:
    """One step that must not repeat: if a run that died had tried it, look it up first (`look`: its ref in
    Slack, or None); otherwise note it as tried, do it, and `record` its ref
    (recording should also forget the try). A step without `look` is safe to repeat and is simply done.
    Raises what Slack raised, and LookUpFailed when the look-up itself was refused."""
    if look is not None:
        if store.delivery(f"{incident_id}:try:{step}"):
            try:
                ref = look()
            except (SlackApiError, OSError) as exc:
                raise LookUpFailed(exc) from exc
            if ref:
                log.info("incident %s: %s found in Slack, done before a restart", incident_id, step)
                record(ref)
                return ref
        store.note_tries(incident_id, {step: tried()}, now)
    ref = call()
    record(ref)
    return ref


def tag(code: str, step: str) -> Metadata:
    """The metadata that lets a later run recognise this step's message."""
    return Metadata(event_type=STEP_EVENT, event_payload={"incident": code, "step": step})


def find_messages(client: WebClient, channel: str, code: str, steps: set[str]) -> dict[str, str]:
    """The ts of each of `steps` posted in `channel` for incident `code` (by metadata: no time bound)."""
    found: dict[str, str] = {}
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        response = client.conversations_history(channel=channel, include_all_metadata=True, limit=200, cursor=cursor)
        for message in response.get("messages", []):
            step = _step_of(message, code)
            if step in steps and (step not in found or float(message["ts"]) < float(found[step])):
                found[step] = message["ts"]  # the first one, should a step ever have landed twice
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return found


def find_dm(client: WebClient, user: str, code: str, step: str) -> str | None:
    """`<dm channel>:<ts>` of the step's DM to `user`, as the provisioner notes a DM, or None."""
    channel = client.conversations_open(users=user)["channel"]["id"]
    found = find_messages(client, channel, code, {step})
    return f"{channel}:{found[step]}" if step in found else None


def find_file(client: WebClient, channel: str, filename: str) -> str | None:
    """The ids (comma-separated, as an upload notes them) of the files of this bot's first share in `channel`
    that holds a file named `filename` (the report's, unique per incident), or None: an upload whose answer was
    lost."""
    me = client.auth_test()["user_id"]
    found: str | None = None
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        response = client.conversations_history(channel=channel, limit=200, cursor=cursor)
        for message in response.get("messages", []):  # newest first: the last match is the first share
            files = [f for f in message.get("files") or [] if isinstance(f, dict)]
            if any(f.get("name") == filename and f.get("user", message.get("user")) == me for f in files):
                found = ",".join(str(f.get("id", "")) for f in files)
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return found


def channel_id(client: WebClient, name: str) -> str | None:
    """The id of the channel called `name` (a leading "#" ignored) among those the bot can see."""
    name, cursor = name.lstrip("#"), None
    for _ in range(MAX_PAGES):
        response = client.conversations_list(
            types="public_channel,private_channel", exclude_archived=True, limit=LIST_LIMIT, cursor=cursor
        )
        found = next((c["id"] for c in response.get("channels", []) if c.get("name") == name), None)
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if found or not cursor:
            return found
    return None


def find_channel(client: WebClient, name: str, private: bool, taken: Callable[[str], bool]) -> dict[str, Any] | None:
    """The channel `name` this bot created for no other incident: a create whose answer was lost.

    Not bounded by its `created` time: that is Slack's clock, the try's was ours. A channel name carries the
    declare's date, and one the bot made for another incident is `taken`."""
    me = client.auth_test()["user_id"]
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        response = client.conversations_list(
            types="private_channel" if private else "public_channel",
            exclude_archived=True,
            limit=LIST_LIMIT,
            cursor=cursor,
        )
        for channel in response.get("channels", []):
            if channel.get("name") == name and channel.get("creator") == me and not taken(channel["id"]):
                return channel
        cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
        if not cursor:
            break
    return None


def _step_of(message: dict[str, Any], code: str) -> str | None:
    metadata = message.get("metadata") or {}
    payload = metadata.get("event_payload") or {}
    if metadata.get("event_type") == STEP_EVENT and payload.get("incident") == code:
        return str(payload.get("step"))
    return None

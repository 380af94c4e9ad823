"""Make an incident real in Slack: channel, topic, invites, pinned header, pings, DMs and drafts.

Each step is recorded in the store's `deliveries` once Slack accepted it, so a run that failed midway
is completed by running it again, and nothing is created twice. Independent calls go out in parallel:
the floor is three sequential round trips (create the channel → everything that needs its id → pin the
header, which needs the header's ts).
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.incidents.desk import Desk
from bot.incidents.roles import seats
from bot.models import Incident
from bot.slack.blocks import draft_blocks, header_blocks, role_dm_blocks
from bot.slack.text import Wording, mention

log = logging.getLogger("crisisbot.slack")
MAX_NAME = 80
PARALLEL_CALLS = 8


def channel_name(incident: Incident, attempt: int = 0) -> str:
    """`crisis-<yyyymmdd>-<scenario>` (drills `drill-…`): a valid Slack name, made unique on a clash.

    The first clash adds the incident's number (`-014`), which is unique by construction; only a channel
    someone made by hand with that very name leads to a short random suffix.
    """
    prefix = "drill" if incident.drill else "crisis"
    base = f"{prefix}-{incident.declared_at:%Y%m%d}-{incident.scenario}".lower()
    base = re.sub(r"[^a-z0-9_-]+", "-", base).strip("-")
    suffix = ""
    if attempt == 1:
        suffix = "-" + incident.code.rsplit("-", 1)[-1]
    elif attempt > 1:
        suffix = f"-{incident.code.rsplit('-', 1)[-1]}-{secrets.token_hex(2)}"
    return base[: MAX_NAME - len(suffix)] + suffix


_POOL: ThreadPoolExecutor | None = None
_POOL_LOCK = threading.Lock()


def _pool() -> ThreadPoolExecutor:
    """One shared pool for the parallel Slack calls: its threads (and their SQLite connections) are reused."""
    global _POOL
    with _POOL_LOCK:
        if _POOL is None:
            _POOL = ThreadPoolExecutor(max_workers=PARALLEL_CALLS, thread_name_prefix="crisisbot-slack")
        return _POOL


def channel_url(channel_id: str | None) -> str | None:
    return f"https://slack.com/app_redirect?channel={channel_id}" if channel_id else None


@dataclass
class Provisioned:
    incident: Incident
    failed: list[str] = field(default_factory=list)  # step names Slack refused, to tell the declarer

    @property
    def complete(self) -> bool:
        return not self.failed


class Provisioner:
    def __init__(self, desk: Desk, client: WebClient, say: Wording) -> None:
        self.desk, self.client, self.say = desk, client, say
        self._paging: dict[str, list[str]] = {}
        self._header_existed = False

    def run(self, incident: Incident) -> Provisioned:
        """Do every step not yet done for `incident`; report the ones Slack refused."""
        result = Provisioned(incident)
        incident = self._channel(incident, result)
        if incident.channel_id is None:
            return result
        result.incident = incident
        self._paging = self._unpaged(incident)
        self._header_existed = self.desk.store.delivery(f"{incident.id}:header") is not None
        # Round 2 puts the header first in the channel; round 3 needs its ts (pin) or follows it (drafts).
        for round_steps in (self._room_steps, self._content_steps):
            done = self.desk.store.deliveries(incident.id)
            steps = [(name, call) for name, call in round_steps(incident) if f"{incident.id}:{name}" not in done]
            outcomes = list(_pool().map(lambda step: self._do(incident, *step), steps))
            result.failed += [name for (name, _), ok in zip(steps, outcomes, strict=True) if not ok]
        ready = f"{incident.id}:ready"
        if result.complete and self.desk.store.delivery(ready) is None:
            # from now on an identical declare after the first minute makes a new incident, not a resume
            self.desk.store.record_delivery(ready, incident.id, "ok", self.desk.now())
        return result

    # ---- steps ---------------------------------------------------------------------------------
    def _channel(self, incident: Incident, result: Provisioned) -> Incident:
        if incident.channel_id:
            return incident
        for attempt in range(5):
            name = channel_name(incident, attempt)
            try:
                response = self.client.conversations_create(name=name, is_private=incident.private)
            except SlackApiError as exc:
                if exc.response.get("error") == "name_taken":
                    continue
                log.warning("declare %s: conversations.create: %s", incident.code, exc.response.get("error"))
                result.failed.append("channel")
                return incident
            except OSError as exc:
                log.warning("declare %s: conversations.create: %s", incident.code, type(exc).__name__)
                result.failed.append("channel")
                return incident
            channel = response["channel"]
            now = self.desk.now()
            with self.desk.store.transaction():
                self.desk.store.record_delivery(f"{incident.id}:channel", incident.id, channel["id"], now)
                self.desk.store.add_event(
                    incident.id, now, "bot", "channel_created", channel=channel["id"], name=channel["name"]
                )
                return self.desk.store.update_incident(
                    incident.id, channel_id=channel["id"], channel_name=channel["name"]
                )
        result.failed.append("channel")
        return incident

    def _room_steps(self, incident: Incident) -> list[tuple[str, Callable[[], str]]]:
        """The header, the room's topic and members, and the DMs: all need only the channel id."""
        channel, say, client = incident.channel_id, self.say, self.client
        people = _people_by_role(seats(self.desk, incident))
        steps: list[tuple[str, Callable[[], str]]] = [
            # The header's text pages the owners (mentions there notify), so no separate paging message.
            (
                "header",
                lambda: client.chat_postMessage(
                    channel=channel,
                    blocks=header_blocks(self.desk, incident, say),
                    text=say("header.paging", code=incident.code, title=incident.title, people=_mentions(people, say))
                    if people
                    else say("header.fallback", code=incident.code, title=incident.title),
                )["ts"],
            ),
            (
                f"topic:{incident.level}",
                lambda: _ok(
                    client.conversations_setTopic(
                        channel=channel,
                        topic=say("channel.topic", code=incident.code, title=incident.title, level=incident.level)[
                            :250
                        ],
                    )
                ),
            ),
            (f"invite:{incident.level}", lambda: self._invite(incident, people)),
        ]
        for user, roles in people.items():
            steps.append((f"dm:{user}", lambda user=user, roles=roles: self._dm(incident, user, roles)))
        return steps

    def _content_steps(self, incident: Incident) -> list[tuple[str, Callable[[], str]]]:
        """Pin the header, page the team in the channel, post the drafts."""
        channel, say, client = incident.channel_id, self.say, self.client
        header_ts = self.desk.store.delivery(f"{incident.id}:header")
        people = self._paging  # page in the channel whoever this run DMs for the first time
        steps: list[tuple[str, Callable[[], str]]] = []
        if header_ts:
            steps.append(("pin", lambda: self._pin(channel, header_ts)))
        if people and self._header_existed:  # later pages (after an escalation) get their own message
            steps.append(
                (
                    f"mention:{incident.level}",
                    lambda: client.chat_postMessage(
                        channel=channel, text=say("channel.paged", people=_mentions(people, say))
                    )["ts"],
                )
            )
        for draft in self.desk.store.drafts(incident.id):
            steps.append((f"draft:{draft.id}", lambda draft=draft: self._draft(incident, draft)))
        return steps

    def _unpaged(self, incident: Incident) -> dict[str, list[str]]:
        """Owners of the level's roles who have not had their DM yet (all of them at declare)."""
        done = self.desk.store.deliveries(incident.id)
        people = _people_by_role(seats(self.desk, incident))
        return {u: roles for u, roles in people.items() if f"{incident.id}:dm:{u}" not in done}

    def _invite(self, incident: Incident, people: dict[str, list[str]]) -> str:
        users = [u for u in dict.fromkeys([incident.declared_by, *people]) if u]
        try:
            self.client.conversations_invite(channel=incident.channel_id, users=",".join(users))
        except SlackApiError as exc:
            if exc.response.get("error") != "already_in_channel":
                raise
        return ",".join(users)

    def _pin(self, channel: str, ts: str) -> str:
        try:
            self.client.pins_add(channel=channel, timestamp=ts)
        except SlackApiError as exc:
            if exc.response.get("error") != "already_pinned":  # pinned by a run that died before noting it
                raise
        return "ok"

    def _dm(self, incident: Incident, user: str, roles: list[str]) -> str:
        response = self.client.chat_postMessage(
            channel=user,
            text=self.say("dm.fallback", code=incident.code, title=incident.title),
            blocks=role_dm_blocks(self.desk, incident, user, roles, self.say, channel_url(incident.channel_id)),
        )
        self.desk.store.add_event(incident.id, self.desk.now(), "bot", "pinged", user=user, roles=roles)
        return f"{response['channel']}:{response['ts']}"

    def _draft(self, incident: Incident, draft) -> str:
        response = self.client.chat_postMessage(
            channel=incident.channel_id,
            blocks=draft_blocks(self.desk, incident, draft, self.say),
            text=self.say("draft.fallback", network=self.say.network(draft.network)),
        )
        self.desk.store.update_draft(draft.id, message_ts=response["ts"])
        return response["ts"]

    def _do(self, incident: Incident, name: str, call: Callable[[], str]) -> bool:
        try:
            ref = call()
        except SlackApiError as exc:
            log.warning("declare %s: step %s failed: %s", incident.code, name, exc.response.get("error"))
            return False
        except OSError as exc:  # connection refused, timeout after the retry handlers gave up
            log.warning("declare %s: step %s failed: %s", incident.code, name, type(exc).__name__)
            return False
        self.desk.store.record_delivery(f"{incident.id}:{name}", incident.id, str(ref), self.desk.now())
        return True


def _ok(response) -> str:
    return "ok" if response.get("ok") else ""


def _people_by_role(role_seats) -> dict[str, list[str]]:
    people: dict[str, list[str]] = {}
    for seat in role_seats:
        if seat.owner:
            people.setdefault(seat.owner, []).append(seat.role)
    return people


def _mentions(people: dict[str, list[str]], say: Wording) -> Markup:
    # Built from user ids we validated and our own role names: safe to pass through unescaped.
    # (Markup.join would HTML-escape plain str parts; Slack needs them as they are.)
    return Markup(
        ", ".join(f"{mention(user)} ({', '.join(say.role(r) for r in roles)})" for user, roles in people.items())
    )

"""Make an incident real in Slack: channel, topic, invites, pinned header, pings, DMs and drafts.

Each step is recorded in the store's `deliveries` once Slack accepted it, so a run that failed midway
is completed by running it again, and nothing is created twice. Independent calls go out in parallel:
the floor is three sequential round trips (create the channel → everything that needs its id → pin the
header, which needs the header's ts).
"""

from __future__ import annotations

import functools
import json
import logging
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from markupsafe import Markup
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat import cards
from bot.chat.wording import Wording
from bot.incidents import facts
from bot.incidents.desk import Desk
from bot.incidents.roles import seats
from bot.models import Incident
from bot.slack import readback, render
from bot.slack.text import fit, mention

log = logging.getLogger("crisisbot.slack")
MAX_NAME = 80
MAX_TOPIC = 250  # conversations.setTopic answers too_long past it
PARALLEL_CALLS = 8


def channel_name(incident: Incident, tz: ZoneInfo, attempt: int = 0) -> str:
    """`crisis-<yyyymmdd>-<scenario>` (drills `drill-…`): a valid Slack name, made unique on a clash.

    The date is the company's own (`tz`): a crisis declared at 00:30 in Amsterdam is dated that day, not
    the UTC day before. The first clash adds the incident's number (`-014`), which is unique by construction;
    only a channel someone made by hand with that very name leads to a short random suffix.
    """
    prefix = "drill" if incident.drill else "crisis"
    base = f"{prefix}-{incident.declared_at.astimezone(tz):%Y%m%d}-{incident.scenario}".lower()
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


ALREADY_IN = "already_in_channel"
UNINVITED_REASONS = ("user_not_found", "cant_invite", "user_is_restricted")  # each has its own plain words
# What Slack answers for one person it could not add when `errors` is missing (a list of one, force or not).
PERSON_ERRORS = {"user_not_found", "cant_invite", "user_is_restricted", "user_is_ultra_restricted", "user_is_bot"}


def invite_people(client: WebClient, channel: str, users: list[str]) -> dict[str, str]:
    """Bring `users` into `channel`; returns who could not be brought in, with Slack's reason.

    Without `force` Slack fails the whole call when one person cannot be added, `already_in_channel` included (the
    level-3 escalation lists members and newcomers together); with `force=true` it adds everyone it can and names the
    others in `errors`. Someone already in the channel is in. Raises SlackApiError when the call itself failed.
    """
    users = [u for u in dict.fromkeys(users) if u]
    if not users:
        return {}
    try:
        client.conversations_invite(channel=channel, users=",".join(users), force=True)
    except SlackApiError as exc:
        errors, error = exc.response.get("errors"), exc.response.get("error")
        if isinstance(errors, list):
            failed = {str(e.get("user")): str(e.get("error")) for e in errors if isinstance(e, dict) and e.get("user")}
        elif len(users) == 1 and error in PERSON_ERRORS | {ALREADY_IN}:
            failed = {users[0]: str(error)}
        else:
            raise
        return {u: why for u, why in failed.items() if why != ALREADY_IN}
    return {}


def uninvited_text(failed: dict[str, str], roles_of: dict[str, list[str]], say: Wording) -> str:
    """Who could not be brought into the channel, why in plain words, and how to give their role to someone else."""
    lines = [say("uninvited.heading")]
    for user, why in failed.items():
        roles = roles_of.get(user, [])
        lines.append(
            say(
                "uninvited.line",
                user=mention(user),
                roles=", ".join(say.role(r) for r in roles),
                reason=say(f"uninvited.reason.{why}" if why in UNINVITED_REASONS else "uninvited.reason.other"),
                fix=Markup(" · ".join(f"`/crisis roles set {r} @person`" for r in roles)),
            )
        )
    return "\n".join(lines)


@dataclass
class Provisioned:
    incident: Incident
    failed: list[str] = field(default_factory=list)  # step names Slack refused, to tell the declarer
    done: list[str] = field(default_factory=list)  # steps this run did or found done by a run that died
    confirmed: bool = False  # the declarer was told "declared" during the last round (see Provisioner.run)

    @property
    def complete(self) -> bool:
        return not self.failed


@dataclass
class Step:
    name: str
    call: Callable[[], str]  # does it in Slack; returns what to note (a ts, a channel id, "ok")
    look: str | None = None  # where a run that died may have left it ("channel", "dm:<user>"); None: safe to repeat
    then: Callable[[str], None] | None = None  # bookkeeping noted with it, in the same transaction


_RUNNING: dict[int, threading.RLock] = {}
_RUNNING_LOCK = threading.Lock()


def one_run_at_a_time(incident_id: int) -> threading.RLock:
    """One lock per incident for every run that talks to Slack about it (declare's set-up, resolve's closing
    steps): two runs (the same declare typed twice at once, a double click on Retry) take turns, and the second
    finds done what the first did. Re-entrant: the closing steps run the Provisioner while holding it."""
    with _RUNNING_LOCK:
        return _RUNNING.setdefault(incident_id, threading.RLock())


class Provisioner:
    def __init__(self, desk: Desk, client: WebClient, say: Wording) -> None:
        self.desk, self.client, self.say = desk, client, say
        self._paging: dict[str, list[str]] = {}
        self._uninvited: dict[str, str] = {}  # who this run's invite could not bring in, and why
        self._blocks: dict[str, list[dict]] = {}  # built while Slack makes the channel; see _prebuild

    def run(self, incident: Incident, confirm: Callable[[Incident], bool] | None = None) -> Provisioned:
        """Do every step not yet done for `incident`; report the ones Slack refused.

        `confirm` (tell the declarer it is declared; True once told) goes out in the last round, alongside the
        pin and the drafts, when every step before succeeded: the declarer then waits no round trip of its own
        after the set-up. A step of that round that fails is named to them afterwards (result.failed).
        """
        with one_run_at_a_time(incident.id):
            return self._run(self.desk.store.incident(incident.id) or incident, confirm)

    def _run(self, incident: Incident, confirm: Callable[[Incident], bool] | None = None) -> Provisioned:
        result = Provisioned(incident)
        if incident.channel_id is None:
            # The header and drafts do not need the channel: build them on another thread while this one waits
            # for conversations.create, so the next rounds' calls go out without that CPU time between them.
            prebuilt = _pool().submit(self._prebuild, incident)
            incident = self._channel(incident, result)
            self._blocks = prebuilt.result()
        if incident.channel_id is None:
            return result
        result.incident = incident
        self._paging = self._unpaged(incident)
        # Round 2 puts the header first in the channel; round 3 needs its ts (pin) or follows it (drafts).
        for round_steps in (self._room_steps, self._content_steps):
            done = self.desk.store.deliveries(incident.id)
            last = round_steps == self._content_steps
            alongside = functools.partial(confirm, incident) if confirm and last and result.complete else None
            steps = [s for s in round_steps(incident) if f"{incident.id}:{s.name}" not in done]
            result.confirmed = self._round(incident, steps, result, alongside)
        if result.complete and incident.setup_done_at is None:
            # from now on an identical declare after the first minute makes a new incident, not a resume
            result.incident = facts.record(self.desk, incident, facts.SetupDone())
        return result

    def _round(
        self, incident: Incident, steps: list[Step], result: Provisioned, alongside: Callable[[], bool] | None = None
    ) -> bool:
        """Find what a dead run left, note the rest as tried, do it in parallel, note all that worked at once.

        `alongside` (not a step: nothing to record or read back) runs in parallel with the steps; returns its answer.
        """
        found, unknown = self._read_back(incident, steps)
        todo = [s for s in steps if s.name not in found and s.name not in unknown]
        self.desk.store.note_tries(incident.id, {s.name: readback.tried() for s in todo}, self.desk.now())
        extra = _pool().submit(alongside) if alongside else None  # first, so it never queues behind the steps
        outcomes = list(_pool().map(lambda step: self._do(incident, step), todo))
        refs = {**found, **{s.name: ref for s, ref in zip(todo, outcomes, strict=True) if ref is not None}}
        refs |= self._unreachable(todo, refs)
        with self.desk.store.transaction():
            self.desk.store.record_deliveries(incident.id, refs, self.desk.now())
            for step in steps:
                if step.name in refs and step.then:
                    step.then(refs[step.name])
        result.done += [s.name for s in steps if s.name in refs]
        result.failed += [s.name for s in steps if s.name not in refs]
        return bool(extra and extra.result())

    def _read_back(self, incident: Incident, steps: list[Step]) -> tuple[dict[str, str], set[str]]:
        """Steps a dead run tried: those Slack has (name → ref), and those we could not check (not redone)."""
        done = self.desk.store.deliveries(incident.id)
        tried = [s for s in steps if s.look and f"{incident.id}:try:{s.name}" in done]
        if not tried:
            return {}, set()
        lookups = self._lookups(incident, tried)
        answers = _pool().map(lambda lookup: _ask(incident, lookup[1]), lookups)
        found: dict[str, str] = {}
        unknown: set[str] = set()
        for (names, _), answer in zip(lookups, answers, strict=True):
            if answer is None:
                unknown |= names
            else:
                found.update(answer)
        if found:
            log.info("declare %s: found in Slack, done before a restart: %s", incident.code, ", ".join(sorted(found)))
        return found, unknown

    def _lookups(self, incident: Incident, tried: list[Step]) -> list[tuple[set[str], Callable[[], dict[str, str]]]]:
        """One history read for the channel's messages, one DM read per person: (steps it answers, the call)."""
        client, code, channel = self.client, incident.code, str(incident.channel_id)
        in_channel = {s.name for s in tried if s.look == "channel"}
        lookups: list[tuple[set[str], Callable[[], dict[str, str]]]] = []
        if in_channel:
            lookups.append((in_channel, lambda: readback.find_messages(client, channel, code, in_channel)))
        for step in tried:
            if step.look and step.look.startswith("dm:"):
                user = step.look.removeprefix("dm:")
                lookups.append(({step.name}, functools.partial(_find_dm, client, user, code, step.name)))
        return lookups

    # ---- steps ---------------------------------------------------------------------------------
    def _channel(self, incident: Incident, result: Provisioned) -> Incident:
        if incident.channel_id:
            return incident
        tried = self.desk.store.delivery(f"{incident.id}:try:channel")
        if tried:  # a run that died after asking for the channel: Slack may have made it
            found = _ask(incident, lambda: self._find_channel(incident, tried))
            if found is None:
                result.failed.append("channel")
                return incident
            if found:
                return self._note_channel(incident, found["channel"])
        # A name one of our incidents has is taken for sure: start at the clash name (the incident's number)
        # instead of paying a name_taken round trip. name_taken stays the fallback for names others made.
        tz = self.desk.settings.tz
        first = 1 if self.desk.store.channel_name_used(channel_name(incident, tz)) else 0
        for attempt in range(first, first + 5):
            name = channel_name(incident, tz, attempt)
            self.desk.store.note_tries(incident.id, {"channel": readback.tried(name)}, self.desk.now())
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
            return self._note_channel(incident, response["channel"])
        result.failed.append("channel")
        return incident

    def _find_channel(self, incident: Incident, tried: str) -> dict[str, dict]:
        name = readback.tried_name(tried)
        taken = lambda channel: self.desk.store.incident_by_channel(channel) is not None  # noqa: E731
        channel = readback.find_channel(self.client, name, incident.private, taken) if name else None
        return {"channel": channel} if channel else {}

    def _note_channel(self, incident: Incident, channel: dict) -> Incident:
        now = self.desk.now()
        with self.desk.store.transaction():
            self.desk.store.record_deliveries(incident.id, {"channel": channel["id"]}, now)
            return facts.record(self.desk, incident, facts.RoomCreated(channel["id"], channel["name"]))

    def _room_steps(self, incident: Incident) -> list[Step]:
        """The header, the room's topic and members, and the DMs: all need only the channel id."""
        channel, say, client = incident.channel_id, self.say, self.client
        people = _people_by_role(seats(self.desk, incident))
        level = incident.level
        steps = [
            # The header's text pages the owners (mentions there notify), so no separate paging message for them.
            Step(
                "header",
                lambda: client.chat_postMessage(
                    channel=channel,
                    blocks=self._blocks.pop("header", None)
                    or render.blocks(cards.header_card(self.desk, incident, say)),
                    text=say("header.paging", code=incident.code, title=incident.title, people=_mentions(people, say))
                    if people
                    else say("header.fallback", code=incident.code, title=incident.title),
                    metadata=readback.tag(incident.code, "header"),
                )["ts"],
                look="channel",
                then=lambda ts: self.desk.store.record_deliveries(
                    incident.id, {f"mention:{level}": ts}, self.desk.now()
                ),
            ),
            Step(
                f"topic:{level}",
                lambda: _ok(
                    client.conversations_setTopic(
                        channel=channel,
                        topic=fit(
                            say("channel.topic", code=incident.code, title=incident.title, level=level), MAX_TOPIC
                        ),
                    )
                ),
            ),
            Step(f"invite:{level}", lambda: self._invite(incident, people)),
        ]
        for user, roles in people.items():
            steps.append(
                Step(
                    f"dm:{user}",
                    lambda user=user, roles=roles: self._dm(incident, user, roles),
                    look=f"dm:{user}",
                    then=lambda ref, user=user, roles=roles: self._pinged(incident, user, roles, ref),
                )
            )
        return steps

    def _unreachable(self, todo: list[Step], refs: dict[str, str]) -> dict[str, str]:
        """Refused DMs to people this run's invite could not add either: the channel notice names them, and
        retrying the DM would not help (Slack does not know the account, or it is deactivated)."""
        refused = [s.name for s in todo if s.name not in refs and s.name.startswith("dm:")]
        return {name: UNREACHABLE for name in refused if name.removeprefix("dm:") in self._uninvited}

    def _pinged(self, incident: Incident, user: str, roles: list[str], ref: str) -> None:
        if ref != UNREACHABLE:
            facts.record(self.desk, incident, facts.PersonPaged(user, roles))

    def _content_steps(self, incident: Incident) -> list[Step]:
        """Pin the header, page newly added people in the channel, post the drafts."""
        channel, say, client = incident.channel_id, self.say, self.client
        header_ts = self.desk.store.delivery(f"{incident.id}:header")
        people = self._paging  # page in the channel whoever this run DMs for the first time
        steps: list[Step] = []
        if header_ts:
            steps.append(Step("pin", lambda: self._pin(str(channel), header_ts)))
        if people and header_ts:  # the header's own text pages whoever it was posted for; see its `then`
            name = f"mention:{incident.level}"
            steps.append(
                Step(
                    name,
                    lambda: client.chat_postMessage(
                        channel=channel,
                        text=say("channel.paged", people=_mentions(people, say)),
                        metadata=readback.tag(incident.code, name),
                    )["ts"],
                    look="channel",
                )
            )
        failed = _failed_invites(self.desk.store.delivery(f"{incident.id}:invite:{incident.level}"))
        if failed:
            roles_of = _people_by_role(seats(self.desk, incident))
            name = f"uninvited:{incident.level}"
            steps.append(
                Step(
                    name,
                    lambda: client.chat_postMessage(
                        channel=channel,
                        text=uninvited_text(failed, roles_of, say),
                        metadata=readback.tag(incident.code, name),
                    )["ts"],
                    look="channel",
                )
            )
        for draft in self.desk.store.drafts(incident.id):
            steps.append(
                Step(
                    f"draft:{draft.id}",
                    lambda draft=draft: self._draft(incident, draft),
                    look="channel",
                    then=lambda ts, draft=draft: self.desk.store.update_draft(draft.id, message_ts=ts),
                )
            )
        return steps

    def _prebuild(self, incident: Incident) -> dict[str, list[dict]]:
        blocks = {"header": render.blocks(cards.header_card(self.desk, incident, self.say))}
        for draft in self.desk.store.drafts(incident.id):
            blocks[f"draft:{draft.id}"] = render.blocks(cards.draft_card(self.desk, incident, draft, self.say))
        return blocks

    def _unpaged(self, incident: Incident) -> dict[str, list[str]]:
        """Owners of the level's roles who have not had their DM yet (all of them at declare)."""
        done = self.desk.store.deliveries(incident.id)
        people = _people_by_role(seats(self.desk, incident))
        return {u: roles for u, roles in people.items() if f"{incident.id}:dm:{u}" not in done}

    def _invite(self, incident: Incident, people: dict[str, list[str]]) -> str:
        """Everyone Slack will add is brought in; the ref keeps who could not be, for the notice after the header."""
        users = [u for u in dict.fromkeys([incident.declared_by, *people]) if u]
        failed = invite_people(self.client, str(incident.channel_id), users)
        if failed:
            log.warning("declare %s: Slack would not add %s", incident.code, failed)
        self._uninvited.update(failed)
        return json.dumps({"invited": [u for u in users if u not in failed], "failed": failed})

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
            blocks=render.blocks(
                cards.role_dm_card(self.desk, incident, user, roles, self.say, channel_url(incident.channel_id))
            ),
            metadata=readback.tag(incident.code, f"dm:{user}"),
        )
        return f"{response['channel']}:{response['ts']}"

    def _draft(self, incident: Incident, draft) -> str:
        return self.client.chat_postMessage(
            channel=incident.channel_id,
            blocks=self._blocks.pop(f"draft:{draft.id}", None)
            or render.blocks(cards.draft_card(self.desk, incident, draft, self.say)),
            text=self.say("draft.fallback", network=self.say.network(draft.network)),
            metadata=readback.tag(incident.code, f"draft:{draft.id}"),
        )["ts"]

    def _do(self, incident: Incident, step: Step) -> str | None:
        return _ask(incident, lambda: str(step.call()), step.name)


def _ask(incident: Incident, call: Callable[[], Any], step: str = "read back") -> Any:
    """The call's answer, or None when Slack refused or could not be reached after the retry handlers gave up."""
    try:
        return call()
    except SlackApiError as exc:
        log.warning("declare %s: step %s failed: %s", incident.code, step, exc.response.get("error"))
    except OSError as exc:  # connection refused, timeout after the retry handlers gave up
        log.warning("declare %s: step %s failed: %s", incident.code, step, type(exc).__name__)
    return None


def _find_dm(client: WebClient, user: str, code: str, step: str) -> dict[str, str]:
    ref = readback.find_dm(client, user, code, step)
    return {step: ref} if ref else {}


UNREACHABLE = "unreachable"  # the ref of a DM Slack refused to someone it would not add to the channel either


def _failed_invites(ref: str | None) -> dict[str, str]:
    """Who an invite step could not bring in (its ref); an older ref, a plain list of ids, means nobody."""
    try:
        failed = json.loads(ref or "{}").get("failed", {}) if (ref or "").startswith("{") else {}
    except ValueError:
        return {}
    return {str(u): str(why) for u, why in failed.items()} if isinstance(failed, dict) else {}


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

"""Make an incident real on the chat platform: room, topic, invites, pinned header, pings, DMs and drafts.

The declare plan, written against the port (bot/chat/port.py) and run by the step runner (bot/chat/steps.py):
each step is recorded in the store's `deliveries` once the platform accepted it, so a run that failed midway
is completed by running it again, and nothing is created twice. Independent calls go out in parallel: the
floor is three sequential round trips (create the room → everything that needs its ref → pin the header,
which needs the header's ref), two where the room is made with its first post (`OpensWithPost`: a Teams
thread's root is the header, and the rest follows in one round).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from markupsafe import Markup

from bot.chat.cards import draft_card, header_card, role_dm_card
from bot.chat.drillmark import marked
from bot.chat.message import Message
from bot.chat.port import ALREADY_PINNED, NAME_TAKEN, OpensWithPost, Port, Prepares, Refused, Room, Tag
from bot.chat.steps import Finder, Runner, Step, StepKey, one_run_at_a_time, pool, tried_name, why
from bot.chat.wording import Wording
from bot.incidents import facts
from bot.incidents.desk import Desk
from bot.incidents.drills.schedule import SYSTEM
from bot.incidents.roles import RoleSeat, seats
from bot.models import Ack, Draft, Incident

log = logging.getLogger("crisisbot.chat")
MAX_NAME = 80
MAX_TOPIC = 250  # Slack's conversations.setTopic answers too_long past it
CHANNEL = StepKey("channel")
HEADER = StepKey("header")
PIN = StepKey("pin")
UNREACHABLE = "unreachable"  # the ref of a DM the platform refused to someone it would not add to the room either
UNINVITED_REASONS = ("user_not_found", "cant_invite", "user_is_restricted")  # each has its own plain words


def channel_name(incident: Incident, tz: ZoneInfo, attempt: int = 0, limit: int = MAX_NAME) -> str:
    """`crisis-<yyyymmdd>-<scenario>` (drills `drill-…`): a valid Slack name and Teams channel name (lowercase
    letters, digits, `-` and `_`, at most `limit` characters, the suffix kept whole), made unique on a clash.

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
    return base[: limit - len(suffix)].rstrip("-") + suffix


def uninvited_text(failed: dict[str, str], roles_of: dict[str, list[str]], say: Wording) -> str:
    """Who could not be brought into the room, why in plain words, and how to give their role to someone else."""
    lines = [say("uninvited.heading")]
    for user, reason in failed.items():
        roles = roles_of.get(user, [])
        lines.append(
            say(
                "uninvited.line",
                user=say.mention(user),
                roles=", ".join(say.role(r) for r in roles),
                reason=say(f"uninvited.reason.{reason}" if reason in UNINVITED_REASONS else "uninvited.reason.other"),
                fix=Markup(" · ".join(say.dialect.code(f"/crisis roles set {r} @person") for r in roles)),
            )
        )
    return "\n".join(lines)


@dataclass
class Provisioned:
    incident: Incident
    failed: list[StepKey] = field(default_factory=list)  # steps the platform refused, to tell the declarer
    done: list[StepKey] = field(default_factory=list)  # steps this run did or found done by a run that died
    confirmed: bool = False  # the declarer was told "declared" during the last round (see SetUp.run)
    notices: list[str] = field(default_factory=list)  # UI keys to tell the declarer (Room.notice)

    @property
    def complete(self) -> bool:
        return not self.failed


class SetUp:
    """The declare plan for one incident, on one platform; `run` does what is missing (also after an escalation:
    new people, new drafts)."""

    def __init__(self, desk: Desk, port: Port, say: Wording) -> None:
        self.desk, self.port, self.say = desk, port, say
        self._paging: dict[str, list[str]] = {}
        self._uninvited: dict[str, str] = {}  # who this run's invite could not bring in, and why
        self._messages: dict[StepKey, Message] = {}  # built while the platform makes the room; see _prebuild
        self._dms: dict[str, tuple[Incident, list[str], dict[str, Ack], Message]] = {}  # … and the DMs; see _dm
        self._seats: list[RoleSeat] | None = None  # the role seats this run's room steps are drawn from

    def run(self, incident: Incident, confirm: Callable[[Incident], bool] | None = None) -> Provisioned:
        """Do every step not yet done for `incident`; report the ones the platform refused.

        `confirm` (tell the declarer it is declared; True once told) goes out in the last round, alongside the
        pin and the drafts, when every step before succeeded: the declarer then waits no round trip of its own
        after the set-up. A step of that round that fails is named to them afterwards (result.failed).
        """
        with one_run_at_a_time(incident.id):
            return self._run(self.desk.store.incident(incident.id) or incident, confirm)

    def _run(self, incident: Incident, confirm: Callable[[Incident], bool] | None = None) -> Provisioned:
        result = Provisioned(incident)
        runner = Runner(self.desk.store, incident.id, self.desk.now, f"declare {incident.code}")
        if incident.room_ref is None:
            incident = self._room(incident, runner, result)
        if incident.room_ref is None:
            return result
        result.incident = incident
        self._seats = seats(self.desk, incident)  # read once after the room is made: paging and the DMs use it
        self._paging = self._unpaged_in(self._seats, runner)
        tried: set[StepKey] = set()
        plan = self._plan(runner)
        for n, round_steps in enumerate(plan):
            last = n == len(plan) - 1
            alongside = functools.partial(confirm, incident) if confirm and last and result.complete else None
            self._round(runner, round_steps(incident, runner), result, tried, alongside)
        # A step only this run's calls made possible (the notice naming whom the invite could not add, when the
        # invite went in the same round as the content): in a round of its own, never a retry of a refused one.
        self._round(runner, self._content_steps(incident, runner), result, tried)
        if result.complete and incident.setup_done_at is None:
            # from now on an identical declare after the first minute makes a new incident, not a resume
            result.incident = facts.record(self.desk, incident, facts.SetupDone())
        return result

    def _plan(self, runner: Runner) -> list[Callable[[Incident, Runner], list[Step]]]:
        """The rounds after the room's. Round 2 puts the header first in the room; round 3 needs its ref (pin) or
        follows it (drafts). Where the room came with the header and needs no invite before a mention
        (OpensWithPost), both are one round."""
        if isinstance(self.port, OpensWithPost) and HEADER in runner.done():
            return [lambda incident, run: [*self._room_steps(incident, run), *self._content_steps(incident, run)]]
        return [self._room_steps, self._content_steps]

    def _round(
        self,
        runner: Runner,
        planned: list[Step],
        result: Provisioned,
        tried: set[StepKey],
        alongside: Callable[[], bool] | None = None,
    ) -> None:
        """Run the planned steps not done yet and not tried by this run; note what they did in `result`."""
        done = runner.done()
        steps = [s for s in planned if s.key not in done and s.key not in tried]
        if not steps and alongside is None:
            return
        tried.update(s.key for s in steps)
        outcome = runner.round(steps, alongside)
        result.done += [s.key for s in steps if s.key in outcome.refs]
        result.failed += outcome.failed
        if alongside is not None:
            result.confirmed = outcome.alongside

    # ---- round 1: the room ----------------------------------------------------------------------------
    def _room(self, incident: Incident, runner: Runner, result: Provisioned) -> Incident:
        """Make the room (with the header, where the platform makes both in one call). The header and drafts do not
        need the room: what is not sent with it is built while the platform makes the room, so the next rounds'
        calls go out without that CPU time between them — on another thread at once, or, where the room comes
        with the header, on this thread once its request has left (`meanwhile`: started at once, the drawing would
        hold the interpreter while the request is still being written)."""
        if not isinstance(self.port, OpensWithPost):
            prebuilt = pool().submit(self._prebuild, incident)
            incident = self._make_room(incident, runner, result, None)
            self._messages = prebuilt.result()
            return incident
        self._messages, self._dms = {}, {}

        def draw(provisional: str) -> None:
            try:
                self._messages.update(self._prebuild(incident, header=False))
                self._dms = self._prebuild_dms(incident.model_copy(update={"room_ref": provisional}), runner)
            except Exception:  # the steps draw what is missing themselves; the room's answer must not be lost
                log.exception("declare %s: drawing the drafts ahead failed", incident.code)

        return self._make_room(incident, runner, result, self._header_message(incident), draw)

    def _make_room(
        self,
        incident: Incident,
        runner: Runner,
        result: Provisioned,
        first: Message | None,
        meanwhile: Callable[[str], None] | None = None,
    ) -> Incident:
        note = runner.is_tried(CHANNEL)
        if note:  # a run that died after asking for the room: the platform may have made it
            try:
                found = self._find_room(incident, tried_name(note))
            except (Refused, OSError) as exc:
                log.warning("declare %s: step read back failed: %s", incident.code, why(exc))
                result.failed.append(CHANNEL)
                return incident
            if found:
                return self._note_room(incident, runner, found)
        # A name one of our incidents has is taken for sure: start at the clash name (the incident's number)
        # instead of paying a name_taken round trip. name_taken stays the fallback for names others made.
        tz, limit = self.desk.settings.tz, self.port.room_name_limit
        clash = 1 if self.desk.store.room_name_used(channel_name(incident, tz, 0, limit)) else 0
        for attempt in range(clash, clash + 5):
            name = channel_name(incident, tz, attempt, limit)
            runner.note_tried([CHANNEL] if first is None else [CHANNEL, HEADER], name)
            try:
                if first is not None and isinstance(self.port, OpensWithPost):
                    ahead, meanwhile = meanwhile, None  # once: a next name's try finds the drafts drawn
                    try:
                        room, header_ref = self.port.open_room(
                            name, incident.private, first, self._header_tag(incident), ahead
                        )
                    except BaseException:
                        self._dms = {}  # drawn for a room that was not made: their links name no room
                        raise
                    result.notices += [room.notice] if room.notice else []
                    return self._note_room(incident, runner, room, header_ref)
                room = self.port.create_room(name, incident.private)
            except Refused as exc:
                if exc.reason == NAME_TAKEN:
                    continue
                log.warning("declare %s: %s", incident.code, exc)
                result.failed.append(CHANNEL)
                return incident
            except OSError as exc:
                log.warning("declare %s: create_room: %s", incident.code, type(exc).__name__)
                result.failed.append(CHANNEL)
                return incident
            if room.notice:
                result.notices.append(room.notice)
            return self._note_room(incident, runner, room)
        result.failed.append(CHANNEL)
        return incident

    def _find_room(self, incident: Incident, name: str) -> Room | None:
        taken = lambda ref: self.desk.store.incident_by_room(ref) is not None  # noqa: E731
        return self.port.find_room(name, incident.private, taken) if name else None

    def _note_room(self, incident: Incident, runner: Runner, room: Room, header_ref: str | None = None) -> Incident:
        """The room (and the header it was made with: its text paged the owners) recorded, in one transaction."""
        refs = {CHANNEL: room.ref}
        if header_ref is not None:
            refs |= {HEADER: header_ref, StepKey("mention", str(incident.level)): header_ref}
        with self.desk.store.transaction():
            runner.record(refs)
            return facts.record(self.desk, incident, facts.RoomCreated(room.ref, room.name))

    # ---- round 2: header, topic, invites, DMs ---------------------------------------------------------
    def _room_steps(self, incident: Incident, runner: Runner) -> list[Step]:
        """The header, the room's topic and members, and the DMs: all need only the room's ref."""
        room, say, port = str(incident.room_ref), self.say, self.port
        role_seats, self._seats = self._seats or seats(self.desk, incident), None
        people = _people_by_role(role_seats)
        acks = {s.role: s.ack for s in role_seats if s.ack is not None}  # read once for every DM of the round
        level = str(incident.level)
        topic = say("channel.topic", code=incident.code, title=incident.title, level=incident.level)
        steps = [
            Step(
                HEADER,
                functools.partial(self._header, incident, people),
                look=self._in_room(incident),
                place="room",
                then=lambda ref: runner.record({StepKey("mention", level): ref}),
            ),
            Step(StepKey("topic", level), functools.partial(self._topic, room, port.dialect.fit(topic, MAX_TOPIC))),
            Step(StepKey("invite", level), lambda: self._invite(incident, people)),
        ]
        for user, roles in people.items():
            steps.append(
                Step(
                    StepKey("dm", user),
                    functools.partial(self._dm, incident, user, roles, acks),
                    look=self._in_dm(incident, user),
                    place=f"dm:{user}",
                    then=functools.partial(self._pinged, incident, user, roles),
                    # a refused DM to someone this run's invite could not add either: the room's notice names
                    # them, and retrying the DM would not help (the platform does not know the account)
                    refused=functools.partial(self._unreachable, user),
                )
            )
        return steps

    def _header(self, incident: Incident, people: dict[str, list[str]]) -> str:
        header = self._header_message(incident, people, self._messages.pop(HEADER, None))
        return self.port.post(str(incident.room_ref), header, self._header_tag(incident))

    def _header_message(
        self, incident: Incident, people: dict[str, list[str]] | None = None, built: Message | None = None
    ) -> Message:
        """The header, its text paging the owners of the level's roles (mentions there notify: no separate
        paging message)."""
        header = built or header_card(self.desk, incident, self.say)
        people = _people_by_role(seats(self.desk, incident)) if people is None else people
        if people:
            say = self.say
            text = say("header.paging", code=incident.code, title=incident.title, people=_mentions(people, say))
            header = marked(dataclasses.replace(header, text=text), incident, say)
        return header

    @staticmethod
    def _header_tag(incident: Incident) -> Tag:
        return Tag(incident.code, str(HEADER))

    def _unreachable(self, user: str) -> str | None:
        return UNREACHABLE if user in self._uninvited else None

    def _pinged(self, incident: Incident, user: str, roles: list[str], ref: str) -> None:
        if ref != UNREACHABLE:
            facts.record(self.desk, incident, facts.PersonPaged(user, roles))

    # ---- round 3: pin, paging, drafts -----------------------------------------------------------------
    def _content_steps(self, incident: Incident, runner: Runner) -> list[Step]:
        """Pin the header, page newly added people in the room, post the drafts."""
        room, say, port, code = str(incident.room_ref), self.say, self.port, incident.code
        header_ref = runner.ref(HEADER)
        people = self._paging  # page in the room whoever this run DMs for the first time
        look = self._in_room(incident)
        steps: list[Step] = []
        if header_ref:
            steps.append(Step(PIN, lambda: self._pin(room, header_ref)))
        if people and header_ref:  # the header's own text pages whoever it was posted for; see its `then`
            paged = marked(Message(say("channel.paged", people=_mentions(people, say))), incident, say)
            mention = StepKey("mention", str(incident.level))
            steps.append(Step(mention, lambda: port.post(room, paged, Tag(code, str(mention))), look, "room"))
        failed = _failed_invites(runner.ref(StepKey("invite", str(incident.level))))
        if failed:
            roles_of = _people_by_role(seats(self.desk, incident))
            notice = marked(Message(uninvited_text(failed, roles_of, say)), incident, say)
            uninvited = StepKey("uninvited", str(incident.level))
            steps.append(Step(uninvited, lambda: port.post(room, notice, Tag(code, str(uninvited))), look, "room"))
        for draft in self.desk.store.drafts(incident.id):
            steps.append(
                Step(
                    StepKey("draft", str(draft.id)),
                    functools.partial(self._draft, incident, draft),
                    look,
                    "room",
                    then=functools.partial(self._posted_draft, draft.id),
                )
            )
        return steps

    # ---- what the steps do ----------------------------------------------------------------------------
    def _prebuild(self, incident: Incident, header: bool = True) -> dict[StepKey, Message]:
        messages = {HEADER: header_card(self.desk, incident, self.say)} if header else {}
        for draft in self.desk.store.drafts(incident.id):
            card = messages[StepKey("draft", str(draft.id))] = draft_card(self.desk, incident, draft, self.say)
            if isinstance(self.port, Prepares):  # drawn in the platform's form too, while it makes the room
                self.port.prepare(card)
        return messages

    def _prebuild_dms(
        self, incident: Incident, runner: Runner
    ) -> dict[str, tuple[Incident, list[str], dict[str, Ack], Message]]:
        """The DMs of round 2, drawn (and prepared) for the room the platform is making (`incident.room_ref`: the
        ref it will have); each kept with what it was drawn from, so `_dm` sends it only if nothing changed."""
        if not isinstance(self.port, Prepares):
            return {}
        role_seats = seats(self.desk, incident)
        acks = {s.role: s.ack for s in role_seats if s.ack is not None}
        url = self.port.dialect.room_url(incident.room_ref)
        drawn: dict[str, tuple[Incident, list[str], dict[str, Ack], Message]] = {}
        for user, roles in self._unpaged_in(role_seats, runner).items():
            card = role_dm_card(self.desk, incident, user, roles, self.say, url, acks)
            self.port.prepare(card)
            drawn[user] = (_unroomed(incident), roles, acks, card)
        return drawn

    @staticmethod
    def _unpaged_in(role_seats: list[RoleSeat], runner: Runner) -> dict[str, list[str]]:
        """Owners of the level's roles who have not had their DM yet (all of them at declare)."""
        done = runner.done()
        return {u: roles for u, roles in _people_by_role(role_seats).items() if StepKey("dm", u) not in done}

    def _invite(self, incident: Incident, people: dict[str, list[str]]) -> str:
        """Everyone the platform will add is brought in; the ref keeps who could not be, for the notice after the
        header."""
        users = [u for u in dict.fromkeys([incident.declared_by, *people]) if u and u != SYSTEM]  # SYSTEM: no person
        failed = self.port.invite(str(incident.room_ref), users)
        if failed:
            log.warning("declare %s: the platform would not add %s", incident.code, failed)
        self._uninvited.update(failed)
        return json.dumps({"invited": [u for u in users if u not in failed], "failed": failed})

    def _topic(self, room: str, text: str) -> str:
        self.port.set_topic(room, text)
        return "ok"

    def _posted_draft(self, draft_id: int, ref: str) -> None:
        self.desk.store.update_draft(draft_id, message_ref=ref)

    def _pin(self, room: str, ref: str) -> str:
        try:
            self.port.pin(room, ref)
        except Refused as exc:
            if exc.reason != ALREADY_PINNED:  # pinned by a run that died before noting it
                raise
        return "ok"

    def _dm(self, incident: Incident, user: str, roles: list[str], acks: dict[str, Ack] | None = None) -> str:
        drawn = self._dms.pop(user, None)
        if drawn is not None and drawn[:3] == (_unroomed(incident), roles, acks):  # drawn ahead from the same facts
            card = drawn[3]
        else:
            url = self.port.dialect.room_url(incident.room_ref)
            card = role_dm_card(self.desk, incident, user, roles, self.say, url, acks)
        return self.port.dm(user, card, Tag(incident.code, f"dm:{user}"))

    def _draft(self, incident: Incident, draft: Draft) -> str:
        key = StepKey("draft", str(draft.id))
        card = self._messages.pop(key, None) or draft_card(self.desk, incident, draft, self.say)
        return self.port.post(str(incident.room_ref), card, Tag(incident.code, str(key)))

    # ---- where a run that died may have left a step ---------------------------------------------------
    def _in_room(self, incident: Incident) -> Finder:
        """One history read for all of a round's messages in the room."""

        def find(keys: set[StepKey]) -> dict[StepKey, str]:
            refs = self.port.find_posts(str(incident.room_ref), incident.code, {str(k) for k in keys})
            return {k: refs[str(k)] for k in keys if str(k) in refs}

        return find

    def _in_dm(self, incident: Incident, user: str) -> Finder:
        def find(keys: set[StepKey]) -> dict[StepKey, str]:
            refs = {k: self.port.find_dm(user, incident.code, str(k)) for k in keys}
            return {k: ref for k, ref in refs.items() if ref}

        return find


def _unroomed(incident: Incident) -> Incident:
    """The incident but for its room: what a DM drawn while the room was being made is compared by."""
    return incident.model_copy(update={"room_ref": None, "room_name": None})


def _failed_invites(ref: str | None) -> dict[str, str]:
    """Who an invite step could not bring in (its ref); an older ref, a plain list of ids, means nobody."""
    try:
        failed = json.loads(ref or "{}").get("failed", {}) if (ref or "").startswith("{") else {}
    except ValueError:
        return {}
    return {str(u): str(reason) for u, reason in failed.items()} if isinstance(failed, dict) else {}


def _people_by_role(role_seats: list[RoleSeat]) -> dict[str, list[str]]:
    people: dict[str, list[str]] = {}
    for seat in role_seats:
        if seat.owner:
            people.setdefault(seat.owner, []).append(seat.role)
    return people


def _mentions(people: dict[str, list[str]], say: Wording) -> Markup:
    # Built from user ids we validated and our own role names: safe to pass through unescaped.
    # (Markup.join would HTML-escape plain str parts; the platform needs them as they are.)
    return Markup(
        ", ".join(f"{say.mention(user)} ({', '.join(say.role(r) for r in roles)})" for user, roles in people.items())
    )

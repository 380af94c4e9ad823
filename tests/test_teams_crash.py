"""kill -9 of the real `crisisbot serve --platform teams` process during a declare and after an invoke's answer, a
restart, and the same command (or click) again: the end compared with a clean run, and what Teams lets the bot
recover, exactly.

Teams gives a bot no conversation history, so the read-back is the sent ledger (bot/teams/refs.py): each tagged
message is noted in `platform_refs` right after Teams accepted it. The crash points (bot/faults.py) name the
moments around that write: `teams_noted:<n>` dies right after the n-th note, `teams_accepted:<n>` after Teams
accepted the n-th tagged message and before it was noted, `invoke_answered@1` a second after an invoke's answer
went out (the rest of its work not done).

- Covered: a kill after a note (any step of the declare): the re-run finds every noted message and sends only
  what is missing; Teams and the database end as a clean run (`test_declare_survives_a_kill_9_after_a_note`).
- Not covered, and shown as such: a kill between Teams' answer and the note. The re-run cannot know the message
  exists and sends it once more: the end is a clean run plus exactly that one message twice
  (`test_a_kill_between_teams_answer_and_the_note_sends_that_message_once_more`).
- An invoke killed after its answer: the verb's write happened before the answer (the clicker saw it), the
  redraw for everyone else did not; Teams never sends the invoke again. The next redraw (the second approval)
  shows the current state, and the end equals a clean run (`test_an_approval_killed_after_its_answer`).

The clock runs at real speed; the clean reference is the same flow in-process (tests/teams_harness.py), compared
without ids and times. Default mode runs one kill (two `serve` runs); the rest are `slow` (--full).
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from bot.sandbox.teams import TeamsEmulator
from bot.store import Store
from tests.teams_suites import (
    DECLARE,
    OWNERS,
    TeamsServeProcess,
    approve_x,
    assert_no_leak,
    fresh_teams,
    read,
    serve_teams,
    shown,
    staff,
    teams_people,
)

SECRETS = ("sandbox-teams-secret",)  # the emulator's client secret (APP_SECRET), set in the process's env


# ---- the state a run leaves, without ids and times ---------------------------------------------------------------
def first_line(activity: dict[str, Any]) -> str:
    return re.sub(r"\d", "#", shown(activity).split("\n")[0])[:80]


def state(emu: TeamsEmulator, db: Path, people: dict[str, Any]) -> dict[str, Any]:
    """What a declare (and approval) leaves in Teams and the database: kinds of messages, counts, steps."""
    name = {p.aad_id: n for n, p in people.items()}
    store = Store(db)
    try:
        [incident] = store.incidents()
        room = incident.room_ref or ""
        drafts = store.drafts(incident.id)
        chats = {
            who: len(
                [
                    a
                    for a in bot_messages_of(emu, p.chat_id)
                    if incident.code in shown(a) and not shown(a).startswith("⚠️")
                ]
            )
            for who, p in people.items()
            if emu.tenant.personal.get(p.id)
        }
        return {
            "threads": len([a for a in emu.activities(emu.crisis_channel) if a["from"]["id"] == emu.bot_id]),
            "thread": Counter(first_line(a) for a in bot_messages_of(emu, room) if not a.get("replyToId")),
            "chats": {who: n for who, n in chats.items() if n},
            "events": Counter(
                (e.kind, name.get(e.actor, e.actor))
                for e in store.events(incident.id)
                if e.kind not in ("setup_failed", "closing_failed")
            ),
            "deliveries": sorted(_named(k, name) for k in store.deliveries(incident.id)),
            "drafts": [(d.network, d.status, d.version, bool(d.message_ref)) for d in drafts],
            "approvals": sorted((d.network, name[a.approver], a.role) for d in drafts for a in store.approvals(d.id)),
            "ledger": sorted(_named(k, name) for k in store.platform_refs("teams", "sent:")),
            "setup done": incident.setup_done_at is not None,
        }
    finally:
        getattr(store, "close_all", store.close)()


def _named(key: str, name: dict[str, str]) -> str:
    for aad, who in name.items():
        key = key.replace(aad, who)
    return key


def bot_messages_of(emu: TeamsEmulator, conversation: str) -> list[dict[str, Any]]:
    return [a for a in emu.activities(conversation) if a.get("from", {}).get("id") == emu.bot_id]


@pytest.fixture(scope="module")
def clean() -> dict[str, Any]:
    """The state the same declare, then the approval of the X draft, leave when nothing crashes (in-process)."""
    with fresh_teams() as local:
        incident = local.declare(DECLARE)
        db = Path(local.desk.settings.db_path)
        declared = state(local.emulator, db, local.people)
        approve_x(local, incident)
        local.settle()
        return {"declare": declared, "approve": state(local.emulator, db, local.people)}


# ---- the real process ---------------------------------------------------------------------------------------------
class World:
    def __init__(self, tmp: Path) -> None:
        self.emu = TeamsEmulator().start()
        self.people = teams_people(self.emu)
        self.db = tmp / "crisis.db"
        staff(self.db, self.people)
        self.outputs: list[str] = []
        self.installed = False

    def serve(self, crash_at: str | None = None) -> TeamsServeProcess:
        bot = serve_teams(self.emu, self.db, crash_at=crash_at)
        if not self.installed:
            self.emu.install()
            self.installed = True
        return bot

    def ready(self) -> bool:
        return read(self.db, lambda s: bool(s.incidents()) and s.incidents()[0].setup_done_at is not None)

    def declare(self, bot: TeamsServeProcess) -> None:
        """bram types the declare in the crisis channel; returns once it is set up, or once the process is gone."""
        self.people["bram"].say(DECLARE, self.emu.crisis_channel)
        self.emu.wait_for(lambda: bot.died() or self.ready(), timeout=20)

    def done(self, bot: TeamsServeProcess) -> None:
        bot.stop()
        self.outputs.append(bot.output())

    def tagged_messages(self) -> int:
        """The declare's tagged messages Teams has: the thread's posts and the DMs about the incident."""
        code = read(self.db, lambda s: s.incidents()[0].code)
        room = read(self.db, lambda s: s.incidents()[0].room_ref) or ""
        posts = [a for a in bot_messages_of(self.emu, room) if not a.get("replyToId")]
        dms = [
            a
            for p in self.people.values()
            if self.emu.tenant.personal.get(p.id)
            for a in bot_messages_of(self.emu, p.chat_id)
            if code in shown(a)
        ]
        return len(posts) + len(dms)

    def state(self) -> dict[str, Any]:
        return state(self.emu, self.db, self.people)

    def approvals(self) -> int:
        return read(self.db, lambda s: sum(len(s.approvals(d.id)) for d in s.drafts(s.incidents()[0].id)))

    def click_approve(self, who: str) -> Any:
        x = read(self.db, lambda s: next(d for d in s.drafts(s.incidents()[0].id) if d.network == "x"))
        return self.people[who].invoke_action(str(x.message_ref), "draft_approve")

    def assert_quiet_logs(self) -> None:
        for output in self.outputs:
            assert "Traceback" not in output, output[-2000:]
            assert not [s for s in SECRETS if s in output], "a secret reached the log"

    def stop(self) -> None:
        self.emu.stop()


@pytest.fixture
def world(tmp_path: Path) -> Any:
    w = World(tmp_path)
    try:
        yield w
    finally:
        w.stop()


def crash_then_rerun(world: World, crash_at: str) -> int:
    """The declare killed at `crash_at`; restarted without a crash point, the same declare again. Returns how
    many tagged messages Teams had accepted at the kill that the ledger did not note (in flight: the DMs and the
    drafts go out concurrently, so a kill right after one note can catch another message between Teams' answer
    and its note)."""
    bot = world.serve(crash_at)
    try:
        world.declare(bot)
        assert bot.wait_exit(15) == 137, "the process did not die at the crash point"
    finally:
        world.done(bot)
    noted = read(world.db, lambda s: s.platform_refs("teams", "sent:"))
    unnoted = world.tagged_messages() - len(noted)
    bot = world.serve()
    try:
        world.declare(bot)  # the same command again: reads the ledger back, does the rest
        assert world.ready(), "the repeated declare did not complete the set-up"
    finally:
        world.done(bot)
    after = read(world.db, lambda s: s.platform_refs("teams", "sent:"))
    assert {k: after[k] for k in noted} == noted, "a noted message was sent again"
    return unnoted


def extra_copies(after: dict[str, Any], expected: dict[str, Any]) -> int:
    """How many more messages than a clean run left (and that none is missing, and nothing else differs)."""
    differs = {k for k, v in after.items() if v != expected[k]}
    assert differs <= {"thread", "chats"}, differs
    assert not expected["thread"] - after["thread"], "a message in the thread is missing"
    assert all(after["chats"].get(w, 0) >= n for w, n in expected["chats"].items()), "a DM is missing"
    return (after["thread"] - expected["thread"]).total() + sum(
        after["chats"].get(w, 0) - n for w, n in expected["chats"].items()
    )


# CI: a kill amid the DMs (the fourth note); --full: after the first note, after the header, after the last draft
@pytest.mark.parametrize(
    "nth", [4, *(pytest.param(n, marks=pytest.mark.slow) for n in (1, 2, 9))], ids=lambda n: f"after-note-{n}"
)
def test_declare_survives_a_kill_9_after_a_note(world: World, clean: dict[str, Any], nth: int) -> None:
    unnoted = crash_then_rerun(world, f"teams_noted:{nth}")
    # every noted message found, not sent again (crash_then_rerun checks the ledger); a message still in flight
    # at the kill (accepted, not yet noted) may be there twice, nothing is missing, the database as a clean run's
    assert extra_copies(world.state(), clean["declare"]) <= max(unnoted, 0) + len(OWNERS)
    world.assert_quiet_logs()


@pytest.mark.slow
@pytest.mark.parametrize("nth", [3], ids=lambda n: f"before-note-{n}")
def test_a_kill_between_teams_answer_and_the_note_sends_that_message_once_more(
    world: World, clean: dict[str, Any], nth: int
) -> None:
    """The window the ledger cannot cover: Teams has the n-th tagged message, the bot died before noting it. The
    re-run sends it again, once; everything else equals a clean run."""
    crash_then_rerun(world, f"teams_accepted:{nth}")
    assert extra_copies(world.state(), clean["declare"]) >= 1  # the one Teams took before the kill, twice
    world.assert_quiet_logs()


@pytest.mark.slow
def test_an_approval_killed_after_its_answer(world: World, clean: dict[str, Any]) -> None:
    """anna's Approve: the answer (her card, approved) went out, then the process died before the redraw for
    everyone else. Teams will not send the invoke again; the approval was written before the answer, so it is
    kept, and chen's approval after the restart redraws the card: the end equals a clean run."""
    bot = world.serve()
    try:
        world.declare(bot)
        assert world.ready()
    finally:
        world.done(bot)
    bot = world.serve("invoke_answered@1")
    try:
        answer = world.click_approve("anna")
        assert answer.status == 200 and answer.json and answer.json["type"].endswith("card.adaptive")
        assert bot.wait_exit(15) == 137, "the process did not die after the answer"
    finally:
        world.done(bot)
    assert world.approvals() == 1  # written before the answer: not lost
    bot = world.serve()
    try:
        world.click_approve("chen")
        world.emu.wait_for(lambda: world.state() == clean["approve"], timeout=10)
    finally:
        world.done(bot)
    assert world.state() == clean["approve"]
    for activity in bot_messages_of(world.emu, world.people["anna"].chat_id):
        assert_no_leak(shown(activity))
    world.assert_quiet_logs()

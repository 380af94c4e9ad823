"""kill -9 of the real `crisisbot serve` process after the n-th Web API call of a declare and its approval, then a
restart and the same command (or click) again: the incident is completed, nothing is lost, and nothing is
repeated except what Slack had already accepted when the process died.

`CRISISBOT_CRASH_AT=web_api_call:<n>` ends the process like kill -9 right after Slack answered its n-th call
(bot/faults.py), before the bot could note that answer. Whatever Slack accepted and the bot had not noted when
it died (its *window*: the call that triggered the crash, and any calls of the same parallel round still in
flight) cannot be known to the restarted bot without reading Slack back, so it is done once more; every test
computes that window from the emulator's record and the database the dead process left, and allows exactly
those repeats, no others. The clock runs at real speed (CRISISBOT_CLOCK_SPEED=1): no timer fires meanwhile.

Calls 1–14 are the declare (users.info for bram's language, then the channel, topic, invite, header, five DMs,
the pin and three drafts), 15–18 the approval of the X draft by anna and chen (users.info and chat.update each).
Default mode kills at every third call; `--full` at every one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import is_full

from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.process import ServeProcess, serve_against
from bot.sandbox.validate import validate_message_blocks
from bot.store import Store
from bot.workspace import BOT_TOKEN, CAST, SIGNING_SECRET

ID = {p.name: p.id for p in CAST}
OWNERS = ("anna", "bram", "chen", "dewi", "eli")
DECLARE = "declare data-breach 2 Customer emails exposed"
DECLARE_POINTS = 14  # crash points a declare passes (auth.test runs before our client is in place: not one)
APPROVE_POINTS = 4
SECRETS = ("xoxb-", "xapp-", SIGNING_SECRET)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "crash_at" in metafunc.fixturenames:
        last = DECLARE_POINTS + APPROVE_POINTS
        points = list(range(1, last + 1)) if is_full(metafunc.config) else [*range(1, last + 1, 3), last]
        metafunc.parametrize(
            "crash_at",
            points,
            ids=[f"kill-after-call-{n}-of-{'declare' if n <= DECLARE_POINTS else 'approve'}" for n in points],
        )


# ---- the real process ---------------------------------------------------------------------------------------
def read(db: Path, what: Any) -> Any:
    """Read the database the bot writes (a connection of our own, closed again)."""
    store = Store(db)
    try:
        return what(store)
    finally:
        getattr(store, "close_all", store.close)()


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    emulator = SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET).start()
    for person in CAST:
        emulator.add_user(person.id, person.name, real_name=person.real_name)
    yield emulator
    emulator.stop()


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A database whose roles all have owners (as `/crisis roles set` leaves it)."""
    path = tmp_path / "crisis.db"

    def staff(store: Store) -> None:
        for person in CAST:
            if person.role:
                store.set_role_owners(person.role, [person.id])

    read(path, staff)
    return path


# ---- driving it ---------------------------------------------------------------------------------------------------
def ready(db: Path) -> bool:
    return read(db, lambda s: bool(s.incidents()) and s.delivery(f"{s.incidents()[0].id}:ready") == "ok")


def declare(emu: SlackEmulator, db: Path, bot: ServeProcess) -> None:
    """bram types the declare; returns once it is set up, or once the process is gone."""
    emu.slash_command(ID["bram"], DECLARE)
    emu.wait_for(lambda: bot.died() or ready(db), timeout=15)


def approve_buttons(emu: SlackEmulator, db: Path) -> tuple[str, str, list[str]]:
    incident = read(db, lambda s: s.incidents()[0])
    x = read(db, lambda s: next(d for d in s.drafts(incident.id) if d.network == "x"))
    message = emu.message(incident.channel_id, x.message_ts)
    assert message is not None
    buttons = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return incident.channel_id, x.message_ts, buttons


def approve(emu: SlackEmulator, db: Path, bot: ServeProcess) -> None:
    """anna, then chen, click Approve on the X draft while they still see the button."""
    for who in ("anna", "chen"):
        channel, ts, buttons = approve_buttons(emu, db)
        if "draft_approve" not in buttons:
            continue
        calls = len(emu.calls)
        emu.click(ID[who], "draft_approve", channel_id=channel, ts=ts)
        # the click is answered at once; wait for its redraw (or for the process to die)
        emu.wait_for(
            lambda calls=calls: bot.died() or any(c.method == "chat.update" for c in emu.calls[calls:]), timeout=10
        )
        if bot.died():
            return


# ---- what Slack accepted and the bot had not noted --------------------------------------------------------------
def step_of(call: Any, channel: str | None) -> str | None:
    """The provisioning step a successful Web API call did (as named in the deliveries table), if any."""
    args = call.args
    if call.method == "conversations.create":
        return "channel"
    if call.method == "conversations.setTopic":
        return "topic:2"
    if call.method == "conversations.invite":
        return "invite:2"
    if call.method == "pins.add":
        return "pin"
    if call.method != "chat.postMessage":
        return None
    target = str(args.get("channel"))
    if re.fullmatch(r"U[A-Z0-9]+", target):
        return f"dm:{target}"
    if target != channel:
        return None
    blocks = args.get("blocks")
    blocks = blocks if isinstance(blocks, list) else []
    for block in blocks:
        found = re.fullmatch(r"draft-(\d+)", str(block.get("block_id", "")))
        if found:
            return f"draft:{found.group(1)}"
    if blocks and blocks[0].get("type") == "header":
        return "header"
    if str(args.get("text", "")).startswith("📟"):
        return "mention:2"
    return None


def window(emu: SlackEmulator, db: Path, since: int) -> set[str]:
    """Steps Slack accepted from the dead process that its database does not record."""
    incidents = read(db, lambda s: s.incidents())
    if not incidents:
        return set()
    incident = incidents[0]
    done = {key.split(":", 1)[1] for key in read(db, lambda s: s.deliveries(incident.id))}
    accepted = {step_of(c, incident.channel_id) for c in emu.calls[since:] if c.status == 200 and c.response.get("ok")}
    return {s for s in accepted if s} - done


# ---- the test -------------------------------------------------------------------------------------------------------
def test_declare_and_approve_survive_a_kill_9(emu: SlackEmulator, db: Path, crash_at: int) -> None:
    bot = serve_against(emu, db, clock_speed=1, crash_at=f"web_api_call:{crash_at}")
    try:
        declare(emu, db, bot)
        if not bot.died():
            assert crash_at > DECLARE_POINTS, f"declare finished without passing crash point {crash_at}"
            approve(emu, db, bot)
        assert bot.wait_exit() == 137, "the process did not die at the crash point"
    finally:
        bot.stop()
    crashed_output = bot.output()

    # restarted, no crash point: by now every call of the dead process has landed
    bot = serve_against(emu, db, clock_speed=1)
    try:
        repeated = window(emu, db, 0)
        since = len(emu.calls)
        if not ready(db):
            declare(emu, db, bot)  # the same command again, by the same person
        assert ready(db), "the repeated declare did not complete the set-up"
        approve(emu, db, bot)
        emu.wait_for(lambda: "draft_approve" not in approve_buttons(emu, db)[2], timeout=10)
    finally:
        bot.stop()
    assert_complete_once(emu, db, repeated, since)
    for output in (crashed_output, bot.output()):
        assert not [s for s in SECRETS if s in output], "a secret reached the log"
        assert "Traceback" not in output


def assert_complete_once(emu: SlackEmulator, db: Path, repeated: set[str], since: int) -> None:
    """Everything exactly once, except the steps in the dead process's window (at most twice)."""
    [incident] = read(db, lambda s: s.incidents())
    events = read(db, lambda s: s.events(incident.id))
    kinds = [e.kind for e in events]
    assert kinds.count("declared") == 1
    for name in OWNERS:  # written after Slack accepted the DM, before the bot notes the DM as sent
        pinged = [e for e in events if e.kind == "pinged" and e.data["user"] == ID[name]]
        assert len(pinged) in ((1, 2) if f"dm:{ID[name]}" in repeated else (1,)), (name, repeated)
    assert kinds.count("pinged") <= len(OWNERS) + len(repeated)
    assert "setup_failed" not in kinds

    channels = [c.response["channel"]["id"] for c in emu.calls_to("conversations.create") if c.response.get("ok")]
    assert len(channels) == 1 + ("channel" in repeated), repeated
    assert channels[-1] == incident.channel_id
    for orphan in channels[:-1]:  # created just before the crash: empty, and nobody was invited
        assert emu.messages(orphan) == [] and emu.channel(orphan)["members"] == ["U0BOT"]

    messages = emu.messages(incident.channel_id)
    headers = [m for m in messages if (m.get("blocks") or [{}])[0].get("type") == "header"]
    assert len(headers) == 1 + ("header" in repeated), repeated
    header_ts = read(db, lambda s: s.delivery(f"{incident.id}:header"))
    assert [p["ts"] for p in emu.pins(incident.channel_id)] == [header_ts]

    drafts = read(db, lambda s: s.drafts(incident.id))
    posted = [m for m in messages if any(b.get("block_id", "").startswith("draft-") for b in m.get("blocks") or [])]
    assert len(posted) == len(drafts) + len([s for s in repeated if s.startswith("draft:")]), repeated
    assert {d.message_ts for d in drafts} <= {m["ts"] for m in posted}
    assert len([m for m in messages if m.get("text", "").startswith("📟")]) <= 1

    for name in OWNERS:
        dms = [m for m in emu.dms(ID[name]) if incident.code in m.get("text", "")]
        assert len(dms) == 1 + (f"dm:{ID[name]}" in repeated), (name, repeated)

    x = next(d for d in drafts if d.network == "x")
    approvals = read(db, lambda s: s.approvals(x.id))
    assert [(a.approver, a.role) for a in approvals] == [(ID["anna"], "crisis_lead"), (ID["chen"], "legal")]
    assert kinds.count("approved") == 2 and kinds.count("draft_ready") == 1
    assert x.status == "approved"
    for call in emu.calls[since:]:
        if call.method in ("chat.postMessage", "chat.update") and isinstance(call.args.get("blocks"), list):
            assert validate_message_blocks(call.args["blocks"]) == []

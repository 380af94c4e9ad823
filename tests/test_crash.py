"""kill -9 of the real `crisisbot serve` process after the n-th Web API call of a declare and its approval, or of a
resolve, then a restart and the same command (or click) again: the final state equals that of a run without the
crash.

`CRISISBOT_CRASH_AT=web_api_call:<n>` ends the process like kill -9 right after Slack answered its n-th call
(bot/faults.py), before the bot could note that answer. The restarted bot reads back what the dead one had
tried (message metadata in the channel and DMs, the channel list) and so neither loses nor repeats a step:
every test compares Slack and the database with a clean run of the same flow. The clock runs at real speed
(CRISISBOT_CLOCK_SPEED=1): no timer fires meanwhile.

Calls 1–14 are the declare (users.info for bram's language, then the channel, topic, invite, header, five DMs,
the pin and three drafts), 15–18 the approval of the X draft by anna and chen (users.info and chat.update each).
The resolve test declares without a crash point of its own, then its calls 1–2 are anna's `/crisis resolve`
(users.info for her language, views.open) and 3–17 her submitted form's closing steps (bot/chat/closing.py: four
redraws, the closing message, three closing drafts, users.info twice for the report's names, the report's
upload in three calls, the survey DMs to bram and anna); the re-run after the restart is `/crisis resolve` typed
again in the channel (the whole resolve again when the kill came before the form was sent). Default mode kills
at the approval's last call and after the resolve's closing message (a kill amid the declare's DMs is the first
kill of the re-run and clock-skew tests), CI's 10-minute budget: each is two serve runs; `--full` at every call.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from conftest import is_full

from bot.localdesk import BOT_TOKEN, CAST, SIGNING_SECRET
from bot.manifest import manifest_scopes
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.process import ServeProcess, serve_against
from bot.sandbox.process import read_db as read
from bot.sandbox.validate import validate_message_blocks
from bot.store import Store

ID = {p.name: p.id for p in CAST}
OWNERS = ("anna", "bram", "chen", "dewi", "eli")
DECLARE = "declare data-breach 2 Customer emails exposed"
DECLARE_POINTS = 14  # crash points a declare passes (auth.test runs before our client is in place: not one)
APPROVE_POINTS = 4
RESOLVE_POINTS = 17  # counted from the end of the declare; see the module's docstring
RESOLVE_SAMPLE = {  # kill points in the resolve: each kind of call, every closing step not safe to repeat (CI: 7)
    2: "views.open: the form is open, nothing resolved yet",
    7: "the closing message",
    15: "files.completeUploadExternal: the report shared",
    17: "the last survey DM",  # --full adds the rest: 4 (a redraw, safe to repeat), 10 (a closing draft, as the closing message), 13 (an upload URL), 16
}
SURVEYED = ("bram", "anna")  # the declarer and the resolver: everyone who acted up to the resolve
RESOLVE_VALUES = {
    "summary": {"value": {"type": "plain_text_input", "value": "Portal closed, affected customers emailed"}},
    "impact": {"value": {"type": "plain_text_input", "value": "1,200 customers"}},
    "lessons": {"value": {"type": "plain_text_input", "value": "Pre-approve a holding statement"}},
}
SECRETS = ("xoxb-", "xapp-", SIGNING_SECRET)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    full = is_full(metafunc.config)
    if "crash_at" in metafunc.fixturenames:
        last = DECLARE_POINTS + APPROVE_POINTS
        # CI: the approval's last call (a kill amid the declare's DMs is the re-run and clock-skew tests' first kill)
        points = list(range(1, last + 1)) if full else [last]
        metafunc.parametrize(
            "crash_at",
            points,
            ids=[f"kill-after-call-{n}-of-{'declare' if n <= DECLARE_POINTS else 'approve'}" for n in points],
        )
    if "twice" in metafunc.fixturenames:  # a crash during the re-run too, among its look-ups or the steps after
        pairs = [(a, b) for a in (2, 4, 6, 9, 11, 13) for b in (1, 2, 3, 5)] if full else [(6, 2)]
        metafunc.parametrize("twice", pairs, ids=[f"kill-after-{a}-then-after-{b}" for a, b in pairs])
    if "skewed_at" in metafunc.fixturenames:  # CI: amid the header and DMs (all tried)
        points = list(range(1, DECLARE_POINTS + 1)) if full else [8]
        metafunc.parametrize("skewed_at", points, ids=[f"kill-after-call-{n}-of-declare" for n in points])
    if "resolve_at" in metafunc.fixturenames:
        points = list(range(1, RESOLVE_POINTS + 1)) if full else sorted(RESOLVE_SAMPLE)[1:2]  # CI: the closing message
        metafunc.parametrize("resolve_at", points, ids=[f"kill-after-call-{n}-of-resolve" for n in points])


# ---- the real process ---------------------------------------------------------------------------------------
def staffed(path: Path) -> Path:
    """A database whose roles all have owners (as `/crisis roles set` leaves it)."""

    def staff(store: Store) -> None:
        for person in CAST:
            if person.role:
                store.set_role_owners(person.role, [person.id])

    read(path, staff)
    return path


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return staffed(tmp_path / "crisis.db")


# ---- driving it ---------------------------------------------------------------------------------------------------
def ready(db: Path) -> bool:
    return read(db, lambda s: bool(s.incidents()) and s.incidents()[0].setup_done_at is not None)


def declare(emu: SlackEmulator, db: Path, bot: ServeProcess) -> None:
    """bram types the declare; returns once it is set up, or once the process is gone."""
    emu.slash_command(ID["bram"], DECLARE)
    emu.wait_for(lambda: bot.died() or ready(db), timeout=15)


def approve_buttons(emu: SlackEmulator, db: Path) -> tuple[str, str, list[str]]:
    incident = read(db, lambda s: s.incidents()[0])
    x = read(db, lambda s: next(d for d in s.drafts(incident.id) if d.network == "x"))
    message = emu.message(incident.room_ref, x.message_ref)
    assert message is not None
    buttons = [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return incident.room_ref, x.message_ref, buttons


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


def resolved(db: Path) -> bool:
    return read(db, lambda s: s.incidents()[0].status == "resolved")


def closed(db: Path) -> bool:
    """Every closing step recorded (the survey DMs come last), or one refused: the closing run is over."""

    def over(store: Store) -> bool:
        incident = store.incidents()[0]
        done = store.deliveries(incident.id)
        surveyed = all(f"{incident.id}:survey:{ID[who]}" in done for who in SURVEYED)
        return surveyed or bool(store.events(incident.id, "closing_failed"))

    return read(db, over)


def resolve(emu: SlackEmulator, db: Path, bot: ServeProcess) -> None:
    """anna types `/crisis resolve` in the channel and sends the form; returns once the closing steps are over
    (or once the process is gone). In a resolved incident the command itself re-runs the missing closing steps."""
    incident = read(db, lambda s: s.incidents()[0])
    already = incident.status == "resolved"
    forms = len(emu.views(ID["anna"]))
    emu.slash_command(ID["anna"], "resolve", channel_id=incident.room_ref)
    if not already:
        emu.wait_for(lambda: bot.died() or len(emu.views(ID["anna"])) > forms, timeout=10)
        if bot.died():
            return
        form = emu.open_view(ID["anna"])
        assert form is not None and form["callback_id"] == "resolve"
        emu.submit_view(ID["anna"], form["id"], RESOLVE_VALUES)
    emu.wait_for(lambda: bot.died() or closed(db), timeout=20)


# ---- the state a run leaves ----------------------------------------------------------------------------------
def kind_of(message: dict[str, Any]) -> str:
    if message.get("files"):
        return "files:" + ",".join(sorted(f["name"] for f in message["files"]))
    blocks = message.get("blocks") or []
    for block in blocks:
        found = re.fullmatch(r"draft-(\d+)", str(block.get("block_id", "")))
        if found:
            return f"draft:{found.group(1)}"
    if blocks and blocks[0].get("type") == "header":
        return "header"
    return str(message.get("text", ""))[:2]


def state(emu: SlackEmulator, db: Path) -> dict[str, Any]:
    """Everything a declare, approval or resolve leaves in Slack and the database, without ids and times that
    differ."""
    [incident] = read(db, lambda s: s.incidents())
    events = read(db, lambda s: s.events(incident.id))
    channels = [c for c in emu.calls_to("conversations.create") if c.response.get("ok")]
    channel = emu.channel(incident.room_ref)
    drafts = read(db, lambda s: s.drafts(incident.id))
    return {
        "channels created": [c.response["channel"]["name"] for c in channels],
        "members": sorted(channel["members"]),
        "topic": channel["topic"]["value"],
        "messages": sorted(kind_of(m) for m in emu.messages(incident.room_ref)),
        "pins": [kind_of(emu.message(incident.room_ref, p["ts"]) or {}) for p in emu.pins(incident.room_ref)],
        "buttons": sorted(  # what the redraws leave: a resolved incident's header and drafts lose their buttons
            (
                kind_of(m),
                tuple(e["action_id"] for b in m.get("blocks") or [] if b["type"] == "actions" for e in b["elements"]),
            )
            for m in emu.messages(incident.room_ref)
            if m.get("blocks")
        ),
        "files shared": sorted(f["name"] for f in emu.files if incident.room_ref in f["channels"]),
        "dms": {name: [kind_of(m) for m in emu.dms(ID[name]) if incident.code in m.get("text", "")] for name in OWNERS},
        "events": sorted(
            (e.kind, e.actor, str(e.data.get("user", "")), str(e.data.get("network", ""))) for e in events
        ),
        "deliveries": sorted(read(db, lambda s: s.deliveries(incident.id))),
        "drafts": [(d.network, d.status, d.version, bool(d.message_ref)) for d in drafts],
        "approvals": [
            (d.network, a.approver, a.role) for d in drafts for a in read(db, lambda s, d=d: s.approvals(d.id))
        ],
    }


@pytest.fixture(scope="module")
def clean(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state the same declare and approval leave when nothing crashes."""
    emulator = SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()).start()
    try:
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name)
        path = staffed(tmp_path_factory.mktemp("clean") / "crisis.db")
        bot = serve_against(emulator, path, clock_speed=1)
        try:
            declare(emulator, path, bot)
            approve(emulator, path, bot)
            emulator.wait_for(lambda: "draft_approve" not in approve_buttons(emulator, path)[2], timeout=10)
        finally:
            bot.stop()
        return state(emulator, path)
    finally:
        emulator.stop()


@pytest.fixture(scope="module")
def clean_resolve(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The state the same declare and resolve leave when nothing crashes; checks the resolve's crash points."""
    emulator = SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()).start()
    try:
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name)
        path = staffed(tmp_path_factory.mktemp("clean-resolve") / "crisis.db")
        bot = serve_against(emulator, path, clock_speed=1)
        try:
            declare(emulator, path, bot)
            since = len(emulator.calls)
            resolve(emulator, path, bot)
            assert closed(path) and resolved(path)
        finally:
            bot.stop()
        # the calls that pass a crash point (not the raw file uploads, not answers through response_url)
        calls = [c.method for c in emulator.calls[since:] if c.method not in ("upload", "response_url")]
        assert len(calls) == RESOLVE_POINTS, calls
        return state(emulator, path)
    finally:
        emulator.stop()


# ---- the test -------------------------------------------------------------------------------------------------------
def assert_like_clean(emu: SlackEmulator, db: Path, clean: dict[str, Any], since: int, outputs: list[str]) -> None:
    """Slack and the database equal the clean run's; every call within the manifest's scopes (the read-back after
    a restart included), every message sent since `since` valid Block Kit, and no secret or traceback in a log."""
    after = state(emu, db)
    for part, expected in clean.items():
        assert after[part] == expected, part
    for call in emu.calls:
        assert call.response.get("error") != "missing_scope", (call.method, call.response)
    for call in emu.calls[since:]:
        if call.method in ("chat.postMessage", "chat.update") and isinstance(call.args.get("blocks"), list):
            assert validate_message_blocks(call.args["blocks"]) == []
    for output in outputs:
        assert not [s for s in SECRETS if s in output], "a secret reached the log"
        assert "Traceback" not in output


def rerun_like_clean(
    emu: SlackEmulator, db: Path, clean: dict[str, Any], outputs: list[str], clock_skew: float | None = None
) -> None:
    """Restart without a crash point; the same declare again by the same person unless the restarted bot already
    finished it (it finishes the requests the dead one had acknowledged), both approvals; then Slack and the
    database equal the clean run's."""
    bot = serve_against(emu, db, clock_speed=1, clock_skew=clock_skew)
    try:
        since = len(emu.calls)
        if not ready(db):
            declare(emu, db, bot)  # reads back what the dead run did, does the rest
        assert ready(db), "the repeated declare did not complete the set-up"
        approve(emu, db, bot)
        emu.wait_for(lambda: "draft_approve" not in approve_buttons(emu, db)[2], timeout=10)
    finally:
        bot.stop()
    assert_like_clean(emu, db, clean, since, [*outputs, bot.output()])


def test_declare_and_approve_survive_a_kill_9(
    emu: SlackEmulator, db: Path, crash_at: int, clean: dict[str, Any]
) -> None:
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
    rerun_like_clean(emu, db, clean, [crashed_output])


def test_resolve_survives_a_kill_9(
    emu: SlackEmulator, db: Path, resolve_at: int, clean_resolve: dict[str, Any]
) -> None:
    bot = serve_against(emu, db, clock_speed=1, crash_at=f"web_api_call:{DECLARE_POINTS + resolve_at}")
    try:
        declare(emu, db, bot)
        assert ready(db) and not bot.died(), "the declare did not finish before the resolve's crash point"
        resolve(emu, db, bot)
        assert bot.wait_exit() == 137, "the process did not die at the crash point"
    finally:
        bot.stop()
    crashed_output = bot.output()

    # restarted, no crash point: anna types `/crisis resolve` again in the channel
    bot = serve_against(emu, db, clock_speed=1)
    try:
        since = len(emu.calls)
        resolve(emu, db, bot)
        assert resolved(db) and closed(db), "the re-run did not finish the closing steps"
    finally:
        bot.stop()
    assert_like_clean(emu, db, clean_resolve, since, [crashed_output, bot.output()])


# A crash during the re-run too: the first kill leaves steps tried, the second one lands among the look-ups
# (conversations.history / open / list) or the steps that follow them (pairs: pytest_generate_tests).
def test_declare_survives_a_second_kill_9_during_its_re_run(
    emu: SlackEmulator, db: Path, twice: tuple[int, int], clean: dict[str, Any]
) -> None:
    outputs = []
    for crash_at in twice:
        # the restarted bot finishes the declare the dead one had acknowledged by itself, at start-up: the
        # second crash point may be reached before it is healthy
        bot = serve_against(emu, db, clock_speed=1, crash_at=f"web_api_call:{crash_at}", exit_ok=True)
        try:
            if not ready(db) and not bot.died():
                declare(emu, db, bot)
            if not ready(db):  # the re-run may finish in fewer calls than the second crash point
                assert bot.wait_exit() == 137, "the process neither died nor finished"
        finally:
            bot.stop()
        outputs.append(bot.output())
    rerun_like_clean(emu, db, clean, outputs)


# The bot's clock 150 s ahead of Slack's (a drifted server; Slack still accepts the signatures, which allow five
# minutes): the read-back after a crash finds what the dead run did by Slack's own data, not by the bot's clock.
CLOCK_AHEAD = 150.0


def test_declare_survives_a_kill_9_with_its_clock_ahead_of_slacks(
    emu: SlackEmulator, db: Path, skewed_at: int, clean: dict[str, Any]
) -> None:
    bot = serve_against(emu, db, clock_speed=1, crash_at=f"web_api_call:{skewed_at}", clock_skew=CLOCK_AHEAD)
    try:
        declare(emu, db, bot)
        assert bot.wait_exit() == 137, "the process did not die at the crash point"
    finally:
        bot.stop()
    crashed_output = bot.output()

    rerun_like_clean(emu, db, clean, [crashed_output], clock_skew=CLOCK_AHEAD)


# ---- a kill -9 right after the ack: Slack has its 200 and never sends the request again ---------------------------
# `acked:<n>@1`: the n-th ack() of the process, then one second (the 200 goes out, the listener goes no further),
# then the process dies. The restarted bot finishes each request it had recorded but not finished.
ACKED = {  # the request killed after its ack, and which ack() of the process that is (the declare's is the first)
    "declare-command": 1,
    "acknowledge-click": 2,
    "approve-click": 2,
    "resolve-form": 3,  # after `/crisis resolve`'s: the form is acknowledged before anything is written
}


def header_of(emu: SlackEmulator, db: Path) -> str:
    incident = read(db, lambda s: s.incidents()[0])
    header_ts = read(db, lambda s: s.delivery(f"{incident.id}:header"))
    return str((emu.message(incident.room_ref, header_ts) or {}).get("blocks"))


def chen_waits(emu: SlackEmulator, db: Path) -> bool:
    """The header shows legal (chen) as still waiting for acknowledgement."""
    return f"<@{ID['chen']}> ⏳ waiting for acknowledgement" in header_of(emu, db)


def unfinished(db: Path) -> list[tuple[str, str]]:
    return read(db, lambda s: s.unfinished_requests())


# CI runs two of the four (a click and a form, the kinds whose work after the ack differs most); --full runs all.
@pytest.mark.parametrize(
    "request_kind",
    [k if k in ("approve-click", "resolve-form") else pytest.param(k, marks=pytest.mark.slow) for k in sorted(ACKED)],
)
def test_an_acknowledged_request_survives_a_kill_9_right_after_its_ack(
    emu: SlackEmulator, db: Path, request_kind: str, clean: dict[str, Any], clean_resolve: dict[str, Any]
) -> None:
    bot = serve_against(emu, db, clock_speed=1, crash_at=f"acked:{ACKED[request_kind]}@1")
    try:
        if request_kind == "declare-command":
            answer = emu.slash_command(ID["bram"], DECLARE)
        else:
            declare(emu, db, bot)
            assert ready(db) and not bot.died()
            incident = read(db, lambda s: s.incidents()[0])
            if request_kind == "acknowledge-click":
                answer = emu.click(ID["chen"], "acknowledge", channel_id=emu.dm_channel_of(ID["chen"]))
            elif request_kind == "resolve-form":
                emu.slash_command(ID["anna"], "resolve", channel_id=incident.room_ref)
                form = emu.wait_for(lambda: emu.open_view(ID["anna"]), timeout=10)
                answer = emu.submit_view(ID["anna"], form["id"], RESOLVE_VALUES)
            else:
                channel, ts, _ = approve_buttons(emu, db)
                answer = emu.click(ID["anna"], "draft_approve", channel_id=channel, ts=ts)
        assert answer.status == 200, answer  # Slack had its acknowledgement: it will never send this again
        assert bot.wait_exit() == 137, "the process did not die right after the ack"
    finally:
        bot.stop()
    crashed_output = bot.output()
    # what the person asked for was recorded before the ack, without any token, and not yet done
    [(_, body)] = unfinished(db)
    assert not [s for s in SECRETS if s in body] and '"token"' not in body
    if request_kind == "declare-command":
        assert read(db, lambda s: s.incidents()) == []
    elif request_kind == "acknowledge-click":
        assert "legal" not in read(db, lambda s: s.acks(s.incidents()[0].id))
        assert chen_waits(emu, db)
    elif request_kind == "resolve-form":
        assert not resolved(db) and read(db, lambda s: s.deliveries(s.incidents()[0].id)).keys().isdisjoint(
            {f"1:survey:{ID['anna']}", "1:closing", "1:report"}
        )
    else:
        assert read(db, lambda s: [a for d in s.drafts(s.incidents()[0].id) for a in s.approvals(d.id)]) == []

    # restarted: nobody clicks or types again; the bot finishes the request by itself and Slack shows it
    calls = len(emu.calls)
    bot = serve_against(emu, db, clock_speed=1)
    try:
        emu.wait_for(lambda: not unfinished(db), timeout=15)
        if request_kind == "declare-command":
            emu.wait_for(lambda: ready(db), timeout=15)
            answers = [e["text"] for e in emu.ephemerals(ID["bram"])]
            assert any(a.startswith("✅ CR-") and "declared" in a for a in answers), answers  # told it is done
            approve(emu, db, bot)
            emu.wait_for(lambda: "draft_approve" not in approve_buttons(emu, db)[2], timeout=10)
            assert_like_clean(emu, db, clean, calls, [crashed_output, bot.output()])
        elif request_kind == "acknowledge-click":
            emu.wait_for(lambda: not chen_waits(emu, db), timeout=10)  # the header shows what the database has
            incident = read(db, lambda s: s.incidents()[0])
            assert read(db, lambda s: s.acks(incident.id))["legal"].user == ID["chen"]
            acks = read(db, lambda s: s.events(incident.id, "acknowledged"))
            assert [e.actor for e in acks if e.data["role"] == "legal"] == [ID["chen"]]
            dm = [m for m in emu.dms(ID["chen"]) if incident.code in m.get("text", "")]
            assert len(dm) == 1 and "'action_id': 'acknowledge'" not in str(dm[0]["blocks"])  # its button is gone
        elif request_kind == "resolve-form":
            emu.wait_for(lambda: closed(db), timeout=20)  # nobody typed `/crisis resolve` again
            assert_like_clean(emu, db, clean_resolve, calls, [crashed_output, bot.output()])
        else:
            emu.wait_for(lambda: len(emu.calls_to("chat.update")) > 0, timeout=10)
            approve(emu, db, bot)  # chen still sees the button and approves; anna's approval was not lost
            emu.wait_for(lambda: "draft_approve" not in approve_buttons(emu, db)[2], timeout=10)
            assert_like_clean(emu, db, clean, calls, [crashed_output, bot.output()])
    finally:
        bot.stop()
    for output in (crashed_output, bot.output()):
        assert not [s for s in SECRETS if s in output] and "Traceback" not in output

"""Shared fixtures: a real Crisis Desk (Bolt over HTTP) against the Slack emulator, on a real SQLite file."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import bot.incidents.desk
from bot.clock import ManualClock
from bot.localdesk import BOT_TOKEN, CAST, SIGNING_SECRET, LocalCrisisDesk, start_local
from bot.manifest import manifest_scopes
from bot.messages import Messages
from bot.models import Draft, Incident
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import GENERAL_ID
from bot.sandbox.transport import BotResponse
from bot.sandbox.validate import validate_message_blocks, validate_view

START = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
ID = {p.name: p.id for p in CAST}  # anna (crisis lead), bram (social), chen (legal), dewi, eli, fleur, gijs


@dataclass
class Crisis:
    """A person's-eye driver of the running bot: type commands, click buttons, submit forms."""

    local: LocalCrisisDesk
    clock: ManualClock

    @property
    def emu(self):
        return self.local.emulator

    @property
    def store(self):
        return self.local.desk.store

    def cmd(self, who: str, text: str, channel_id: str | None = None, **signing: Any) -> BotResponse:
        response = self.emu.slash_command(ID[who], text, channel_id=channel_id, **signing)
        self.local.settle()
        return response

    def click(self, who: str, action_id: str, **where: Any) -> BotResponse:
        response = self.emu.click(ID[who], action_id, **where)
        self.local.settle()
        return response

    def submit(self, who: str, values: dict[str, Any]) -> BotResponse:
        view = self.emu.open_view(ID[who])
        assert view is not None, f"{who} has no modal open"
        response = self.emu.submit_view(ID[who], view["id"], values)
        self.local.settle()
        return response

    def set_roles(self) -> None:
        """Every role owned by its cast member (anna bootstraps as the first crisis lead)."""
        for person in CAST:
            if person.role:
                self.cmd("anna", f"roles set {person.role} <@{person.id}|{person.name}>")

    def declare(self, text: str = "declare data-breach 2 Customer emails exposed", who: str = "bram") -> Incident:
        self.cmd(who, text)
        return self.store.incidents()[-1]

    def drafts(self, incident: Incident) -> dict[str, Draft]:
        return {d.network: d for d in self.store.drafts(incident.id)}

    def draft_message(self, incident: Incident, network: str) -> dict[str, Any]:
        draft = self.drafts(incident)[network]
        message = self.emu.message(incident.room_ref, draft.message_ref)
        assert message is not None
        return message

    def click_draft(self, who: str, incident: Incident, network: str, action_id: str) -> BotResponse:
        draft = self.drafts(incident)[network]
        return self.click(who, action_id, channel_id=incident.room_ref, ts=draft.message_ref)

    def last_ephemeral(self, who: str) -> str:
        notes = self.emu.ephemerals(ID[who])
        return notes[-1]["text"] if notes else ""

    def events(self, incident: Incident, kind: str | None = None) -> list:
        return self.store.events(incident.id, kind)


def assert_valid_for_slack(emu, calls: int = 0, problems: int = 0) -> None:
    """Every message and view the bot sent is valid Block Kit by slack_sdk's models and Slack's limits, every call
    was covered by the scopes manifest.yml asks for (the sandbox grants exactly those), and Slack found no
    problem; from the `calls`-th Web API call and the `problems`-th problem on."""
    for call in emu.calls[calls:]:
        args = call.args
        assert call.response.get("error") != "missing_scope", (call.method, call.response)
        if call.method in ("chat.postMessage", "chat.update", "chat.postEphemeral") and args.get("blocks"):
            assert validate_message_blocks(args["blocks"]) == [], (call.method, args["blocks"])
        if call.method in ("views.open", "views.update", "views.push", "views.publish"):
            assert validate_view(args["view"]) == [], (call.method, args["view"])
    assert emu.problems[problems:] == []


def declare(crisis: Crisis, title: str, scenario: str = "data-breach", level: int = 2, who: str = "bram") -> Incident:
    """`who` declares a new incident; fails with what `who` was told when none was made.

    (Crisis.declare takes the whole command and returns the latest incident, new or not.)
    """
    count = len(crisis.store.incidents())
    crisis.cmd(who, f"declare {scenario} {level} {title}")
    incidents = crisis.store.incidents()
    assert len(incidents) == count + 1, crisis.last_ephemeral(who)
    return incidents[-1]


def db_rows(crisis: Crisis) -> dict[str, Counter]:
    """Once the bot is idle: every table but the idempotency keys, its rows counted (compare before and after)."""
    crisis.local.settle()
    db = crisis.store.db
    # a row is its (column, type, value) triples: 1 and 1.0 stay different; read from the raw cursor, as the
    # tables of a module's shared desk grow to thousands of rows (JSON text per row cost seconds a module)
    counted = {}
    for table in db.table_names():
        if table != "handled_requests":
            cursor = db.execute(f"SELECT * FROM [{table}]")
            columns = [c[0] for c in cursor.description]
            counted[table] = Counter(tuple(zip(columns, map(_type_name, row), row, strict=True)) for row in cursor)
    return counted


def _type_name(value: Any) -> str:
    return type(value).__name__


def row_of(counted: tuple) -> dict[str, Any]:
    """A row as db_rows counts it, as a dict of its columns."""
    return {column: value for column, _, value in counted}


@pytest.fixture(scope="session", autouse=True)
def wording_compiled_once() -> Iterator[None]:
    """Every in-process desk opens the same messages folder, and its first UI string in a language compiles that
    language's whole ui.yaml (0.2 s, once more for the platform's escaped variant): the desks of the session share
    one Messages per folder and version of its ui.yaml files. A test that edits a ui.yaml gets a fresh one; draft
    templates reload by themselves (Jinja checks their files). `crisisbot serve` processes compile their own."""
    made: dict[tuple[Path, tuple[tuple[str, int, int], ...]], Messages] = {}

    def shared(root: Path) -> Messages:
        files = sorted(Path(root).glob("*/ui.yaml"))
        key = (Path(root).resolve(), tuple((f.as_posix(), f.stat().st_mtime_ns, f.stat().st_size) for f in files))
        if key not in made:
            made[key] = Messages(root)
        return made[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(bot.incidents.desk, "Messages", shared)
        yield


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def crisis(tmp_path, clock: ManualClock) -> Iterator[Crisis]:
    local = start_local(db_path=tmp_path / "crisis.db", clock=clock)
    try:
        yield Crisis(local, clock)
        assert_valid_for_slack(local.emulator)
    finally:
        local.stop()


@pytest.fixture
def staffed(crisis: Crisis) -> Crisis:
    """A workspace whose roles all have owners."""
    crisis.set_roles()
    return crisis


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    """The emulator alone, the cast as its users: Slack for a bot in another process (bot/sandbox/process.py)."""
    with SlackEmulator(token=BOT_TOKEN, signing_secret=SIGNING_SECRET, scopes=manifest_scopes()) as emulator:
        for person in CAST:
            emulator.add_user(person.id, person.name, real_name=person.real_name)
        yield emulator


# ---- one running desk for a whole module (starting one costs more than many tests together) ---------------
@contextmanager
def staffed_desk(
    folder: Path, environ: dict[str, str] | None = None, clock: ManualClock | None = None
) -> Iterator[Crisis]:
    """A desk on a database in `folder`, every role owned, stopped afterwards (`environ`: e.g. its language)."""
    clock = clock or ManualClock(START)
    local = start_local(db_path=folder / "crisis.db", clock=clock, environ=environ)
    try:
        crisis = Crisis(local, clock)
        crisis.set_roles()
        yield crisis
    finally:
        local.stop()


@pytest.fixture(scope="module")
def shared(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crisis]:
    """One staffed desk for the module; its tests take it through `next_day` so each works on its own."""
    with staffed_desk(tmp_path_factory.mktemp(request.module.__name__.removeprefix("test_"))) as crisis:
        yield crisis


@contextmanager
def next_day(desk: Crisis, *, valid_blocks: bool = False) -> Iterator[Crisis]:
    """The desk a day later (its own channels and duplicate window); afterwards no faults are left and Slack
    found no problem with what the bot sent since, and with `valid_blocks` every message and view was valid."""
    desk.clock.advance(days=1)
    desk.local.settle()
    calls, problems = len(desk.emu.calls), len(desk.emu.problems)
    try:
        yield desk
    finally:
        desk.emu.clear_faults()
        desk.local.settle()
    if valid_blocks:
        assert_valid_for_slack(desk.emu, calls, problems)
    else:
        assert desk.emu.problems[problems:] == []


# ---- a desk with the alert intake: one monitoring source, triage cards in #general -------------------------
INTAKE_SECRET = "coosto-shared-secret"
INTAKE_CONFIG = """
intake:
  group_minutes: 30
  rate_window_minutes: 10
  sources:
    coosto:
      secret: {secret}
      cards_per_window: 3
    meltwater:
      secret: {secret}-meltwater
      format: meltwater
    brandwatch:
      secret: {secret}-brandwatch
      format: mapped
      mapping:
        items: mentions
        fields:
          alert_key: mention.id
          title: mention.title
          text: mention.snippet
          url: mention.url
          reach: mention.impact
          sentiment: mention.sentiment
          detected_at: mention.date
"""


@pytest.fixture
def desk(tmp_path: Path) -> Iterator[Crisis]:
    """A staffed desk whose intake takes signed alerts from `coosto` (its URL: `desk.local.intake_url`)."""
    config = tmp_path / "crisisbot.yaml"
    config.write_text(INTAKE_CONFIG.format(secret=INTAKE_SECRET), encoding="utf-8")
    with staffed_desk(tmp_path, {"CRISISBOT_CONFIG": str(config), "SLACK_WATCH_CHANNEL": GENERAL_ID}) as crisis:
        yield crisis


# ---- --full: every fault position and crash point, many more fuzz examples (default: a CI-sized sample) ----
def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--full",
        action="store_true",
        default=False,
        help="reliability suites: every fault position and crash point, 500 fuzz examples per property",
    )


def is_full(config: pytest.Config) -> bool:
    """For collection-time decisions (pytest_generate_tests): was --full given?"""
    return bool(config.getoption("--full", default=False))


@pytest.fixture(scope="session")
def full(pytestconfig: pytest.Config) -> bool:
    return is_full(pytestconfig)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Without --full, cases marked `slow` are left out (deselected, not skipped): CI's 10-minute budget runs
    a representative of each kind of case, --full runs them all."""
    if is_full(config):
        return
    slow = [item for item in items if item.get_closest_marker("slow")]
    if slow:
        config.hook.pytest_deselected(items=slow)
        items[:] = [item for item in items if not item.get_closest_marker("slow")]


# ---- the reliability figures the README quotes, counted from this run ---------------------------------------
# (label, test file, test-name prefix): passed cases of these tests are what the README's table reports
RELIABILITY = (
    ("Web API faults injected one at a time (declare, approve, resolve)", "test_faults.py", "_survives_a_failure["),
    ("kill -9 of crisisbot serve mid-flow, restart, re-run = clean run", "test_crash.py", "_kill_9["),
    ("kill -9 during a declare and again during its re-run = clean run", "test_crash.py", "_second_kill_9_"),
    ("kill -9 mid-declare, bot clock 150 s ahead of Slack = clean run", "test_crash.py", "_clock_ahead_of_slacks["),
    ("kill -9 right after an ack: the request is finished at restart", "test_crash.py", "_right_after_its_ack["),
    ("kill -9 around a timer firing or an outbox delivery, restart", "test_restart.py", "test_crash_"),
    ("real SIGKILL mid-run, restart", "test_restart.py", "test_real_sigkill"),
    ("kill -9 after Slack accepted an announcement, restart", "test_restart.py", "test_an_announcement_"),
    (
        "kill -9 inside a scheduled drill's start, restart: started once",
        "test_drill_schedule_restart.py",
        "test_a_kill_",
    ),
    ("undelivered messages dropped at resolve, not sent after it", "test_timers.py", "_dropped_at_resolve_"),
    ("forged or stale signatures refused with 401", "test_security.py", "test_forged_or_stale_request"),
    ("authorization matrix (role × action)", "test_security.py", "test_authorization_matrix["),
    ("GDPR clock, private incidents, hundreds of incidents", "test_authorization.py", "test_"),
    ("role set-up, people Slack will not add", "test_role_setup.py", "test_"),
    ("concurrent clicks and submissions: one effect per intent", "test_concurrency.py", "test_"),
    ("user text that grows when escaped, cut to Slack's limits", "test_bad_input_limits.py", "_cut_"),
    ("a Slack refusal anywhere in a crisis, told in plain words", "test_bad_input_limits.py", "in_plain_words["),
    ("crisisbot serve on an unusable database or config: exit 2", "test_bad_input_limits.py", "test_crisisbot_serve"),
    ("a full disk: every command answered, re-run finishes", "test_bad_input_limits.py", "test_a_full_disk"),
    ("Teams: Bot Connector faults one at a time (declare, approve, resolve)", "test_teams_faults.py", "test_"),
    ("Teams: kill -9 of crisisbot serve --platform teams, restart, re-run", "test_teams_crash.py", "test_"),
    ("Teams: fuzz of text, card actions, dialogs, malformed activities", "test_teams_fuzz.py", "test_"),
    ("Teams: authorization matrix, forged tokens and mentions, logs", "test_teams_security.py", "test_"),
    ("Teams: token checks and refused activities", "test_teams_auth.py", "test_"),
    ("Teams: a channel per incident through Graph (grants, clashes, a kill -9)", "test_teams_channel.py", "test_"),
)
FUZZ_EXAMPLES = Counter()  # hypothesis examples run, by property (tests/test_fuzz.py counts them)
_PASSED: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call" and report.passed:
        _PASSED.append(report.nodeid)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    counts = [
        (label, sum(1 for n in _PASSED if n.split("::")[0].endswith(f) and prefix in n.split("::")[-1]))
        for label, f, prefix in RELIABILITY
    ]
    counts.append(("fuzz examples run (hypothesis), all properties", sum(FUZZ_EXAMPLES.values())))
    if any(n for _, n in counts):
        terminalreporter.section("reliability figures (passed in this run)")
        for label, n in counts:
            terminalreporter.write_line(f"{n:>6}  {label}")

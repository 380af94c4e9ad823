"""The step runner (bot/chat/steps.py): typed keys stored as they always were, a step done at most once across
a run that died, a look-up that fails keeps the step from being redone blindly."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.chat.port import Refused
from bot.chat.steps import LookUpFailed, Runner, Step, StepKey
from bot.store import Store

AT = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture
def runner(tmp_path: Path) -> Iterator[Runner]:
    """A runner for incident 7 on a fresh store (the deliveries table needs no incident row)."""
    store = Store(tmp_path / "crisisbot.db")
    yield Runner(store, 7, lambda: AT, "declare CR-TEST-007")
    store.close()


@pytest.mark.parametrize("text", ["header", "dm:U123", "redraw:draft:4", "topic:2", "outbox:12:0", "survey:U9"])
def test_a_step_key_reads_back_what_it_wrote(text: str) -> None:
    assert str(StepKey.parse(text)) == text


def test_stored_keys_keep_the_format_of_every_incident_so_far() -> None:
    assert StepKey("dm", "U1").stored(7) == "7:dm:U1"
    assert StepKey("dm", "U1").tried_key(7) == "7:try:dm:U1"
    assert StepKey("outbox", "12:0").stored(7) == "outbox:12:0"
    assert StepKey.of_stored("7:try:dm:U1") is None
    assert StepKey.of_stored("7:redraw:draft:4") == StepKey("redraw", "draft:4")


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError):
        StepKey.parse("sandwich:3")


def test_a_round_records_what_worked_and_reports_what_was_refused(runner: Runner) -> None:
    def refused() -> str:
        raise Refused("channel_not_found", "chat.postMessage")

    thens: list[str] = []
    steps = [
        Step(StepKey("header"), lambda: "1.0", then=thens.append),
        Step(StepKey("pin"), refused),
        Step(StepKey("dm", "U1"), refused, refused=lambda: "unreachable"),
    ]
    result = runner.round(steps)
    assert result.failed == [StepKey("pin")]
    assert runner.done() == {StepKey("header"): "1.0", StepKey("dm", "U1"): "unreachable"}
    assert thens == ["1.0"]
    assert runner.is_tried(StepKey("pin")) is not None  # tried, not done: a re-run does it again (no look)


def test_a_step_a_dead_run_tried_is_found_instead_of_done_again(runner: Runner) -> None:
    key = StepKey("closing")
    runner.note_tried([key])
    calls: list[str] = []
    step = Step(key, lambda: calls.append("posted") or "2.0", look=lambda keys: dict.fromkeys(keys, "1.0"))
    assert runner.once(step) == "1.0"
    assert calls == [] and runner.ref(key) == "1.0" and runner.is_tried(key) is None
    assert runner.once(step) == "1.0"  # done: neither looked up nor done again


def test_a_refused_look_up_is_not_redone_blindly(runner: Runner) -> None:
    key = StepKey("outbox", "3:0")
    runner.note_tried([key])

    def look(keys: set[StepKey]) -> dict[StepKey, str]:
        raise OSError("timed out")

    with pytest.raises(LookUpFailed):
        runner.once(Step(key, lambda: "9.0", look=look))
    assert runner.ref(key) is None
    assert runner.round([Step(key, lambda: "9.0", look=look)]).failed == [key]


def test_an_outbox_message_is_recorded_under_its_own_key(runner: Runner) -> None:
    key = StepKey("outbox", "3:1")
    runner.once(Step(key, lambda: "5.0", look=lambda keys: {}))
    store = runner.store
    assert store.delivery("outbox:3:1") == "5.0"
    assert store.delivery("7:try:outbox:3:1") is None

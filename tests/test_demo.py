"""`crisisbot demo` plays the whole loop against the emulator, in English and in Dutch."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from bot.demo import run_demo


@pytest.mark.parametrize(
    ("language", "expected"),
    [
        (
            "en",
            [
                "Declare a crisis",
                "Acknowledge",
                "You may not approve drafts here",
                "30 minutes left",
                "Mark as posted",
                "First public response is live",
                "1-hour first-response target was missed",
                "escalated CR-2026-002 to level 3",
                "Summary",
            ],
        ),
        ("nl", ["Crisis melden", "Bevestigen", "Nog 30 minuten", "Markeren als geplaatst", "Samenvatting", "niveau 3"]),
    ],
)
def test_demo_plays_the_whole_loop(language: str, expected: list[str], tmp_path) -> None:
    buffer = io.StringIO()
    console = Console(file=buffer, width=120, record=True, highlight=False)
    transcript = tmp_path / "demo.txt"
    report = tmp_path / "report.md"
    code = run_demo(language=language, speed=240, transcript=transcript, console=console, report=report)
    text = buffer.getvalue()
    assert code == 0, text[-3000:]
    for snippet in expected:
        assert snippet in text, snippet
    assert "Traceback" not in text
    assert transcript.read_text(encoding="utf-8").strip()
    assert "CR-2026-001" in report.read_text(encoding="utf-8") and report.with_suffix(".png").stat().st_size > 5000

"""`crisisbot demo` plays the whole loop against the emulator, in English and in Dutch, and reads as a demo should.

Each language is played once for the module on each platform (at 240× crisis time); the tests read that one
transcript. The Teams runs play the story against the Bot Connector emulator; exit 0 there also means every card it
saw was valid against the Adaptive Cards 1.5 schema.
"""

from __future__ import annotations

import io
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from rich.console import Console

from bot.config import default_dir
from bot.demo import expected_seconds, legal_edit, run_demo
from bot.messages import SAMPLE_VALUES, Messages, fits

SPEED = 240
WIDTH = 120


@dataclass
class Played:
    language: str
    code: int
    text: str
    seconds: float
    transcript: Path
    report: Path


def play(language: str, folder: Path, platform: str = "slack") -> Played:
    buffer = io.StringIO()
    console = Console(file=buffer, width=WIDTH, record=True, highlight=False)
    started = time.monotonic()
    code = run_demo(
        language=language,
        speed=SPEED,
        transcript=folder / "demo.txt",
        console=console,
        report=folder / "report.md",
        platform=platform,
    )
    return Played(
        language, code, buffer.getvalue(), time.monotonic() - started, folder / "demo.txt", folder / "report.md"
    )


# Each platform's demo plays once by default, the two in different languages (CI's 10-minute budget: each play is
# ten seconds); --full plays all four.
@pytest.fixture(scope="module", params=["en", pytest.param("nl", marks=pytest.mark.slow)])
def played(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Played:
    return play(request.param, tmp_path_factory.mktemp(f"demo-{request.param}"))


EXPECTED = {
    "en": [
        "Declare a crisis",
        "Acknowledge",
        "You may not approve drafts here",
        "30 minutes left",
        "Mark as posted",
        "First public response is live",
        "first-response target (within 60 minutes of detection) was missed",
        "escalated CR-2026-002 to level 3",
        "Summary",
    ],
    "nl": ["Crisis melden", "Bevestigen", "Nog 30 minuten", "Markeren als geplaatst", "Samenvatting", "niveau 3"],
}


def test_demo_plays_the_whole_loop(played: Played) -> None:
    assert played.code == 0, played.text[-3000:]
    for snippet in EXPECTED[played.language]:
        assert snippet in played.text, snippet
    assert "Traceback" not in played.text
    assert played.transcript.read_text(encoding="utf-8").strip()
    report = played.report.read_text(encoding="utf-8")
    assert "CR-2026-001" in report and played.report.with_suffix(".png").stat().st_size > 5000


def test_the_company_is_configured_like_a_users_and_the_duration_is_said_up_front(played: Played) -> None:
    opening = played.text[:600]
    seconds = expected_seconds(SPEED)
    assert (f"about {seconds} seconds" if played.language == "en" else f"ongeveer {seconds} seconden") in opening
    assert "Acme" in opening and "#UpdateAcme" in opening and "crisisbot.yaml" in opening
    # the drafts carry the demo company's own hashtag and FAQ page, not the neutral defaults
    assert "#UpdateAcme" in played.text and "https://status.acme.example/updates" in played.text
    assert "#Update\n" not in played.text and "Our company" not in played.text
    assert played.seconds < seconds * 3  # said up front and roughly true, even on a busy 2-core machine


def test_the_transcript_reads_in_two_minutes(played: Played) -> None:
    lines = played.text.splitlines()
    assert len(lines) < 480, len(lines)  # at 120 columns; it was 1,452 at 80, 400 of them full redraws of the header
    edited = "message edited" if played.language == "en" else "bericht bijgewerkt"
    assert edited not in played.text  # no redraw is printed in full
    redraws = [line for line in lines if line.startswith("✎ ")]
    assert len(redraws) >= 25
    summary = re.search(r"(?:redraws shown as one line|als één regel getoond): (\d+)", played.text.replace("\n", " "))
    assert summary is not None and int(summary.group(1)) >= len(redraws)


def test_the_full_header_is_shown_at_the_start_and_at_the_end(played: Played) -> None:
    title = "🚨 CR-2026-001 · " + ("Data breach" if played.language == "en" else "Datalek")
    panels = [i for i, line in enumerate(played.text.splitlines()) if line.startswith(f"│ {title}")]
    assert len(panels) == 2, panels
    end = "\n".join(played.text.splitlines()[panels[1] :])
    roles = "Roles" if played.language == "en" else "Rollen"
    assert f"│ {roles}" in end and ("Status Resolved" in end or "Status Opgelost" in end)


def test_the_checklist_is_worked(played: Played) -> None:
    final_header = played.text.split("🚨 CR-2026-001 · ")[-1]
    final_header = final_header[: final_header.index("╰")]
    done = [line for line in final_header.splitlines() if line.startswith("│ ✅ ") and " · @" in line]
    assert len(done) >= 4 and "☐" not in final_header, final_header


def test_legal_makes_a_real_edit(played: Played) -> None:
    assert "(details follow)" not in played.text and "(details volgen)" not in played.text
    saved = played.text.split("saves a new version" if played.language == "en" else "slaat een nieuwe versie op")[1]
    saved = saved[: saved.index("#UpdateAcme")]
    assert ("exposed some customers' email addresses" if played.language == "en" else "e-mailadressen") in saved
    assert ("may involve" if played.language == "en" else "mogelijk") not in saved


@pytest.mark.parametrize("language", ["en", "nl"])
def test_legals_edit_fits_x_on_every_day_of_the_year(language: str) -> None:
    """The edit is typed into a draft whose next-update time may carry a date ("… on 30 September" when the demo
    runs in the evening); it must fit X's 280 then too, or the dialog refuses it and the story breaks."""
    draft = Messages(default_dir("messages")).draft(language, "data-breach", "first_response", "x", SAMPLE_VALUES)
    assert SAMPLE_VALUES.next_update in draft
    assert fits("x", legal_edit(language, draft))


def test_times_in_the_story_agree_with_the_clock(played: Played) -> None:
    flat = " ".join(played.text.split())
    # A draft's promised next update is now + the cadence on the demo's clock: at 07:40 CET it is 09:40 itself.
    stale = re.sub(r"(?:update at|update om) \d\d:\d\d", "", flat)
    assert "09:40" not in stale and "this morning" not in flat and "vanochtend" not in flat
    declared = re.search(r"(?:Declared by|Gemeld door) @bram (?:at|om) (\d\d):(\d\d)", flat)
    revoked = re.search(r"(?:revoked at|is om) (\d\d):(\d\d)", flat)
    assert declared and revoked
    minutes = (int(revoked[1]) * 60 + int(revoked[2]) - int(declared[1]) * 60 - int(declared[2])) % 1440
    assert 0 < minutes < 60  # the leak was closed after declaring, within the hour the story covers


def test_acknowledgements_are_honoured_after_the_escalation(played: Played) -> None:
    text = played.text.replace("\n", " ")
    escalated = text.index("escalated CR-2026-002" if played.language == "en" else "CR-2026-002 opgeschaald")
    after = text[escalated:]
    reminder = "please acknowledge" if played.language == "en" else "bevestig je rol"
    chased = set(re.findall(rf"@(\w+), {reminder}", after))
    assert chased and chased <= {"chen", "dewi"}, chased  # anna, bram and fleur acknowledged: not chased


DUTCH = ["Gemeld door", "alleen zichtbaar", "bevestig je rol", "opgeschaald", "Juridisch adviseur", "concept"]


def test_each_transcript_speaks_its_own_language(played: Played) -> None:
    """The Dutch demo has no English lines; the English one no Dutch (each run checks its own side)."""
    if played.language == "en":
        found = [word for word in DUTCH if word in played.text]
        assert found == [], found
        return
    english = [
        " created",
        " added",
        "only visible",
        " clicks ",
        " types ",
        "Customer",
        "Login fails",
        "Acknowledge",
        "redrawn",
        "message edited",
        "more lines",
        "form “",
        "Declared by",
        "waiting for",
        "accounting software",
    ]
    found = [word for word in english if word in played.text]
    assert found == [], found


# ---- Microsoft Teams: the same story against the Bot Connector emulator ---------------------------------------------
@pytest.fixture(scope="module", params=[pytest.param("en", marks=pytest.mark.slow), "nl"])
def teams(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Played:
    return play(request.param, tmp_path_factory.mktemp(f"demo-teams-{request.param}"), "teams")


TEAMS_EXPECTED = {
    "en": [
        "Bot Connector emulator",
        "crisis declare data-breach 2",
        "Acknowledge",
        "sees: the card without buttons",
        "sees: [ Approve ]",
        "You may not approve drafts here",
        "Mark as posted",
        "First public response is live",
        "📝 Update from @Anna de Vries",
        "@Dewi Bakker, please acknowledge",
        "notified",
        "form “",
        "resolved by @Anna de Vries",
        "/api/files/",
        "Summary",
        "was valid: Adaptive Cards 1.5 schema",
    ],
    "nl": [
        "Bot Connector-emulator",
        "Bevestigen",
        "ziet: de kaart zonder knoppen",
        "Markeren als geplaatst",
        "bevestig je rol",
        "formulier „",
        "/api/files/",
        "Samenvatting",
        "was geldig",
    ],
}


def test_teams_demo_plays_the_story_with_every_card_valid(teams: Played) -> None:
    """Exit 0 means every card the emulator saw was valid and each of the story's checks held."""
    assert teams.code == 0, teams.text[-3000:]
    for snippet in TEAMS_EXPECTED[teams.language]:
        assert snippet in teams.text, snippet
    assert "Traceback" not in teams.text
    report = teams.report.read_text(encoding="utf-8")
    assert "CR-2026-001" in report and teams.report.with_suffix(".png").stat().st_size > 5000
    assert teams.seconds < 25 and teams.seconds < expected_seconds(SPEED, "teams") * 3


def test_teams_demo_reads_in_two_minutes_with_the_header_whole_at_both_ends(teams: Played) -> None:
    lines = teams.text.splitlines()
    assert len(lines) < 480, len(lines)
    assert len([line for line in lines if line.startswith("✎ ")]) >= 20  # redraws are one line each
    title = "│ 🚨 CR-2026-001 · " + ("Data breach" if teams.language == "en" else "Datalek")
    assert len([line for line in lines if line.startswith(title)]) == 2
    final = teams.text.split(title)[-1]
    final = final[: final.index("╰")]
    done = [line for line in final.splitlines() if line.startswith("│ ✅ ")]
    assert len(done) >= 4 and "☐" not in final, final
    assert "Fleur Smit ✅" in final  # the backup took the role Dewi left unacknowledged


def test_teams_demo_speaks_its_own_language(teams: Played) -> None:
    if teams.language == "en":
        assert [word for word in DUTCH if word in teams.text] == []
        return
    english = [" clicks ", " types ", "Acknowledge", "sees:", "Declared by", "waiting for", "shown to", "form “"]
    assert [word for word in english if word in teams.text] == []

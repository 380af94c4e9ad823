"""The written crisis-communication plan, rendered from the real shipped playbooks and templates."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from jinja2.exceptions import SecurityError

from bot.config import Settings, load_settings
from bot.errors import ConfigError
from bot.messages import DraftValues, Messages
from bot.plan import render_plan
from bot.playbooks import Playbook, load_playbooks

HEADINGS = {
    "en": [
        "Goal",
        "Scenarios",
        "Prevention and monitoring",
        "Detection and escalation levels",
        "Response rules",
        "Roles and responsibilities",
        "First actions",
        "GDPR notification for data breaches",
        "Post-crisis evaluation",
        "Training and drills",
        "Documentation",
    ],
    "nl": [
        "Doel",
        "Scenario's",
        "Preventie en monitoring",
        "Signalering en escalatieniveaus",
        "Richtlijnen voor reacties",
        "Rollen en verantwoordelijkheden",
        "Eerste acties",
        "AVG-melding bij een datalek",
        "Evaluatie na de crisis",
        "Training en oefeningen",
        "Documentatie",
    ],
}
# The full draft texts are an appendix after the numbered sections, so the plan reads as a plan.
APPENDIX = {
    "en": "Appendix: message drafts per scenario and channel",
    "nl": "Bijlage: conceptberichten per scenario en kanaal",
}
PLACEHOLDERS = {
    "en": {"next_update": "[time]", "update": "[what we know now]"},
    "nl": {"next_update": "[tijd]", "update": "[wat we nu weten]"},
}
GENERATED_AT = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def settings() -> Settings:
    defaults = load_settings(environ={})
    company = defaults.company.model_copy(
        update={
            "name": "Acme Logistics",
            "hashtag": "#AcmeUpdate",
            "faq_url": "https://status.acme.example/faq",
        }
    )
    return defaults.model_copy(update={"company": company})


@pytest.fixture(scope="module")
def playbooks(settings: Settings) -> dict[str, Playbook]:
    return load_playbooks(settings.playbooks_dir)


@pytest.fixture(scope="module")
def messages(settings: Settings) -> Messages:
    return Messages(settings.messages_dir)


def plan(
    settings: Settings,
    playbooks: dict[str, Playbook],
    messages: Messages,
    language: str,
    role_owners: dict[str, list[str]] | None = None,
    user_names: dict[str, str] | None = None,
) -> str:
    return render_plan(
        settings,
        playbooks,
        messages,
        language,
        role_owners=role_owners,
        user_names=user_names,
        generated_at=GENERATED_AT,
    )


def template_copy(settings: Settings, tmp_path: Path) -> Path:
    """A messages folder of our own to break."""
    root = tmp_path / "messages"
    shutil.copytree(settings.messages_dir, root)
    return root


def section(text: str, title: str) -> str:
    """The body of the `## n. title` section (or of the appendix), up to the next section."""
    start = text.index(f"{title}\n")
    end = text.find("\n## ", start)
    return text[start:] if end == -1 else text[start:end]


@pytest.mark.parametrize("language", ["en", "nl"])
def test_plan_has_all_eleven_sections_in_order_then_the_drafts_appendix(settings, playbooks, messages, language):
    text = plan(settings, playbooks, messages, language)
    positions = [text.index(f"## {number}. {title}\n") for number, title in enumerate(HEADINGS[language], 1)]
    assert positions == sorted(positions)
    assert text.index(f"## {APPENDIX[language]}\n") > positions[-1]
    assert text.startswith("# ") and "Acme Logistics" in text.splitlines()[0]
    assert "`crisisbot plan`" in text


@pytest.mark.parametrize(("language", "date"), [("en", "14 March 2026"), ("nl", "14 maart 2026")])
def test_header_shows_the_date_in_the_plan_language(settings, playbooks, messages, language, date):
    assert date in plan(settings, playbooks, messages, language).split("## 1.")[0]


@pytest.mark.parametrize("language", ["en", "nl"])
def test_every_scenario_appears_by_its_localized_name(settings, playbooks, messages, language):
    text = plan(settings, playbooks, messages, language)
    scenarios = section(text, HEADINGS[language][1])
    for book in playbooks.values():
        assert f"**{book.name.in_(language)}** (`{book.id}`)" in scenarios
        assert book.description.in_(language) in scenarios
        assert f"### {book.name.in_(language)}\n" in section(text, HEADINGS[language][3])


@pytest.mark.parametrize("language", ["en", "nl"])
def test_data_breach_x_draft_is_the_rendered_template_with_the_company_hashtag(settings, playbooks, messages, language):
    values = DraftValues(
        company="Acme Logistics",
        hashtag="#AcmeUpdate",
        faq_url="https://status.acme.example/faq",
        **PLACEHOLDERS[language],
    )
    expected = messages.draft(language, "data-breach", "first_response", "x", values)
    drafts = section(plan(settings, playbooks, messages, language), APPENDIX[language])
    assert f"```text\n{expected}\n```" in drafts
    assert "#AcmeUpdate" in expected and PLACEHOLDERS[language]["next_update"] in expected
    assert " 280 " in drafts.split(expected)[1].split("####")[0]  # its length is shown against X's limit


def test_status_update_shows_where_the_team_fills_in(settings, playbooks, messages):
    drafts = section(plan(settings, playbooks, messages, "nl"), APPENDIX["nl"])
    assert "[wat we nu weten]" in drafts
    assert "[what we know now]" not in drafts


def test_gdpr_section_names_the_deadline_and_the_dutch_authority(settings, playbooks, messages):
    english = section(plan(settings, playbooks, messages, "en"), HEADINGS["en"][7])
    dutch = section(plan(settings, playbooks, messages, "nl"), HEADINGS["nl"][7])
    assert "72 hours" in english
    assert "72 uur" in dutch and "Autoriteit Persoonsgegevens" in dutch


def test_gdpr_section_is_left_out_without_an_authority_deadline(settings, playbooks, messages):
    no_breach = {key: book for key, book in playbooks.items() if not book.deadlines.authority_notification_hours}
    text = plan(settings, no_breach, messages, "en")
    assert "GDPR" not in text
    assert "## 8. Post-crisis evaluation\n" in text and "## 9. Training and drills\n" in text


def test_owners_and_backups_are_shown_by_name(settings, playbooks, messages):
    owners = {"crisis_lead": ["U1", "U2", "U3"], "legal": ["U4"]}
    text = plan(settings, playbooks, messages, "en", role_owners=owners, user_names={"U1": "Anna", "U2": "Bram"})
    roles = section(text, HEADINGS["en"][5])
    assert "**Owner:** Anna" in roles and "**Backups:** Bram, U3" in roles
    assert "**Owner:** U4" in roles
    assert "not assigned — `/crisis roles set spokesperson @person`" in roles
    assert "`/crisis roles set crisis_lead @person`" not in roles


@pytest.mark.parametrize(("language", "hint"), [("en", "not assigned"), ("nl", "niet toegewezen")])
def test_unassigned_roles_say_how_to_assign_them(settings, playbooks, messages, language, hint):
    roles = section(plan(settings, playbooks, messages, language), HEADINGS[language][5])
    for role in ("crisis_lead", "social_media_manager", "legal", "communications", "tech_lead", "spokesperson"):
        assert f"{hint} — `/crisis roles set {role} @" in roles


def test_only_the_companys_channels_appear(settings, playbooks, messages):
    only_x = settings.model_copy(update={"company": settings.company.model_copy(update={"channels": ["x"]})})
    text = plan(only_x, playbooks, messages, "en")
    drafts = section(text, APPENDIX["en"])
    assert "#### First response — X\n" in drafts
    assert "— LinkedIn" not in drafts and "— Facebook" not in drafts
    assert "LinkedIn" not in text and "Facebook" not in text


def test_first_hour_starts_with_pausing_scheduled_posts(settings, playbooks, messages):
    actions = section(plan(settings, playbooks, messages, "en"), HEADINGS["en"][6])
    steps = [line for line in actions.splitlines() if "- [ ]" in line]
    assert steps[0].startswith("- [ ] Pause all scheduled posts")
    assert sum("Pause all scheduled posts" in step for step in steps) == 1  # shared steps are merged


def test_a_missing_draft_template_is_reported_with_its_path(settings, playbooks, tmp_path):
    root = template_copy(settings, tmp_path)
    (root / "en/drafts/data-breach/resolved.linkedin.j2").unlink()
    with pytest.raises(ConfigError) as caught:
        plan(settings, playbooks, Messages(root), "en")
    assert "en/drafts/data-breach/resolved.linkedin.j2:1: draft template missing" in str(caught.value)


PLACEHOLDER_LINE = '{% set placeholders = {"next_update": "t", "update": "u", "summary": "s"} %}\n'


def test_plan_template_runs_in_the_sandbox(settings, playbooks, tmp_path):
    root = template_copy(settings, tmp_path)
    (root / "en/plan.md.j2").write_text(PLACEHOLDER_LINE + "{{ ''.__class__.__mro__ }}\n", encoding="utf-8")
    with pytest.raises(SecurityError):
        plan(settings, playbooks, Messages(root), "en")


def test_a_typo_in_the_plan_template_is_reported_with_its_line(settings, playbooks, tmp_path):
    root = template_copy(settings, tmp_path)
    (root / "en/plan.md.j2").write_text(PLACEHOLDER_LINE + "# Plan\n{{ compnay.name }}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        plan(settings, playbooks, Messages(root), "en")
    assert "en/plan.md.j2:3: 'compnay' is undefined" in str(caught.value)


def test_the_plan_template_must_name_its_placeholders(settings, playbooks, tmp_path):
    root = template_copy(settings, tmp_path)
    (root / "en/plan.md.j2").write_text("# Plan\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="set placeholders"):
        plan(settings, playbooks, Messages(root), "en")


@pytest.mark.parametrize("language", ["en", "nl"])
def test_monitoring_lists_each_detection_rule_with_its_terms_and_level_signals(settings, playbooks, messages, language):
    monitoring = section(plan(settings, playbooks, messages, language), HEADINGS[language][2])
    for book in playbooks.values():
        for rule in book.detection.rules if book.detection else []:
            row = next(line for line in monitoring.splitlines() if f"| `{rule.id}` |" in line)
            assert book.name.in_(language) in row
            assert all(term in row for term in [*rule.keywords.en, *rule.keywords.nl])
    breach = next(line for line in monitoring.splitlines() if "`leak_claims`" in line)
    assert ("reach ≥ 100,000" if language == "en" else "bereik ≥ 100.000") in breach

"""Wording: shipped drafts fit their networks in both languages, templates run in a strict sandbox, lengths are
counted the way each network counts them, and times and durations read naturally in English and Dutch."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from jinja2.exceptions import SecurityError, TemplateSyntaxError, UndefinedError
from markupsafe import Markup

from bot.config import default_dir
from bot.ids import LANGUAGES, NETWORK_LIMITS
from bot.messages import (
    SAMPLE_VALUES,
    X_URL_LENGTH,
    DraftValues,
    Messages,
    draft_path,
    duration,
    fits,
    limit_of,
    load_ui_file,
    local_time,
    measured_length,
    tidy,
)
from bot.playbooks import load_playbooks

SHIPPED = Messages(default_dir("messages"))
BOOKS = load_playbooks(default_dir("playbooks"))
MINIMAL = DraftValues(company="Acme", hashtag="#UpdateAcme")
EVIL = "{{ ''.__class__.__mro__ }}"
AMSTERDAM = ZoneInfo("Europe/Amsterdam")

SHIPPED_DRAFTS = [
    (language, book.id, kind, network)
    for book in BOOKS.values()
    for kind in (book.drafts.declare, book.drafts.update, book.drafts.resolve)
    for network in book.channels
    for language in LANGUAGES
]


def write(root: Path, relative: str, text: str) -> Path:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


# ---- the shipped drafts ----------------------------------------------------------------------------
def test_every_scenario_has_drafts_for_every_moment_channel_and_language() -> None:
    assert len(SHIPPED_DRAFTS) == len(BOOKS) * 3 * 3 * 2
    missing = [draft_path(*key) for key in SHIPPED_DRAFTS if not SHIPPED.has_draft(*key)]
    assert missing == []


@pytest.mark.parametrize(("language", "scenario", "kind", "network"), SHIPPED_DRAFTS)
def test_shipped_draft_renders_within_the_network_limit(language: str, scenario: str, kind: str, network: str) -> None:
    for values in (SAMPLE_VALUES, MINIMAL):
        text = SHIPPED.draft(language, scenario, kind, network, values)
        assert text.strip()
        assert values.hashtag in text, "every public message carries the fixed crisis hashtag"
        assert measured_length(network, text) <= NETWORK_LIMITS[network], text
        assert "{{" not in text and "{%" not in text
        assert "\n\n\n" not in text and not any(line != line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize("language", LANGUAGES)
def test_optional_values_appear_only_when_given(language: str) -> None:
    with_all = SHIPPED.draft(language, "service-outage", "status_update", "linkedin", SAMPLE_VALUES)
    bare = SHIPPED.draft(language, "service-outage", "status_update", "linkedin", MINIMAL)
    assert SAMPLE_VALUES.faq_url in with_all
    assert SAMPLE_VALUES.next_update in with_all
    assert "http" not in bare


# ---- the sandbox and strict variables --------------------------------------------------------------
def test_draft_template_cannot_reach_into_python(tmp_path: Path) -> None:
    write(tmp_path, draft_path("en", "other", "first_response", "x"), EVIL + " {{ hashtag }}\n")
    with pytest.raises(SecurityError):
        Messages(tmp_path).draft("en", "other", "first_response", "x", MINIMAL)


def test_ui_string_cannot_reach_into_python(tmp_path: Path) -> None:
    write(tmp_path, "en/ui.yaml", f'button:\n  approve: "{EVIL}"\n')
    with pytest.raises(SecurityError):
        Messages(tmp_path).ui("en", "button.approve")


def test_ui_string_with_escape_still_cannot_reach_into_python(tmp_path: Path) -> None:
    write(tmp_path, "en/ui.yaml", f'evil: "{EVIL}"\n')
    with pytest.raises(SecurityError):
        Messages(tmp_path).with_escape(str.upper).ui("en", "evil")


def test_draft_template_with_an_undefined_variable_raises_instead_of_printing_nothing(tmp_path: Path) -> None:
    write(tmp_path, draft_path("nl", "other", "resolved", "linkedin"), "Beste {{ customer_name }}, {{ hashtag }}\n")
    with pytest.raises(UndefinedError, match="customer_name"):
        Messages(tmp_path).draft("nl", "other", "resolved", "linkedin", MINIMAL)


def test_ui_string_missing_a_parameter_raises(tmp_path: Path) -> None:
    write(tmp_path, "en/ui.yaml", 'greeting: "Hello {{ user }}"\n')
    messages = Messages(tmp_path)
    assert messages.ui("en", "greeting", user="Sam") == "Hello Sam"
    with pytest.raises(UndefinedError, match="user"):
        messages.ui("en", "greeting")


def test_draft_template_syntax_error_carries_its_line(tmp_path: Path) -> None:
    write(tmp_path, draft_path("en", "other", "resolved", "x"), "Fixed.\n\n{% if faq_url %}\n{{ hashtag }}\n")
    with pytest.raises(TemplateSyntaxError) as caught:
        Messages(tmp_path).draft("en", "other", "resolved", "x", MINIMAL)
    assert caught.value.lineno == 4


# ---- UI strings ------------------------------------------------------------------------------------
def test_unknown_ui_key_names_the_key_and_file() -> None:
    with pytest.raises(KeyError, match=r"button\.nope.*en/ui\.yaml"):
        SHIPPED.ui("en", "button.nope")


@pytest.mark.parametrize(
    ("key", "english"),
    [
        ("button.acknowledge", "Acknowledge"),
        ("button.approve", "Approve"),
        ("button.edit", "Edit"),
        ("button.reject", "Reject"),
        ("button.mark_posted", "Mark as posted"),
        ("button.done", "Done"),
    ],
)
def test_design_button_labels_in_english_and_translated_in_dutch(key: str, english: str) -> None:
    assert SHIPPED.ui("en", key) == english
    dutch = SHIPPED.ui("nl", key)
    assert dutch and dutch != english


def test_every_ui_string_exists_in_english_and_dutch() -> None:
    assert SHIPPED.ui_keys("en") == SHIPPED.ui_keys("nl")


def test_ui_strings_in_an_unsupported_language_fall_back_to_english() -> None:
    assert SHIPPED.ui("de", "button.approve") == "Approve"


def test_ui_yaml_nests_into_dotted_keys(tmp_path: Path) -> None:
    path = write(tmp_path, "en/ui.yaml", "button:\n  approve: Approve\n  nested:\n    deeper: 3\ntop: Top\n")
    assert load_ui_file(path) == {"button.approve": "Approve", "button.nested.deeper": "3", "top": "Top"}


def test_escape_applies_to_values_but_not_to_markup(tmp_path: Path) -> None:
    write(tmp_path, "en/ui.yaml", 'said: "{{ user }} wrote {{ text }}"\n')
    messages = Messages(tmp_path).with_escape(lambda s: s.replace("<", "&lt;").replace(">", "&gt;"))
    assert messages.ui("en", "said", user=Markup("<@U1>"), text="<b>hi</b>") == "<@U1> wrote &lt;b&gt;hi&lt;/b&gt;"


def test_drafts_are_never_escaped_for_chat_markup(tmp_path: Path) -> None:
    write(tmp_path, draft_path("en", "other", "status_update", "facebook"), "{{ update }} {{ hashtag }}\n")
    messages = Messages(tmp_path).with_escape(lambda s: s.replace("&", "&amp;"))
    values = DraftValues(company="A&B", hashtag="#UpdateAB", update="Fish & chips are back")
    assert messages.draft("en", "other", "status_update", "facebook", values) == "Fish & chips are back #UpdateAB"


# ---- measured length -------------------------------------------------------------------------------
def test_x_counts_every_link_as_23_characters() -> None:
    long_link = "https://status.example.com/incidents/2026/03/14/data-breach-update-" + "x" * 40
    short_link = "http://a.co"
    text = f"Read {long_link} and {short_link} now"
    expected = len("Read  and  now") + 2 * X_URL_LENGTH
    assert measured_length("x", text) == expected
    assert measured_length("linkedin", text) == len(text)
    assert measured_length("facebook", text) == len(text)


def test_fits_uses_the_network_limit() -> None:
    assert limit_of("x") == 280
    assert fits("x", "a" * 280)
    assert not fits("x", "a" * 281)
    assert fits("x", "a" * 256 + " https://example.com/" + "p" * 100)  # 256 + space + 23 = 280
    assert not fits("x", "a" * 257 + " https://example.com/" + "p" * 100)
    assert fits("linkedin", "a" * 3000)
    assert not fits("linkedin", "a" * 3001)


def test_tidy_removes_trailing_spaces_and_extra_blank_lines() -> None:
    assert tidy("  Hello   \n\n\n\nWorld  \n\n") == "Hello\n\nWorld"


# ---- people-facing time ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("minutes", "english", "dutch"),
    [
        (1, "1 minute", "1 minuut"),
        (42, "42 minutes", "42 minuten"),
        (90, "90 minutes", "90 minuten"),
        (180, "3 hours", "3 uur"),
    ],
)
def test_duration_reads_naturally_in_both_languages(minutes: int, english: str, dutch: str) -> None:
    assert duration(timedelta(minutes=minutes), "en") == english
    assert duration(timedelta(minutes=minutes), "nl") == dutch


def test_duration_rounds_to_whole_minutes_and_ignores_the_sign() -> None:
    assert duration(timedelta(minutes=41, seconds=40), "en") == "42 minutes"
    assert duration(timedelta(minutes=-5), "nl") == "5 minuten"
    assert duration(timedelta(0), "en") == "0 minutes"


def test_local_time_is_in_the_company_timezone_and_language() -> None:
    winter = datetime(2026, 3, 14, 13, 5, tzinfo=UTC)  # CET, UTC+1
    summer = datetime(2026, 7, 1, 13, 5, tzinfo=UTC)  # CEST, UTC+2
    assert local_time(winter, "nl", AMSTERDAM) == "14:05"
    assert local_time(summer, "nl", AMSTERDAM) == "15:05"
    assert local_time(winter, "en", AMSTERDAM) == "14:05"  # British English: 24-hour, unambiguous in a crisis
    assert local_time(winter, "en", ZoneInfo("America/New_York")) == "09:05"

"""Playbooks: the shipped ones are complete and sound, and a broken one is reported as file:line with a fix."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from bot.config import default_dir
from bot.errors import ConfigError
from bot.ids import DRAFT_KINDS, LEVELS, NETWORKS, ROLES
from bot.playbooks import Playbook, load_playbook, load_playbooks, playbook_problems
from tests.fixtures_foundation import edit

SHIPPED = default_dir("playbooks")
SCENARIOS = ("data-breach", "negative-reviews", "other", "service-outage")


@pytest.fixture
def books_dir(tmp_path: Path) -> Path:
    """An editable copy of the shipped playbooks."""
    directory = tmp_path / "playbooks"
    shutil.copytree(SHIPPED, directory)
    return directory


def problems_of(path: Path) -> list[str]:
    found = playbook_problems(path)
    assert found, f"{path} was accepted"
    return found


def line_of(path: Path, fragment: str) -> int:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in {path}")


# ---- the shipped playbooks -------------------------------------------------------------------------
def test_shipped_playbooks_cover_the_design_scenarios() -> None:
    books = load_playbooks(SHIPPED)
    assert set(SCENARIOS) <= set(books)
    assert all(book.id == scenario for scenario, book in books.items())


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_shipped_playbook_defines_three_levels_with_known_roles(scenario: str) -> None:
    book = load_playbook(SHIPPED / f"{scenario}.yaml")
    assert tuple(book.levels) == LEVELS
    for level in book.levels.values():
        assert set(level.roles) <= set(ROLES)
        assert set(level.approvers) <= set(level.roles)
        assert level.ack_within_minutes > 0
        assert level.criteria.en and level.criteria.nl
    assert set(book.channels) <= set(NETWORKS)
    assert {book.drafts.declare, book.drafts.update, book.drafts.resolve} <= set(DRAFT_KINDS)
    assert book.checklist.first_hour
    assert book.name.in_("en") and book.name.in_("nl")


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_shipped_playbook_pulls_in_more_people_as_the_level_rises(scenario: str) -> None:
    book = load_playbook(SHIPPED / f"{scenario}.yaml")
    assert set(book.level(1).roles) <= set(book.level(2).roles) <= set(book.level(3).roles)
    assert "crisis_lead" in book.level(3).roles


def test_shipped_data_breach_needs_legal_approval_and_the_72_hour_notification() -> None:
    book = load_playbook(SHIPPED / "data-breach.yaml")
    assert all("legal" in level.approvers for level in book.levels.values())
    assert book.deadlines.authority_notification_hours == 72
    assert book.deadlines.first_response_minutes == 60


def test_localized_text_falls_back_to_english_for_an_unknown_language() -> None:
    book = load_playbook(SHIPPED / "data-breach.yaml")
    assert book.name.in_("nl") == "Datalek"
    assert book.name.in_("de") == book.name.in_("en") == "Data breach"


# ---- broken playbooks ------------------------------------------------------------------------------
def test_malformed_yaml_is_reported_with_file_and_line(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    path.write_text("name:\n  en: Other\n  nl: [Ander\ndescription: x\n", encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:4: malformed YAML")
    assert "fix the indentation/quoting" in problem


def test_unknown_role_is_reported_with_its_line_and_the_valid_roles(books_dir: Path) -> None:
    path = books_dir / "data-breach.yaml"
    edit(path, "roles: [social_media_manager, legal]", "roles: [social_media_manager, legal, janitor]")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'janitor')}: levels.1.roles.2: unknown value 'janitor'")
    assert all(f"'{role}'" in problem for role in ROLES)


def test_unknown_approver_role_is_reported(books_dir: Path) -> None:
    path = books_dir / "service-outage.yaml"
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("approvers: [", "approvers: [ceo, ", 1), encoding="utf-8")
    problems = problems_of(path)
    assert any("'ceo'" in p and "approvers" in p for p in problems), problems


def test_level_four_is_reported_as_outside_one_to_three(books_dir: Path) -> None:
    path = books_dir / "negative-reviews.yaml"
    edit(path, "\n  3:\n", "\n  4:\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'levels:')}: levels: level 4 is outside 1–3")
    assert "valid levels: 1, 2, 3" in problem


def test_level_zero_is_reported_as_outside_one_to_three(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    edit(path, "\n  1:\n", "\n  0:\n")
    (problem,) = problems_of(path)
    assert "level 0 is outside 1–3" in problem


def test_missing_level_is_reported(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    del data["levels"][2]
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'levels:')}: levels: a playbook defines levels 1, 2 and 3")


def test_approver_who_is_not_pulled_in_is_reported(books_dir: Path) -> None:
    path = books_dir / "data-breach.yaml"
    edit(path, "approvers: [legal]", "approvers: [legal, spokesperson]")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:")
    assert "approvers ['legal', 'spokesperson'] are not among this level's roles" not in problem
    assert "['spokesperson'] are not among this level's roles" in problem


def test_misspelled_key_is_reported_with_a_hint(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    edit(path, "deadlines:\n", "deadlinez:\n")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'deadlinez')}: deadlinez:")
    assert "remove it, or check its spelling" in problem


def test_missing_translation_is_reported_with_add_this_key(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    text = path.read_text(encoding="utf-8").splitlines(keepends=True)
    index = next(i for i, line in enumerate(text) if line.startswith("  nl:"))  # name.nl
    del text[index]
    path.write_text("".join(text), encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:")
    assert "name.nl" in problem
    assert "add this key" in problem


def test_reminder_after_the_deadline_is_reported(books_dir: Path) -> None:
    path = books_dir / "data-breach.yaml"
    edit(path, "reminders_before_minutes: [30, 15, 5]", "reminders_before_minutes: [90, 15, 5]")
    (problem,) = problems_of(path)
    assert "reminder 90 minutes before the deadline must be between 1 and 59" in problem


def test_data_breach_without_legal_approval_is_reported(books_dir: Path) -> None:
    path = books_dir / "data-breach.yaml"
    edit(path, "approvers: [crisis_lead, legal]", "approvers: [crisis_lead]")
    (problem,) = problems_of(path)
    assert "data-breach level 2: legal must approve every public draft" in problem


def test_unknown_draft_template_kind_is_reported(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    edit(path, "declare: first_response", "declare: press_release")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:{line_of(path, 'press_release')}: drafts.declare:")
    assert "valid: first_response, status_update, resolved" in problem


def test_repeated_checklist_id_is_reported(books_dir: Path) -> None:
    path = books_dir / "data-breach.yaml"
    edit(path, "- id: gather_team", "- id: pause_scheduled_posts")
    (problem,) = problems_of(path)
    assert "'pause_scheduled_posts' is used twice" in problem


def test_playbook_that_is_not_a_mapping_is_reported(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    path.write_text("- just\n- a list\n", encoding="utf-8")
    (problem,) = problems_of(path)
    assert problem.startswith(f"{path}:1: a playbook is a mapping")


def test_load_playbooks_reports_every_broken_file_at_once(books_dir: Path) -> None:
    first, second = books_dir / "data-breach.yaml", books_dir / "other.yaml"
    edit(first, "roles: [social_media_manager, legal]", "roles: [social_media_manager, legal, janitor]")
    second.write_text("name: [\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_playbooks(books_dir)
    problems = caught.value.problems
    assert len(problems) == 2
    assert problems[0].startswith(f"{first}:")
    assert problems[1].startswith(f"{second}:")


def test_load_playbooks_refuses_an_empty_or_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="playbook folder not found"):
        load_playbooks(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no playbooks"):
        load_playbooks(tmp_path / "empty")


def test_scenario_id_comes_from_the_file_name_not_the_content(books_dir: Path) -> None:
    path = books_dir / "other.yaml"
    renamed = books_dir / "product-recall.yaml"
    path.rename(renamed)
    text = renamed.read_text(encoding="utf-8")
    renamed.write_text("id: something-else\n" + text, encoding="utf-8")
    books = load_playbooks(books_dir)
    assert "product-recall" in books
    assert books["product-recall"].id == "product-recall"
    assert isinstance(books["product-recall"], Playbook)

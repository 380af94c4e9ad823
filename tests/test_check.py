"""`crisisbot check`: a company's own files pass, and each kind of mistake is named with its file (and line),
says what to do, exits 2, changes nothing and never shows a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bot.config import default_dir
from bot.ids import LANGUAGES
from tests.fixtures_foundation import assert_refused, cli, edit, isolate, make_project, tree_hash


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A fresh `crisisbot init` copy (channels x and linkedin, Dutch) to break one file of."""
    return make_project(tmp_path)


def check_refuses(project: Path, *expected: str) -> str:
    """Run `crisisbot check` on the project; it must refuse with every fragment, writing nothing."""
    before = tree_hash(project.parent)
    result = cli("check", "--config", project / "crisisbot.yaml")
    assert_refused(result, *expected)
    assert tree_hash(project.parent) == before, "check changed files"
    return result.output


def line_of(path: Path, fragment: str) -> int:
    """1-based line of the first line containing `fragment`."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if fragment in line:
            return number
    raise AssertionError(f"{fragment!r} not in {path}")


# ---- passing ---------------------------------------------------------------------------------------
def test_check_passes_on_a_fresh_init_project_and_summarises(project: Path) -> None:
    before = tree_hash(project)
    result = cli("check", "--config", project / "crisisbot.yaml")
    assert result.exit_code == 0, result.output
    assert str(project / "crisisbot.yaml") in result.output
    assert "5 playbooks, 5 drill scripts" in result.output
    # 5 scenarios × 3 moments × 2 channels (x, linkedin) × 2 languages
    assert "60 draft templates" in result.output
    assert tree_hash(project) == before


def test_check_passes_on_the_shipped_defaults_without_any_config(tmp_path: Path) -> None:
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert "built-in defaults" in result.output
    # all three social channels by default
    assert "90 draft templates" in result.output


def test_check_finds_the_config_through_crisisbot_config(project: Path) -> None:
    result = cli("check", env={"CRISISBOT_CONFIG": str(project / "crisisbot.yaml")})
    assert result.exit_code == 0, result.output
    assert str(project / "crisisbot.yaml") in result.output


def test_check_finds_crisisbot_yaml_in_the_working_directory(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(project)
    result = cli("check")
    assert result.exit_code == 0, result.output
    assert str(project / "crisisbot.yaml") in result.output


# ---- the config file -------------------------------------------------------------------------------
def test_check_refuses_a_config_file_that_does_not_exist(tmp_path: Path) -> None:
    before = tree_hash(tmp_path)
    result = cli("check", "--config", "nope.yaml")
    assert_refused(result, "nope.yaml", "not found", "crisisbot init")
    assert tree_hash(tmp_path) == before


def test_check_refuses_a_crisisbot_config_variable_pointing_nowhere(tmp_path: Path) -> None:
    before = tree_hash(tmp_path)
    result = cli("check", env={"CRISISBOT_CONFIG": "nope.yaml"})
    assert_refused(result, "nope.yaml", "not found", "CRISISBOT_CONFIG")
    assert tree_hash(tmp_path) == before


def test_check_reports_unknown_scenario_in_config_with_its_line(project: Path) -> None:
    config = project / "crisisbot.yaml"
    edit(config, "- other\n", "- alien-invasion\n")
    check_refuses(project, f"{config}:{line_of(config, 'alien-invasion')}:", "'alien-invasion'", "valid: data-breach")


def test_check_reports_unknown_social_channel_in_config_with_its_line(project: Path) -> None:
    config = project / "crisisbot.yaml"
    edit(config, "  - linkedin\n", "  - tiktok\n")
    check_refuses(
        project,
        f"{config}:{line_of(config, 'tiktok')}:",
        "company.channels",
        "'tiktok'",
        "valid: 'x', 'facebook' or 'linkedin'",
    )


def test_check_reports_malformed_config_yaml_with_its_line(project: Path) -> None:
    config = project / "crisisbot.yaml"
    edit(config, "  industry: logistics\n", "  industry: [logistics\n")
    check_refuses(project, f"{config}:", "malformed YAML")


def test_check_reports_an_unknown_config_key(project: Path) -> None:
    config = project / "crisisbot.yaml"
    edit(config, "scenarios:\n", "scenarioz:\n")
    check_refuses(project, f"{config}:{line_of(config, 'scenarioz')}:", "scenarioz")


# ---- playbooks -------------------------------------------------------------------------------------
def test_check_reports_malformed_yaml_in_a_playbook_with_file_and_line(project: Path) -> None:
    playbook = project / "playbooks" / "service-outage.yaml"
    text = playbook.read_text(encoding="utf-8").splitlines(keepends=True)
    text[5] = "  en: [an unclosed list\n"
    playbook.write_text("".join(text), encoding="utf-8")
    output = check_refuses(project, f"{playbook}:", "malformed YAML", "fix the indentation/quoting")
    line = int(output.split(f"{playbook}:")[1].split(":")[0])
    assert 6 <= line <= 8, output  # at, or just after, the broken line


def test_check_reports_unknown_role_in_a_playbook_with_file_and_line(project: Path) -> None:
    playbook = project / "playbooks" / "data-breach.yaml"
    edit(playbook, "roles: [social_media_manager, legal]", "roles: [social_media_manager, legal, janitor]")
    check_refuses(
        project, f"{playbook}:{line_of(playbook, 'janitor')}:", "levels.1.roles", "'janitor'", "valid: 'crisis_lead'"
    )


def test_check_reports_a_drill_scripts_unknown_role_and_too_few_injects_with_file_and_line(project: Path) -> None:
    script = project / "playbooks" / "drills" / "data-breach.yaml"
    edit(script, "make_unavailable: spokesperson", "make_unavailable: janitor")
    short = project / "playbooks" / "drills" / "slow-response.yaml"
    short.write_text(short.read_text(encoding="utf-8").split("  - at_minutes: 35")[0], encoding="utf-8")
    check_refuses(
        project,
        f"{script}:{line_of(script, 'janitor')}: injects.4.effect.make_unavailable: unknown value 'janitor'",
        "valid: 'crisis_lead'",
        f"{short}:",
        "injects: List should have at least 5 items",
    )


def test_check_reports_a_drill_script_for_a_scenario_without_a_playbook(project: Path) -> None:
    drills = project / "playbooks" / "drills"
    (drills / "fire.yaml").write_text((drills / "other.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    check_refuses(project, f"{drills / 'fire.yaml'}:1: no playbook 'fire' for this script", "valid: data-breach")


def test_check_reports_a_level_outside_one_to_three(project: Path) -> None:
    playbook = project / "playbooks" / "negative-reviews.yaml"
    edit(playbook, "\n  3:\n", "\n  4:\n")
    check_refuses(project, f"{playbook}:", "level 4 is outside 1–3", "valid levels: 1, 2, 3")


def test_check_reports_every_broken_playbook_at_once(project: Path) -> None:
    first = project / "playbooks" / "data-breach.yaml"
    second = project / "playbooks" / "other.yaml"
    edit(first, "roles: [social_media_manager, legal]", "roles: [social_media_manager, legal, janitor]")
    edit(second, "\n  3:\n", "\n  4:\n")
    check_refuses(project, f"{first}:", f"{second}:", "2 problem(s) found")


# ---- draft templates -------------------------------------------------------------------------------
def test_check_reports_template_syntax_error_with_file_and_line(project: Path) -> None:
    template = project / "messages" / "en" / "drafts" / "other" / "first_response.x.j2"
    template.write_text("We are looking into it.\n{{ hashtag }\n", encoding="utf-8")
    check_refuses(project, f"{template}:2:", "template syntax error", "fix the tag")


def test_check_reports_template_over_x_limit_with_file_and_line(project: Path) -> None:
    template = project / "messages" / "nl" / "drafts" / "service-outage" / "first_response.x.j2"
    template.write_text("W" * 300 + "\n", encoding="utf-8")
    check_refuses(project, f"{template}:1:", "300 characters", "x limit of 280", "shorten it")


def test_check_counts_each_link_as_23_characters_on_x(project: Path) -> None:
    # 250 letters and a 60-character link: 310 raw, but X counts 250 + 23 = 273, within the limit.
    template = project / "messages" / "en" / "drafts" / "other" / "resolved.x.j2"
    template.write_text("R" * 250 + " https://status.example.com/" + "p" * 33 + "\n", encoding="utf-8")
    result = cli("check", "--config", project / "crisisbot.yaml")
    assert result.exit_code == 0, result.output


def test_check_reports_undefined_variable_in_a_template(project: Path) -> None:
    template = project / "messages" / "nl" / "drafts" / "data-breach" / "status_update.linkedin.j2"
    template.write_text("Beste {{ customer_name }}, {{ update }}\n{{ hashtag }}\n", encoding="utf-8")
    check_refuses(project, f"{template}:", "'customer_name' is undefined", "variables you can use: company")


def test_check_reports_template_reaching_into_python(project: Path) -> None:
    template = project / "messages" / "en" / "drafts" / "negative-reviews" / "first_response.linkedin.j2"
    template.write_text("{{ ''.__class__.__mro__ }}\n", encoding="utf-8")
    check_refuses(project, f"{template}:", "unsafe")


def test_check_reports_a_missing_template(project: Path) -> None:
    template = project / "messages" / "nl" / "drafts" / "other" / "resolved.linkedin.j2"
    template.unlink()
    check_refuses(project, f"{template}:", "template missing", "other/resolved/linkedin", "crisisbot init")


def test_check_ignores_templates_of_channels_the_company_does_not_use(project: Path) -> None:
    # The project uses x and linkedin only: a broken Facebook template cannot reach the public.
    template = project / "messages" / "en" / "drafts" / "other" / "first_response.facebook.j2"
    template.write_text("{% if %}\n", encoding="utf-8")
    result = cli("check", "--config", project / "crisisbot.yaml")
    assert result.exit_code == 0, result.output


# ---- UI strings ------------------------------------------------------------------------------------
def test_check_reports_a_ui_string_missing_in_one_language(project: Path) -> None:
    dutch = project / "messages" / "nl" / "ui.yaml"
    strings = yaml.safe_load(dutch.read_text(encoding="utf-8"))
    del strings["button"]["approve"]
    dutch.write_text(yaml.safe_dump(strings, allow_unicode=True), encoding="utf-8")
    check_refuses(project, f"{dutch}:", "missing UI string", "'button.approve'", "translate it")


def test_check_reports_a_ui_string_with_a_syntax_error(project: Path) -> None:
    english = project / "messages" / "en" / "ui.yaml"
    edit(english, "  approve: Approve\n", '  approve: "Approve {{ }}"\n')
    check_refuses(project, f"{english}:", "button.approve", "template syntax error")


def test_check_reports_malformed_ui_yaml_with_its_line(project: Path) -> None:
    english = project / "messages" / "en" / "ui.yaml"
    edit(english, "  approve: Approve\n", "  approve: [Approve\n")
    check_refuses(project, f"{english}:", "malformed YAML")


@pytest.mark.parametrize("language", LANGUAGES)
def test_shipped_ui_strings_exist_for_every_language(language: str) -> None:
    assert (default_dir("messages") / language / "ui.yaml").is_file(), f"messages/{language}/ui.yaml missing"


def test_check_reports_a_detection_rule_without_dutch_terms(project: Path) -> None:
    playbook = project / "playbooks" / "data-breach.yaml"
    edit(playbook, "        nl: [phishing, nepmail, valse mail]\n", "")
    check_refuses(project, f"{playbook}:", "detection.rules.1.keywords.nl", "add this key")


def test_check_reports_a_level_signal_for_level_one(project: Path) -> None:
    playbook = project / "playbooks" / "service-outage.yaml"
    edit(playbook, "    2: {reach: 20000, alerts: 10}", "    1: {reach: 20000, alerts: 10}")
    check_refuses(project, f"{playbook}:", "signals suggest level 2 or 3")


def test_check_reports_an_intake_mapping_without_a_title(project: Path) -> None:
    config = project / "crisisbot.yaml"
    with config.open("a", encoding="utf-8") as out:
        out.write(
            "intake:\n  sources:\n    brandwatch:\n      format: mapped\n      mapping:\n"
            "        fields: {alert_key: id, detected_at: date}\n"
        )
    check_refuses(project, f"{config}:", "intake.sources.brandwatch.mapping.fields", "map title too")


def test_check_reports_a_mapped_source_without_its_mapping(project: Path) -> None:
    config = project / "crisisbot.yaml"
    with config.open("a", encoding="utf-8") as out:
        out.write("intake:\n  sources:\n    brandwatch:\n      format: mapped\n")
    check_refuses(project, f"{config}:", "intake.sources.brandwatch", "needs a mapping")


def test_check_reports_a_source_without_a_secret(project: Path) -> None:
    config = project / "crisisbot.yaml"
    with config.open("a", encoding="utf-8") as out:
        out.write("intake:\n  sources:\n    coosto:\n      format: generic\n")
    check_refuses(project, f"{config}:{line_of(config, 'coosto:')}:", "no secret", "INTAKE_SECRET_COOSTO")

"""`crisisbot` on the command line: help with examples, `init`, `plan`, and refusing bad input cleanly."""

from __future__ import annotations

import subprocess
from pathlib import Path

import click
import pytest
import typer
import yaml

from bot.cli import app
from bot.config import default_dir, load_settings
from tests.fixtures_foundation import (
    assert_refused,
    cli,
    crisisbot_executable,
    isolate,
    make_project,
    tree_hash,
)

COMMANDS = sorted(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
DEFAULT_SCENARIOS = sorted(p.stem for p in default_dir("playbooks").glob("*.yaml"))


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    return isolate(monkeypatch, tmp_path)


# ---- help -----------------------------------------------------------------------------------------
def test_top_level_help_lists_every_command_with_an_example() -> None:
    result = cli("--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output
    for name in ("init", "check", "plan", "serve", "demo", "manifest"):
        assert name in COMMANDS
        assert name in result.output


def test_no_arguments_shows_the_help_instead_of_doing_something() -> None:
    result = cli()
    assert "Usage" in result.output
    assert "Commands" in result.output


@pytest.mark.parametrize("name", COMMANDS)
def test_every_command_explains_itself_with_an_example(name: str) -> None:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    assert (command.help or "").strip(), f"`crisisbot {name}` has no help text"
    result = cli(name, "--help")
    assert result.exit_code == 0, result.output
    assert "Example" in result.output, f"`crisisbot {name} --help` shows no example"
    assert f"crisisbot {name}" in " ".join(result.output.split()), "the example should show the command itself"


@pytest.mark.parametrize("name", COMMANDS)
def test_every_option_of_every_command_says_what_it_is_for(name: str) -> None:
    command = typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]
    silent = [p.name for p in command.params if isinstance(p, click.Option) and not (p.help or "").strip()]
    assert not silent, f"`crisisbot {name}` options without help: {silent}"


def test_installed_console_script_prints_help() -> None:
    executable = crisisbot_executable()
    assert executable.exists(), f"console script not installed at {executable}"
    done = subprocess.run([str(executable), "init", "--help"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert "Example: crisisbot init" in done.stdout.replace("\n", " ")
    assert not done.stderr


def test_installed_console_script_refuses_a_missing_config_with_exit_2_and_no_traceback(tmp_path: Path) -> None:
    done = subprocess.run(
        [str(crisisbot_executable()), "check", "--config", "nope.yaml"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "nope.yaml" in done.stderr
    assert "crisisbot init" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout


# ---- init -----------------------------------------------------------------------------------------
def test_init_writes_config_playbooks_and_messages(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    assert sorted(p.name for p in project.iterdir()) == ["crisisbot.yaml", "messages", "playbooks"]
    assert sorted(p.stem for p in (project / "playbooks").glob("*.yaml")) == DEFAULT_SCENARIOS
    assert (project / "messages" / "en" / "drafts" / "data-breach" / "first_response.x.j2").is_file()
    assert (project / "messages" / "nl" / "drafts" / "data-breach" / "first_response.linkedin.j2").is_file()


def test_init_config_holds_the_answers_and_points_at_the_copies(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    settings = load_settings(project / "crisisbot.yaml", environ={})
    assert settings.company.name == "Acme"
    assert settings.company.industry == "logistics"
    assert settings.company.channels == ["x", "linkedin"]
    assert settings.company.language == "nl"
    assert settings.company.hashtag == "#UpdateAcme"
    assert settings.scenarios == DEFAULT_SCENARIOS
    assert settings.playbooks_dir == project / "playbooks"
    assert settings.messages_dir == project / "messages"
    assert settings.db_path == project / "crisisbot.db"


def test_init_then_check_passes(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = cli("check", "--config", project / "crisisbot.yaml")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK:")
    assert "5 playbooks" in result.output


def test_init_with_only_some_scenarios_copies_only_those_playbooks(tmp_path: Path) -> None:
    project = make_project(tmp_path, "project", "--scenarios", "data-breach,service-outage")
    assert sorted(p.stem for p in (project / "playbooks").glob("*.yaml")) == ["data-breach", "service-outage"]
    # with their drill scripts, so the copy can be drilled and edited like the playbooks
    assert sorted(p.stem for p in (project / "playbooks" / "drills").glob("*.yaml")) == [
        "data-breach",
        "service-outage",
    ]
    body = yaml.safe_load((project / "crisisbot.yaml").read_text(encoding="utf-8"))
    assert body["scenarios"] == ["data-breach", "service-outage"]


def test_init_refuses_to_overwrite_without_force_and_changes_nothing(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "crisisbot.yaml").write_text("company:\n  name: Our own edits\n", encoding="utf-8")
    before = tree_hash(project)
    result = cli("init", "--company", "Other", "--yes", "--dir", project)
    assert_refused(result, "crisisbot.yaml", "--force")
    assert tree_hash(project) == before


def test_init_with_force_overwrites_the_existing_project(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "playbooks" / "data-breach.yaml").write_text("broken: [", encoding="utf-8")
    result = cli("init", "--company", "Other BV", "--yes", "--force", "--dir", project)
    assert result.exit_code == 0, result.output
    assert load_settings(project / "crisisbot.yaml", environ={}).company.name == "Other BV"
    shipped = (default_dir("playbooks") / "data-breach.yaml").read_text(encoding="utf-8")
    assert (project / "playbooks" / "data-breach.yaml").read_text(encoding="utf-8") == shipped


def test_init_asks_each_question_when_not_given_on_the_command_line(tmp_path: Path) -> None:
    project = tmp_path / "asked"
    answers = (
        "\n".join(
            [
                "Bakkerij de Vries",  # company
                "food",  # industry
                "facebook,x",  # channels
                "nl",  # language
                "",  # hashtag: take the default
                "https://status.example.nl",  # FAQ URL
                "",  # timezone: take the default
                "negative-reviews,other",  # scenarios
            ]
        )
        + "\n"
    )
    result = cli("init", "--dir", project, input=answers)
    assert result.exit_code == 0, result.output
    for prompt in (
        "Company name",
        "Industry",
        "Social channels",
        "Default language",
        "Fixed crisis hashtag",
        "FAQ or status page URL",
        "Timezone",
        "Scenarios",
    ):
        assert prompt in result.output
    settings = load_settings(project / "crisisbot.yaml", environ={})
    assert settings.company.name == "Bakkerij de Vries"
    assert settings.company.industry == "food"
    assert settings.company.channels == ["facebook", "x"]
    assert settings.company.language == "nl"
    assert settings.company.hashtag == "#UpdateBakkerijDeVries"
    assert settings.company.faq_url == "https://status.example.nl"
    assert settings.company.timezone == "Europe/Amsterdam"
    assert settings.scenarios == ["negative-reviews", "other"]


def test_interactive_init_with_an_unknown_language_writes_nothing(tmp_path: Path) -> None:
    project = tmp_path / "asked"
    answers = "Acme\ngeneral\nx\nde\n\n\n\n\n"
    result = cli("init", "--dir", project, input=answers)
    assert_refused(result, "--language", "'en'")
    assert not project.exists()


@pytest.mark.parametrize(
    ("option", "value", "expected"),
    [
        ("--channels", "x,tiktok", "unknown value 'tiktok'"),
        ("--scenarios", "data-breach,alien-invasion", "alien-invasion"),
        ("--timezone", "Mars/Olympus_Mons", "Mars/Olympus_Mons"),
        ("--hashtag", "no hashtag", "'no hashtag' is not a hashtag"),
        ("--language", "de", "'de'"),
    ],
)
def test_init_refuses_a_bad_answer_and_writes_nothing(tmp_path: Path, option: str, value: str, expected: str) -> None:
    project = tmp_path / "project"
    result = cli("init", "--yes", "--dir", project, option, value)
    assert_refused(result, expected)
    assert not project.exists()


# ---- plan -----------------------------------------------------------------------------------------
def test_plan_prints_the_dutch_plan(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    result = cli("plan", "--config", project / "crisisbot.yaml", "--language", "nl")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("# ")
    assert "Acme" in result.stdout
    assert "Datalek" in result.stdout  # the Dutch name of the data-breach scenario


def test_plan_writes_the_english_plan_to_a_file(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    output = tmp_path / "plan.md"
    result = cli("plan", "--config", project / "crisisbot.yaml", "--language", "en", "--output", output)
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert text.startswith("# ")
    assert "Acme" in text
    assert "Data breach" in text
    assert "#UpdateAcme" in text
    assert str(output) in result.stdout


def test_plan_in_an_unknown_language_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    before = tree_hash(tmp_path)
    result = cli("plan", "--config", project / "crisisbot.yaml", "--language", "de", "--output", tmp_path / "p.md")
    assert_refused(result, "--language", "'de'", "en, nl")
    assert tree_hash(tmp_path) == before


def test_plan_on_a_broken_playbook_is_refused_with_file_and_line(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "playbooks" / "other.yaml").write_text("name:\n  en: [unclosed\n", encoding="utf-8")
    before = tree_hash(tmp_path)
    result = cli("plan", "--config", project / "crisisbot.yaml", "--output", tmp_path / "p.md")
    assert_refused(result, f"{project / 'playbooks' / 'other.yaml'}:")
    assert tree_hash(tmp_path) == before

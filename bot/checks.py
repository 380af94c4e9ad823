"""`crisisbot check`: validate config, playbooks and templates, listing every problem with its place."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from jinja2 import TemplateError, TemplateSyntaxError, UndefinedError

from bot.config import Settings
from bot.errors import ConfigError
from bot.ids import DRAFT_KINDS, LANGUAGES
from bot.incidents.drills.script import script_problems
from bot.messages import (
    SAMPLE_VALUES,
    DraftValues,
    Messages,
    draft_path,
    limit_of,
    load_ui_file,
    measured_length,
)
from bot.playbooks import Playbook, _line_of, load_playbooks
from bot.templating import sandbox

EMPTY_VALUES = DraftValues(company=SAMPLE_VALUES.company, hashtag=SAMPLE_VALUES.hashtag)


@dataclass
class Report:
    problems: list[str] = field(default_factory=list)
    playbooks: int = 0
    drill_scripts: int = 0
    templates: int = 0
    ui_strings: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def run_checks(settings: Settings) -> Report:
    """Check everything the bot will load, without stopping at the first problem."""
    report = Report()
    try:
        books = load_playbooks(settings.playbooks_dir)
    except ConfigError as exc:
        report.problems.extend(exc.problems)
        books = {}
    report.playbooks = len(books)
    for index, scenario in enumerate(settings.scenarios or []):
        if scenario not in books and books:
            where = (
                f"{settings.config_path}:{_config_line(settings.config_path, ['scenarios', index])}"
                if settings.config_path
                else "config"
            )
            report.problems.append(f"{where}: scenarios: unknown scenario {scenario!r} — valid: {', '.join(books)}")
    _check_drill_scripts(settings.playbooks_dir, list(books), report)
    messages = Messages(settings.messages_dir)
    for book in books.values():
        _check_drafts(book, settings, messages, report)
    _check_ui(settings.messages_dir, report)
    _check_intake(settings, report)
    return report


def _check_drill_scripts(playbooks_dir: Path, scenarios: list[str], report: Report) -> None:
    """Every drill script (playbooks/drills/*.yaml): valid, and for a scenario that has a playbook. A scenario
    without one is allowed (it cannot be drilled, and `/crisis drill` says so)."""
    for path in sorted((playbooks_dir / "drills").glob("*.yaml")):
        problems = script_problems(path, scenarios or None)
        report.problems.extend(problems)
        report.drill_scripts += not problems


def _check_intake(settings: Settings, report: Report) -> None:
    """Every monitoring source has its secret (else each of its alerts is refused with 401)."""
    for source in settings.intake.sources:
        if source not in settings.intake_secrets:
            where = settings.config_path or "config"
            line = _config_line(settings.config_path, ["intake", "sources", source]) if settings.config_path else 1
            variable = f"INTAKE_SECRET_{source.upper().replace('-', '_')}"
            report.problems.append(
                f"{where}:{line}: intake.sources.{source}: no secret — set `secret:` there or {variable} in the "
                "environment (every alert of this source is refused until then)"
            )


def _config_line(path: Path, loc: list[int | str]) -> int:
    """The line of `loc` in the config file, for problems found after the file itself validated."""
    try:
        return _line_of(yaml.compose(path.read_text(encoding="utf-8")), loc)
    except (OSError, yaml.YAMLError):
        return 1


def _check_drafts(book: Playbook, settings: Settings, messages: Messages, report: Report) -> None:
    kinds = sorted({book.drafts.declare, book.drafts.update, book.drafts.resolve}, key=DRAFT_KINDS.index)
    networks = [n for n in settings.company.channels if n in book.channels]
    for language in LANGUAGES:
        for kind in kinds:
            for network in networks:
                relative = draft_path(language, book.id, kind, network)
                path = settings.messages_dir / relative
                if not path.is_file():
                    report.problems.append(
                        f"{path}:1: template missing for {book.id}/{kind}/{network} in {language} — "
                        "create it (copy the defaults with `crisisbot init`)"
                    )
                    continue
                report.templates += 1
                _check_one_draft(messages, path, (language, book.id, kind, network), report)


def _check_one_draft(messages: Messages, path: Path, key: tuple[str, str, str, str], report: Report) -> None:
    language, scenario, kind, network = key
    for values in (SAMPLE_VALUES, EMPTY_VALUES):
        try:
            text = messages.draft(language, scenario, kind, network, values)
        except TemplateSyntaxError as exc:
            report.problems.append(f"{path}:{exc.lineno}: template syntax error: {exc.message} — fix the tag")
            return
        except UndefinedError as exc:
            valid = ", ".join(DraftValues.__dataclass_fields__)
            report.problems.append(f"{path}:1: {exc.message} — variables you can use: {valid}")
            return
        except TemplateError as exc:
            report.problems.append(f"{path}:1: template error: {exc} — check the template")
            return
        length, limit = measured_length(network, text), limit_of(network)
        if length > limit:
            report.problems.append(
                f"{path}:1: renders to {length} characters with sample values, over the {network} limit of "
                f"{limit} — shorten it (X counts every link as 23)"
            )
            return
        if not text.strip():
            report.problems.append(f"{path}:1: renders to empty text — write the message")
            return


def _check_ui(root: Path, report: Report) -> None:
    env = sandbox("line")  # parsed with the lexer the bot compiles them with
    keys: dict[str, set[str]] = {}
    for language in LANGUAGES:
        path = root / language / "ui.yaml"
        try:
            strings = load_ui_file(path)
        except ConfigError as exc:
            report.problems.extend(exc.problems)
            continue
        keys[language] = set(strings)
        report.ui_strings += len(strings)
        for key, source in strings.items():
            try:
                env.parse(source)
            except TemplateSyntaxError as exc:
                report.problems.append(f"{path}:1: {key}: template syntax error: {exc.message} — fix the tag")
    if len(keys) == len(LANGUAGES):
        every = set().union(*keys.values())
        for language, present in keys.items():
            for key in sorted(every - present):
                report.problems.append(
                    f"{root / language / 'ui.yaml'}:1: missing UI string {key!r} — "
                    "translate it from the other language's file"
                )

"""The written crisis-communication plan: the handbook, rendered from the files the bot itself runs on.

`crisisbot plan` calls `render_plan`. Python only gathers facts (playbooks, rendered drafts, owners,
limits) into plain dicts and lists; every word of the handbook lives in `messages/<lang>/plan.md.j2`,
rendered in Jinja2's sandbox like every other template a comms lead may edit. The drafts are rendered
by the same `Messages.draft` the bot uses when it drafts, so the handbook cannot promise a message the
bot would not send.
"""

from __future__ import annotations

import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from babel.dates import format_date
from babel.numbers import format_decimal
from jinja2 import FileSystemLoader, TemplateError, TemplateNotFound, nodes
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from bot.config import Settings, default_dir
from bot.errors import ConfigError
from bot.ids import ROLES
from bot.messages import (
    X_URL_LENGTH,
    DraftValues,
    Messages,
    draft_path,
    duration,
    first_response_rule,
    limit_of,
    locale_of,
    measured_length,
)
from bot.messages import tidy as tidy_text
from bot.playbooks import ChecklistItem, Playbook
from bot.templating import sandbox

PAUSE_ITEM = "pause_scheduled_posts"
# Draft variables only a live incident knows; the plan template names the placeholder shown for each.
PLACEHOLDER_KEYS = ("next_update", "update", "summary")


def plan_template_path(language: str) -> str:
    """The plan template's path below the messages folder."""
    return f"{language}/plan.md.j2"


def render_plan(
    settings: Settings,
    playbooks: dict[str, Playbook],
    messages: Messages,
    language: str,
    role_owners: dict[str, list[str]] | None = None,
    user_names: dict[str, str] | None = None,
    generated_at: datetime | None = None,
) -> str:
    """The company's crisis-communication plan as Markdown, in `language`.

    `playbooks` is rendered as given (the caller filters by `settings.scenarios`). `role_owners` is
    `Store.role_owners()`; when None, the owners seeded in the config are shown. Raises ConfigError
    listing every missing or broken template at once; a template that tries to reach Python raises
    jinja2's SecurityError unchanged.
    """
    env = plan_environment(messages.root)
    path = plan_template_path(language)
    placeholders = template_constant(env, messages.root, path, "placeholders", PLACEHOLDER_KEYS)
    company = settings.company
    values = DraftValues(
        company=company.name,
        hashtag=company.hashtag,
        faq_url=company.faq_url,
        next_update=placeholders["next_update"],
        update=placeholders["update"],
        summary=placeholders["summary"],
    )
    books = list(playbooks.values())
    problems: list[str] = []
    scenarios = [_scenario(book, settings, messages, language, values, problems) for book in books]
    if problems:
        raise ConfigError(problems)
    context = {
        "language": language,
        "company": company.model_dump(),
        "generated_on": _generated_on(generated_at, settings, language),
        "networks": _networks(company.channels, language),
        "x_url_length": X_URL_LENGTH,
        "first_response": [_minutes(m, language) for m in sorted({b.deadlines.first_response_minutes for b in books})],
        "first_response_rule": [
            first_response_rule(messages, language, m)
            for m in sorted({b.deadlines.first_response_minutes for b in books})
        ],
        "scenarios": scenarios,
        "roles": _roles(settings.role_owners if role_owners is None else role_owners, user_names or {}),
        "first_hour": _merged(books, lambda book: _pause_first(book.checklist.first_hour), language),
        "ongoing": _merged(books, lambda book: book.checklist.ongoing, language),
        "after": _merged(books, lambda book: book.checklist.after, language),
        "authority_notice": [s for s in scenarios if s["authority_notification_hours"]],
        "monitored": [s for s in scenarios if s["monitoring"]],
        "unmonitored": [s for s in scenarios if not s["monitoring"]],
        "detected": [s for s in scenarios if s["detection"]],
        "watched_around_the_clock": [s for s in scenarios if s["monitoring"] and s["monitoring"]["watch"] == "24/7"],
        "documentation": _documentation(settings),
    }
    return _render(env, messages.root, path, context)


def plan_environment(root: Path) -> SandboxedEnvironment:
    """The sandbox the plan renders in: no Python reachable, no silent holes, Markdown left unescaped."""
    return sandbox("document", FileSystemLoader(str(root)))


def template_constant(
    env: SandboxedEnvironment, root: Path, path: str, name: str, keys: tuple[str, ...]
) -> dict[str, str]:
    """The literal dict a template assigns at top level with `{% set name = {...} %}`, read without rendering.

    The draft placeholders are needed before the drafts render, so before the plan itself can; reading
    the literal from the parsed template keeps that wording in the template and executes nothing.
    """
    where = root / path
    try:
        source = FileSystemLoader(str(root)).get_source(env, path)[0]
        tree = env.parse(source, path, str(where))
    except TemplateNotFound:
        problem = "plan template missing — copy the defaults with `crisisbot init`"
        raise ConfigError([f"{where}:1: {problem}"]) from None
    except TemplateError as exc:
        raise ConfigError([f"{where}:{_template_line(exc, where)}: {exc.message or exc}"]) from exc
    assigned = [
        node.node for node in tree.body if isinstance(node, nodes.Assign) and getattr(node.target, "name", None) == name
    ]
    try:
        value = assigned[0].as_const() if assigned and isinstance(assigned[0], nodes.Expr) else None
    except nodes.Impossible:
        value = None
    if isinstance(value, dict) and set(keys) <= set(value):
        return {key: str(value[key]) for key in keys}
    wanted = ", ".join(f'"{key}": "…"' for key in keys)
    problem = f"the plan needs a literal `{{% set {name} = {{{wanted}}} %}}` at top level"
    raise ConfigError([f"{where}:1: {problem}"])


def _render(env: SandboxedEnvironment, root: Path, path: str, context: dict[str, Any]) -> str:
    try:
        text = env.get_template(path).render(**context)
    except SecurityError:
        raise  # a template reaching for Python is not a typo to explain: let it surface as what it is
    except TemplateError as exc:
        where = root / path
        raise ConfigError([f"{where}:{_template_line(exc, where)}: {exc.message or exc}"]) from exc
    return tidy_text(text) + "\n"


def _template_line(exc: TemplateError, where: Path) -> int:
    """The template line an error happened on; jinja2 rewrites tracebacks to point into the template."""
    line = getattr(exc, "lineno", None)
    if line:
        return int(line)
    frames = [frame for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == str(where)]
    return (frames[-1].lineno or 1) if frames else 1


def _generated_on(generated_at: datetime | None, settings: Settings, language: str) -> str:
    when = generated_at or datetime.now(UTC)
    # The date a reader sees is the company's date, not the server's UTC one.
    local = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(settings.tz)
    return format_date(local.date(), format="long", locale=locale_of(language))


def _minutes(minutes: int, language: str) -> str:
    return duration(timedelta(minutes=minutes), language)


def _monitoring(book: Playbook, language: str) -> dict[str, Any] | None:
    watch = book.monitoring
    if watch is None:
        return None
    return {
        "tools": list(watch.tools),
        "watch": watch.watch,
        "watched_by": watch.watched_by,
        "signals": watch.signals.in_(language) if watch.signals else "",
    }


def _detection(book: Playbook, language: str) -> dict[str, Any] | None:
    """The scenario's detection rules: the terms in the plan's language first, and the level signals."""
    found = book.detection
    if found is None:
        return None
    other = "nl" if language == "en" else "en"
    rules = [
        {"id": rule.id, "terms": list(getattr(rule.keywords, language)), "other": list(getattr(rule.keywords, other))}
        for rule in found.rules
    ]
    levels = [
        {"level": level, "reach": signal.reach, "alerts": signal.alerts, "sentiment": signal.sentiment}
        for level, signal in found.levels.items()
    ]
    return {"rules": rules, "levels": levels}


def _documentation(settings: Settings) -> dict[str, str]:
    """Where the plan's sources are kept, as the team would find them: relative to the config file if below it."""
    base = settings.config_path.parent if settings.config_path else None

    def shown(path: Path, default: Path) -> str:
        if path.resolve() == default.resolve():
            return ""  # the shipped defaults: the template says how to get editable copies
        if base is not None and path.is_relative_to(base):
            return str(path.relative_to(base)) + "/"
        return str(path)

    return {
        "playbooks": shown(settings.playbooks_dir, default_dir("playbooks")),
        "messages": shown(settings.messages_dir, default_dir("messages")),
        "config": settings.config_path.name if settings.config_path else "",
    }


def _networks(channels: Sequence[str], language: str) -> list[dict[str, Any]]:
    """The company's social channels with their character limits, formatted for the reader's locale."""
    return [
        {"id": network, "limit": format_decimal(limit_of(network), locale=locale_of(language))} for network in channels
    ]


def _scenario(
    book: Playbook, settings: Settings, messages: Messages, language: str, values: DraftValues, problems: list[str]
) -> dict[str, Any]:
    """One playbook as the plan shows it: what it covers, its levels and its rendered drafts."""
    return {
        "id": book.id,
        "name": book.name.in_(language),
        "description": book.description.in_(language),
        "first_response": _minutes(book.deadlines.first_response_minutes, language),
        "first_response_rule": first_response_rule(messages, language, book.deadlines.first_response_minutes),
        "monitoring": _monitoring(book, language),
        "detection": _detection(book, language),
        "authority_notification_hours": book.deadlines.authority_notification_hours,
        "levels": [_level(book, number, language) for number in sorted(book.levels)],
        "drafts": _drafts(book, settings, messages, language, values, problems),
    }


def _level(book: Playbook, number: int, language: str) -> dict[str, Any]:
    level = book.level(number)
    return {
        "number": number,
        "criteria": level.criteria.in_(language),
        "roles": list(level.roles),
        "approvers": list(level.approvers),
        "ack_within": _minutes(level.ack_within_minutes, language),
        "update_every": _minutes(level.update_every_minutes, language),
        "advice": level.advice.in_(language) if level.advice else "",
    }


def _drafts(
    book: Playbook, settings: Settings, messages: Messages, language: str, values: DraftValues, problems: list[str]
) -> list[dict[str, Any]]:
    """Every draft the bot would make for this scenario: each kind it uses × the channels it drafts for."""
    # The same selection as the bot's `networks_for`: the company's channels, in the company's order.
    networks = [network for network in settings.company.channels if network in book.channels]
    kinds = dict.fromkeys([book.drafts.declare, book.drafts.update, book.drafts.resolve])
    drafts = []
    for kind in kinds:
        for network in networks:
            text = _draft_text(messages, language, (book.id, kind, network), values, problems)
            if text is not None:
                length, limit = measured_length(network, text), limit_of(network)
                drafts.append(
                    {
                        "kind": kind,
                        "network": network,
                        "text": text,
                        "fits": length <= limit,
                        "length": format_decimal(length, locale=locale_of(language)),
                        "limit": format_decimal(limit, locale=locale_of(language)),
                    }
                )
    return drafts


def _draft_text(
    messages: Messages, language: str, draft: tuple[str, str, str], values: DraftValues, problems: list[str]
) -> str | None:
    """One rendered draft, or None after noting why not (every problem is reported in one go)."""
    scenario, kind, network = draft
    where = messages.root / draft_path(language, scenario, kind, network)
    if not messages.has_draft(language, scenario, kind, network):
        problems.append(
            f"{where}:1: draft template missing — add it, or remove {network} from the channels of playbook {scenario}"
        )
        return None
    try:
        return messages.draft(language, scenario, kind, network, values)
    except SecurityError:
        raise
    except TemplateError as exc:
        problems.append(f"{where}:{_template_line(exc, where)}: {exc.message or exc}")
        return None


def _roles(owners: dict[str, list[str]], user_names: dict[str, str]) -> list[dict[str, Any]]:
    """Each role with its owner and backups as people will recognise them: names if known, else ids."""
    seats = []
    for role in ROLES:
        people = [user_names.get(user, user) for user in owners.get(role, [])]
        seats.append({"id": role, "owner": people[0] if people else "", "backups": people[1:]})
    return seats


def _pause_first(items: list[ChecklistItem]) -> list[ChecklistItem]:
    # A cheerful scheduled post in the middle of a crisis is the classic own goal: pausing comes first.
    return sorted(items, key=lambda item: item.id != PAUSE_ITEM)


def _merged(
    books: list[Playbook], items_of: Callable[[Playbook], list[ChecklistItem]], language: str
) -> dict[str, Any]:
    """One checklist for all scenarios: the shared steps around each scenario's own steps.

    A step is shared only when its id, wording and role all match in every scenario (`assess_facts` asks
    different questions per scenario, so it stays with each). A shared step opens the list only if it
    comes before every scenario's own steps; otherwise it closes it, so the order of the playbooks holds.
    """
    steps_of = {book.id: [_step(item, language) for item in items_of(book)] for book in books}
    first = steps_of[books[0].id] if books else []
    shared = [step for step in first if all(step in steps for steps in steps_of.values())]
    own = {scenario: [step for step in steps if step not in shared] for scenario, steps in steps_of.items()}

    def opens(step: dict[str, str]) -> bool:
        return all(
            not own[scenario] or steps.index(step) < steps.index(own[scenario][0])
            for scenario, steps in steps_of.items()
        )

    return {
        "start": [step for step in shared if opens(step)],
        "per_scenario": [
            {"id": book.id, "name": book.name.in_(language), "steps": own[book.id]} for book in books if own[book.id]
        ],
        "finish": [step for step in shared if not opens(step)],
    }


def _step(item: ChecklistItem, language: str) -> dict[str, str]:
    return {"id": item.id, "text": item.text.in_(language), "role": item.role or ""}


__all__ = [
    "PLACEHOLDER_KEYS",
    "plan_environment",
    "plan_template_path",
    "render_plan",
    "template_constant",
]

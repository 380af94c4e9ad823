"""Render wording from `messages/`: public draft templates and the bot's own UI strings, per language.

Templates run in the one sandbox of `bot.templating` (StrictUndefined), so a comms lead's template can
neither reach into Python nor silently print an empty hole. The UI strings may be given an `escape` function: every
`{{ value }}` then passes through it unless it is wrapped in `Markup` (the chat adapter uses this to
escape user text for Slack mrkdwn while keeping the mentions it builds itself).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cache, cached_property
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import yaml
from babel import Locale
from babel.dates import format_date, format_time, format_timedelta
from jinja2 import FileSystemLoader, Template
from jinja2.sandbox import SandboxedEnvironment
from markupsafe import Markup

from bot.errors import ConfigError, not_utf8
from bot.ids import LANGUAGES, NETWORK_LIMITS
from bot.templating import sandbox
from bot.yamlload import load_yaml

URL = re.compile(r"https?://\S+")
_COMPILE_LOCK = threading.RLock()
PLATFORM_WORDS = frozenset({"platform", "cmd", "space"})  # what bot/chat/wording.py gives every UI string
X_URL_LENGTH = 23  # X shortens every link to a t.co URL of this length


def measured_length(network: str, text: str) -> int:
    """The length the network itself counts for `text`."""
    if network == "x":
        return len(URL.sub("", text)) + X_URL_LENGTH * len(URL.findall(text))
    return len(text)


def limit_of(network: str) -> int:
    return NETWORK_LIMITS[network]


def fits(network: str, text: str) -> bool:
    return measured_length(network, text) <= limit_of(network)


@dataclass(frozen=True)
class DraftValues:
    """The variables every public draft template receives."""

    company: str
    hashtag: str
    faq_url: str = ""
    next_update: str = ""
    update: str = ""
    summary: str = ""
    # Recorded facts a closing draft may state only when the timeline holds them.
    authority_notified: bool = False
    done: tuple[str, ...] = ()  # the checklist items ticked off


SAMPLE_VALUES = DraftValues(
    company="Acme Logistics International",
    hashtag="#UpdateAcmeLogistics",
    faq_url="https://status.acme-logistics.example/faq/incident-updates",
    # The longest form public_time writes (another day's date, a summer zone): a template that fits with it
    # fits on every day of the year.
    next_update="23:59 CEST on 30 September",
    update="We have restored access for most customers and are monitoring the remaining errors closely.",
    summary="All systems have been working normally since 15:10 and the cause has been fixed.",
    authority_notified=True,
    done=("notify_affected", "contact_customer", "notify_authority"),
)


def draft_path(language: str, scenario: str, kind: str, network: str) -> str:
    """The template's path below the messages folder."""
    return f"{language}/drafts/{scenario}/{kind}.{network}.j2"


class Messages:
    """All wording of the bot, loaded once from one messages folder."""

    def __init__(self, root: Path, escape: Callable[[str], str] | None = None) -> None:
        self.root = root
        self._escape = escape
        self.env = sandbox("line", FileSystemLoader(str(root)), finalize=self._finalize if escape else None)
        # The platform a string names and how its commands are typed; a Wording passes its dialect's (Teams:
        # "Teams", "@Crisis Desk"), so these defaults only speak where no platform is known (CLI, Slack's own).
        self.env.globals.update(platform="Slack", cmd="/crisis")

    def with_escape(self, escape: Callable[[str], str]) -> Messages:
        """The same wording, with user values escaped for a chat platform's markup (made once, then shared)."""
        variants: dict[Callable[[str], str], Messages] = self.__dict__.setdefault("_variants", {})
        made = variants.get(escape)  # every Wording asks: no lock once it exists (concurrent requests queued on it)
        if made is not None:
            return made
        with _COMPILE_LOCK:
            if escape not in variants:
                variants[escape] = Messages(self.root, escape)
            return variants[escape]

    def _finalize(self, value: Any) -> Any:
        if isinstance(value, Markup) or not isinstance(value, str) or self._escape is None:
            return value
        return self._escape(value)

    # ---- public drafts -------------------------------------------------------------------------
    def draft(self, language: str, scenario: str, kind: str, network: str, values: DraftValues) -> str:
        """Render one public draft; plain text, never escaped (it is meant for the social network)."""
        template = self._draft_env.get_template(draft_path(language, scenario, kind, network))
        return tidy(template.render(**values.__dict__))

    def has_draft(self, language: str, scenario: str, kind: str, network: str) -> bool:
        return (self.root / draft_path(language, scenario, kind, network)).is_file()

    @cached_property
    def _draft_env(self) -> SandboxedEnvironment:
        return sandbox("document", FileSystemLoader(str(self.root)))

    # ---- UI strings ----------------------------------------------------------------------------
    def ui(self, language: str, key: str, /, **params: Any) -> str:
        """One UI string, e.g. `ui("nl", "button.approve")`."""
        language = language if language in LANGUAGES else "en"
        fixed = params.keys() <= PLATFORM_WORDS  # a label, a heading: nothing of the caller's own
        if fixed:
            memo = (language, key, *(str(params.get(k, "")) for k in sorted(PLATFORM_WORDS)))
            said = self._said.get(memo)
            if said is not None:
                return said
        template = self._ui_templates(language).get(key)
        if template is None:
            raise KeyError(f"UI string {key!r} missing in {language}/ui.yaml")
        said = template.render(**params).strip()
        if fixed:  # a card draws dozens of these: rendered once per platform, not on every card
            self._said[memo] = said
        return said

    @cached_property
    def _said(self) -> dict[tuple[str, ...], str]:
        return {}  # bounded by the strings × languages × platforms; a dict write is atomic under the GIL

    def compile_all(self, drafts: bool = True) -> None:
        """Compile every UI string (and draft template) now, so nobody's first request pays for it.

        A declare is the first to need its scenario's drafts and often the first reply in a language:
        compiling them then cost the first declare after a start about 60 ms before Slack heard of it.
        """
        for language in LANGUAGES:
            if (self.root / language / "ui.yaml").is_file():
                self._ui_templates(language)
            if drafts:
                for path in sorted((self.root / language / "drafts").glob("*/*.j2")):
                    self._draft_env.get_template(path.relative_to(self.root).as_posix())

    def ui_keys(self, language: str) -> set[str]:
        return set(self._ui_source(language))

    def _ui_templates(self, language: str) -> dict[str, Template]:
        cache: dict[str, dict[str, Template]] = self.__dict__.setdefault("_compiled", {})
        if language not in cache:
            with _COMPILE_LOCK:  # parallel Slack calls must not each compile the whole file
                if language not in cache:
                    cache[language] = {k: self.env.from_string(v) for k, v in self._ui_source(language).items()}
        return cache[language]

    def _ui_source(self, language: str) -> dict[str, str]:
        cache: dict[str, dict[str, str]] = self.__dict__.setdefault("_sources", {})
        if language not in cache:
            with _COMPILE_LOCK:
                if language not in cache:
                    cache[language] = load_ui_file(self.root / language / "ui.yaml")
        return cache[language]


def load_ui_file(path: Path) -> dict[str, str]:
    """Flatten a nested ui.yaml into dotted keys: {"button": {"approve": "Approve"}} → "button.approve"."""
    try:
        data = load_yaml(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        problem = f"{path}:1: cannot read UI strings ({exc.strerror}) — copy them with `crisisbot init`"
        raise ConfigError([problem]) from None
    except UnicodeDecodeError as exc:
        raise ConfigError([not_utf8(path, exc)]) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else 1
        raise ConfigError([f"{path}:{line}: malformed YAML — fix the indentation/quoting"]) from None
    flat: dict[str, str] = {}

    def walk(prefix: str, node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(f"{prefix}.{key}" if prefix else str(key), value)
        else:
            flat[prefix] = str(node)

    walk("", data)
    return flat


def tidy(text: str) -> str:
    """Strip trailing spaces and collapse runs of blank lines a template's optional parts leave behind."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


# ---- people-facing time, formatted with babel ------------------------------------------------------
# English is formatted the British way (24-hour clock, day before month): the product's home market is
# European, and "14:05" is unambiguous in a crisis where "2:05" is not.
LOCALES = {"en": "en_GB", "nl": "nl_NL"}


@cache
def locale_of(language: str) -> Locale:
    """Babel's locale for one of our languages, parsed once: given a name, each of Babel's calls parses it again
    (a look at its data files on disk each time; a card has a dozen times and durations)."""
    return Locale.parse(LOCALES.get(language, "en_GB"))


def local_time(when: datetime, language: str, tz: ZoneInfo) -> str:
    """`14:05` in the company's timezone."""
    return format_time(when.astimezone(tz), format="short", locale=locale_of(language))


def day_text(day: date, language: str) -> str:
    """`Apr 1, 2026` / `1 apr 2026`: a due date as people read it."""
    return format_date(day, format="medium", locale=locale_of(language))


def zone_name(when: datetime, tz: ZoneInfo) -> str:
    """`CET`, `CEST`, `GMT`, `EST`: the tz database's abbreviation; `UTC+4` where it has only an offset."""
    local = when.astimezone(tz)
    name = local.tzname() or ""
    if name.isalpha():
        return name
    minutes = round((local.utcoffset() or timedelta()).total_seconds() / 60)
    sign, minutes = ("+" if minutes >= 0 else "-"), abs(minutes)
    return f"UTC{sign}{minutes // 60}" + (f":{minutes % 60:02d}" if minutes % 60 else "")


def public_time(when: datetime, language: str, tz: ZoneInfo, today: datetime, messages: Messages) -> str:
    """A time for a public text: `22:00 CET`, and `22:00 CET on 15 March` when it is not `today`'s date.

    A reader of a public post may be in another timezone and reads it later; the company's timezone and
    the date (in that timezone) make the promise unambiguous.
    """
    local = when.astimezone(tz)
    values = {"time": local_time(when, language, tz), "zone": zone_name(when, tz)}
    if local.date() == today.astimezone(tz).date():
        return messages.ui(language, "public_time.today", **values)
    date = format_date(local, "d MMMM", locale=locale_of(language))
    return messages.ui(language, "public_time.other_day", date=date, **values)


def first_response_rule(messages: Messages, language: str, minutes: int) -> str:
    """The first-response rule ("within 60 minutes of detection"): one wording for the plan, the header and the help."""
    return messages.ui(language, "rule.first_response", minutes=duration(timedelta(minutes=minutes), language))


def duration(delta: timedelta, language: str) -> str:
    """`42 minutes` / `42 minuten`; whole minutes, because seconds are noise in a crisis."""
    minutes = max(0, round(abs(delta.total_seconds()) / 60))
    if minutes >= 120:
        return format_timedelta(timedelta(minutes=minutes), locale=locale_of(language), threshold=2)
    return format_timedelta(
        timedelta(minutes=minutes), granularity="minute", threshold=1000, locale=locale_of(language)
    )

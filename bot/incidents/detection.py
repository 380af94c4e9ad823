"""Detection: a monitoring alert becomes (part of) a triage card, in one transaction.

`accept_alert` is the core verb behind `POST /intake/<source>` (bot/intake/): it drops a source's retry of an
alert it already has (same source and alert key), groups related alerts within a window into one triage (the
same scenario and matched rule, else the same url), keeps a burst off the channel (each source opens at most
`cards_per_window` cards per rate window; the rest are counted on its latest card as held back), suggests a
scenario and level from the playbooks' detection rules, and writes the outbox row that posts or redraws the
triage card, all in the same transaction: a crash after it loses nothing, a crash before it leaves nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Annotated, Literal

from pydantic import AfterValidator, AliasChoices, BaseModel, ConfigDict, Field, field_validator

from bot.incidents.desk import Desk
from bot.models import Triage
from bot.playbooks import Playbook

MAX_TITLE = 200
MAX_TEXT = 2000
MAX_KEYWORDS = 20
REDRAW_AFTER = timedelta(seconds=10)  # crisis time between a card's redraws while alerts keep joining it


def _capped(limit: int) -> AfterValidator:
    """Alert text is untrusted and of any length: kept to `limit` characters, whitespace runs folded."""

    def cap(value: str) -> str:
        value = " ".join(value.split())
        return value if len(value) <= limit else value[: limit - 1] + "…"

    return AfterValidator(cap)


class Alert(BaseModel):
    """The generic JSON alert (README: "Monitoring alerts"); other sources are mapped onto it."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    alert_key: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        validation_alias=AliasChoices("alert_key", "key", "id")
    )
    title: Annotated[str, Field(min_length=1, max_length=10 * MAX_TITLE), _capped(MAX_TITLE)]
    text: Annotated[str, Field(max_length=20 * MAX_TEXT), _capped(MAX_TEXT)] = ""
    url: Annotated[str, Field(max_length=2000)] | None = None
    network: Annotated[str, Field(max_length=40), _capped(40)] | None = None
    author: Annotated[str, Field(max_length=400), _capped(120)] | None = None
    reach: Annotated[int, Field(ge=0, le=10**12)] | None = Field(
        default=None, validation_alias=AliasChoices("reach", "volume")
    )
    sentiment: Annotated[float, Field(ge=-1, le=1)] | None = None
    matched_keywords: list[Annotated[str, Field(max_length=200), _capped(80)]] = Field(
        default_factory=list, max_length=MAX_KEYWORDS * 5, validation_alias=AliasChoices("matched_keywords", "keywords")
    )
    detected_at: datetime

    @field_validator("title")
    @classmethod
    def _something_to_say(cls, value: str) -> str:
        if not value:
            raise ValueError("title is empty: say in a few words what the alert is about")
        return value

    @field_validator("url")
    @classmethod
    def _web_link(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        if not re.fullmatch(r"https?://[^\s<>|]+", value):
            raise ValueError("url must be an http(s) link without spaces")
        return value

    @field_validator("sentiment", mode="before")
    @classmethod
    def _sentiment_word(cls, value: object) -> object:
        """Tools that label sentiment instead of scoring it: negative, neutral, positive."""
        words = {"negative": -0.8, "neutral": 0.0, "positive": 0.8}
        return words.get(value.strip().lower(), value) if isinstance(value, str) else value

    @field_validator("detected_at")
    @classmethod
    def _aware(cls, value: datetime) -> datetime:
        if value.tzinfo is None:
            raise ValueError("detected_at needs a timezone, e.g. 2026-03-14T09:00:00Z")
        return value.astimezone(UTC)

    @field_validator("matched_keywords")
    @classmethod
    def _few(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(v for v in value if v))[:MAX_KEYWORDS]


@dataclass(frozen=True)
class Match:
    """The playbook rule an alert matched, and the terms that matched it."""

    scenario: str
    rule: str
    terms: tuple[str, ...]


@dataclass(frozen=True)
class Limits:
    """How alerts group and how many cards a source may open (the config's `intake:`)."""

    group_window: timedelta = timedelta(minutes=30)
    rate_window: timedelta = timedelta(minutes=10)
    cards_per_window: int = 5


@dataclass(frozen=True)
class Accepted:
    """What became of an alert: a new card, joined a card, held back by the rate limit, or already had."""

    outcome: Literal["new", "grouped", "held", "duplicate"]
    triage: Triage
    queued: bool = False  # a new outbox row waits (the runner must wake for it); False when one was waiting already


@lru_cache(maxsize=512)
def _pattern(term: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(term)}(?!\w)")


def match_rule(playbooks: dict[str, Playbook], alert: Alert) -> Match | None:
    """The rule whose terms the alert's title, text and matched keywords hold most of (ties: playbook order)."""
    return match_text(playbooks, " ".join([alert.title, alert.text, *alert.matched_keywords]))


def match_text(playbooks: dict[str, Playbook], text: str) -> Match | None:
    """The rule whose terms `text` holds most of (ties: playbook order): also for a message someone declares from."""
    haystack = text.casefold()
    best: Match | None = None
    for scenario, book in playbooks.items():
        for rule in book.detection.rules if book.detection else []:
            terms = tuple(t for t in rule.keywords.all() if _pattern(t).search(haystack))
            if terms and (best is None or len(terms) > len(best.terms)):
                best = Match(scenario, rule.id, terms)
    return best


def suggested_level(book: Playbook | None, alerts: int, reach: int, sentiment: float | None) -> int:
    """The highest level one of whose signals the grouped alerts meet; 1 when none is."""
    if book is None or book.detection is None:
        return 1
    for level in sorted(book.detection.levels, reverse=True):
        signal = book.detection.levels[level]
        if (
            (signal.reach is not None and reach >= signal.reach)
            or (signal.alerts is not None and alerts >= signal.alerts)
            or (signal.sentiment is not None and sentiment is not None and sentiment <= signal.sentiment)
        ):
            return level
    return 1


def group_key(source: str, alert: Alert, match: Match | None) -> str:
    if match is not None:
        return f"rule:{match.scenario}:{match.rule}"
    if alert.url:
        return f"url:{alert.url}"
    return f"alert:{source}:{alert.alert_key}"


def accept_alert(desk: Desk, source: str, alert: Alert, limits: Limits = Limits()) -> Accepted:
    """Record one alert from `source` and queue its card (new or redrawn); a retry of a known alert changes nothing."""
    store = desk.store
    now = desk.now()
    with desk.deciding():
        known = store.alert_triage(source, alert.alert_key)
        if known is not None:
            return Accepted("duplicate", store.triage(known))
        detected = min(alert.detected_at, now)  # a source's clock ahead of ours does not move detection later
        match = match_rule(desk.playbooks, alert)
        key = group_key(source, alert, match)
        triage = store.grouping_triage(key, now - limits.group_window)
        outcome: Literal["new", "grouped", "held"] = "grouped"
        if triage is None:
            opened = store.source_cards(source, now - limits.rate_window)
            if len(opened) >= limits.cards_per_window:
                outcome, triage = "held", opened[-1]
            else:
                outcome, triage = "new", _open(desk, source, alert, match, key, detected)
        store.insert_alert(
            source=source,
            alert_key=alert.alert_key,
            triage_id=triage.id,
            held=outcome == "held",
            received_at=now,
            detected_at=detected,
            data=alert.model_dump(mode="json", exclude={"alert_key", "detected_at"})
            | {"scenario": match.scenario if match else None, "rule": match.rule if match else None}
            | {"terms": list(match.terms) if match else []},
        )
        triage = _recount(desk, triage, outcome, detected, now)
        queued = False
        if triage.platform:  # a posted card's redraw waits a moment: a burst of alerts redraws it once
            due = now + REDRAW_AFTER if triage.card_ref else now
            queued = store.add_triage_outbox(triage.id, "triage_card", now, due=due) is not None
        return Accepted(outcome, triage, queued)


def _open(desk: Desk, source: str, alert: Alert, match: Match | None, key: str, detected: datetime) -> Triage:
    now = desk.now()
    return desk.store.insert_triage(
        source=source,
        group_key=key,
        scenario=match.scenario if match else None,
        rule=match.rule if match else None,
        level=1,
        status="open",
        platform=desk.settings.watch_platform,
        title=alert.title,
        url=alert.url,
        alerts=0,
        held_back=0,
        realerts=0,
        reach=0,
        detected_at=detected,
        last_alert_at=now,
        created_at=now,
    )


def _recount(desk: Desk, triage: Triage, outcome: str, detected: datetime, now: datetime) -> Triage:
    """The triage's counts, reach, sentiment and suggested level after one more alert (a held one only counts)."""
    if outcome == "held":
        return desk.store.update_triage(triage.id, held_back=triage.held_back + 1)
    count, reach, sentiment = desk.store.triage_figures(triage.id)
    book = desk.playbooks.get(triage.scenario or "")
    fields: dict[str, object] = {
        "alerts": count,
        "reach": reach,
        "sentiment": sentiment,
        "level": suggested_level(book, count, reach, sentiment),
        "last_alert_at": now,
        "detected_at": min(triage.detected_at, detected),
    }
    if triage.status == "watching" and triage.watch_alerts and count >= 2 * triage.watch_alerts:
        # re-alert: a new card (the old one keeps saying who chose Watch), the volume having doubled since
        fields |= {"status": "open", "watch_alerts": None, "card_ref": None, "card_tried_at": None}
        fields["realerts"] = triage.realerts + 1
    return desk.store.update_triage(triage.id, **fields)

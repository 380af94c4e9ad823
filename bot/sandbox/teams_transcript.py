"""Readable terminal rendering of the Teams emulator's history: Adaptive Cards as plain lines, condensed.

bot/sandbox/transcript.py does this for Slack's Block Kit; the condensing rules are the same (new messages in
full, long ones abbreviated, each redraw one line saying what changed, the same 1:1 message to several people one
line), so they come from there (`changed_lines`, `cut`, `redraw_label`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from rich.console import RenderableType
from rich.panel import Panel
from rich.text import Text

from bot.sandbox.teams.model import Event
from bot.sandbox.transcript import ONE_LINE, WORDS, changed_lines, cut, redraw_label

# The Teams transcript's own words beside the Slack ones (messages/*/ui.yaml `transcript.*`, str.format patterns).
TEAMS_WORDS: dict[str, str] = {
    **WORDS,
    "installed": "Crisis Desk installed in the team",
    "refused": "✖ Teams refused a message: {text}",
    "sees": "👁 {user} sees: {text}",
    "no_buttons": "the card without buttons",
    "notice": "↳ shown to {user} only: {text}",
}
_AT = re.compile(r"<at>(.*?)</at>", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*(.+?)\*\*")


def inline(text: str) -> str:
    """Card markdown as a person reads it: mentions `@Name`, links their title, bold unmarked."""
    text = _AT.sub(lambda m: "@" + m.group(1), text)
    text = _LINK.sub(lambda m: m.group(1), text)
    return _BOLD.sub(lambda m: m.group(1), text).replace("\u200b", "")


def buttons(actions: list[Any]) -> str:
    """A row of card actions as bracketed controls (a link shows where it goes)."""
    shown = []
    for action in actions:
        if not isinstance(action, dict):
            continue
        label = f"[ {action.get('title', '')} ]"
        shown.append(f"{label} → {action['url']}" if action.get("type") == "Action.OpenUrl" else label)
    return "  ".join(shown)


def _element(el: dict[str, Any]) -> list[str]:
    kind = el.get("type")
    if kind == "TextBlock":
        return [inline(str(el.get("text", "")))]
    if kind == "RichTextBlock":
        return ["".join(str(run.get("text", "")) for run in el.get("inlines") or [] if isinstance(run, dict))]
    if kind == "FactSet":
        return [f"{inline(str(f.get('title', '')))}: {inline(str(f.get('value', '')))}" for f in el.get("facts") or []]
    if kind == "ActionSet":
        return [buttons(el.get("actions") or [])]
    if kind == "Image":
        return [f"[image: {el.get('altText', '')}] {el.get('url', '')}"]
    if kind == "ColumnSet":
        columns = [_items(col.get("items") or []) for col in el.get("columns") or [] if isinstance(col, dict)]
        if all(len(col) <= 1 for col in columns):  # a line with its button beside it: one line, as Teams shows it
            return ["  ".join(line for col in columns for line in col)]
        return [line for col in columns for line in col]
    if kind == "Container":
        return _items(el.get("items") or [])
    if isinstance(kind, str) and kind.startswith("Input."):
        label = el.get("label") or el.get("placeholder") or el.get("id")
        return [f"{label}: [ {el.get('value') or '…'} ]"]
    return [f"[{kind}]"]


def _items(items: list[Any]) -> list[str]:
    return [line for el in items if isinstance(el, dict) for line in _element(el)]


def card_lines(card: dict[str, Any] | None) -> list[str]:
    """An Adaptive Card as the lines a person reads (its body, then its own actions), without styling."""
    if not card:
        return []
    lines = _items(card.get("body") or [])
    if card.get("actions"):
        lines.append(buttons(card["actions"]))
    return [part.strip() for line in lines for part in line.splitlines() if part.strip()]


def event_lines(event: Event) -> list[str]:
    """What a posted or updated message says: its card's lines, else its text."""
    if event.cards:
        return card_lines(event.cards[0])
    return [line.strip() for line in inline(event.text).splitlines() if line.strip()]


class TeamsCondenser:
    """The Teams emulator's events as a transcript a person reads in two minutes (bot/sandbox/transcript.py's
    Condenser in Teams terms): new posts and replies in full, each redraw one line, 1:1 messages one line each."""

    def __init__(
        self, where: Callable[[Event], str], words: dict[str, str] | None = None, max_chars: int = 700
    ) -> None:
        self.where = where  # a readable name for an event's conversation ("#crisis › CR-2026-001", "@Anna de Vries")
        self.words = {**TEAMS_WORDS, **(words or {})}
        self.max_chars = max_chars
        self.in_full: set[str] = set()  # activity ids always shown whole (the incidents' header cards)
        self.shown: dict[str, list[str]] = {}
        self.whole: set[str] = set()  # of those, the ones already shown whole once
        self.redraws = 0

    def render(self, events: list[Event]) -> list[RenderableType]:
        out: list[RenderableType] = []
        pending: tuple[str, list[str]] | None = None
        for event in events:
            line = self._dm_line(event)
            if line is not None:
                if pending and pending[0] == line:
                    pending[1].append(event.user or "?")
                    continue
                out.extend(self._flush(pending))
                pending = (line, [event.user or "?"])
                continue
            out.extend(self._flush(pending))
            pending = None
            rendered = self._event(event)
            if rendered is not None:
                out.append(rendered)
        out.extend(self._flush(pending))
        return out

    def full(self, event: Event) -> RenderableType:
        """One message in full, whatever was shown of it before (the header at the start and at the end)."""
        lines = event_lines(event)
        self.shown[event.activity_id or ""] = lines
        return self._panel(event, lines, "green")

    def _flush(self, pending: tuple[str, list[str]] | None) -> list[RenderableType]:
        if pending is None:
            return []
        line, people = pending
        who = ", ".join("@" + person for person in people)
        label = self.words["dm_to" if len(people) == 1 else "dms_to"].format(people=who)
        text = Text(label, style="magenta")
        text.append(" " + cut(line, max(30, ONE_LINE - len(label))))
        return [text]

    def _dm_line(self, event: Event) -> str | None:
        if event.kind != "dm":
            return None
        lines = event_lines(event)
        self.shown[event.activity_id or ""] = lines
        controls = " ".join(part for line in lines for part in re.findall(r"\[ [^\]]+ \]", line))
        first = cut(lines[0] if lines else "", max(30, ONE_LINE - 30 - len(controls)))
        return f"{first} {controls}".strip()

    def _event(self, event: Event) -> RenderableType | None:
        kind, key = event.kind, event.activity_id or ""
        if kind == "message_updated":
            return self._redraw(event, key)
        if kind in ("thread_started", "message_posted"):
            lines = event_lines(event)
            self.shown[key] = lines
            if sum(len(line) for line in lines) > self.max_chars and key not in self.in_full:
                keep, chars = 1, len(lines[0])
                while keep < len(lines) - 2 and chars + len(lines[keep]) <= self.max_chars // 2:
                    chars += len(lines[keep])
                    keep += 1
                more = self.words["more"].format(count=len(lines) - keep - 2)
                lines = [*lines[:keep], more, *lines[-2:]]
            return self._panel(event, lines, "green")
        if kind == "installed":
            return Text(self.words["installed"], style="dim")
        if kind == "refused":
            return Text(self.words["refused"].format(text=event.text), style="red")
        if kind == "message_deleted":
            return Text(self.words["deleted"].format(where=self.where(event)), style="dim")
        return None  # the person's own message, click, dialog or submit: the demo's narration says it

    def _redraw(self, event: Event, key: str) -> RenderableType | None:
        lines = event_lines(event)
        before = self.shown.get(key)
        self.shown[key] = lines
        if before is None or (key in self.in_full and key not in self.whole):
            self.whole.add(key)  # a thread's root becoming its header: shown whole the first time
            return self._panel(event, lines, "green")
        self.redraws += 1
        change = changed_lines(before, lines)
        if not change:
            return None
        text = Text(f"✎ {self.where(event)} · {redraw_label(lines)}:", style="yellow")
        text.append(" " + cut(" · ".join(change), ONE_LINE + 40))
        return text

    def _panel(self, event: Event, lines: list[str], style: str) -> Panel:
        title = f"{self.where(event)} · {event.user or '?'}"
        return Panel(Text("\n".join(lines) or " "), title=Text(title), title_align="left", border_style=style)

"""Readable terminal rendering of the Teams emulator's history: Adaptive Cards as text, condensed for the demo.

The same shape as the Slack transcript (bot/sandbox/transcript.py): `render_event` for one event, and a
`Condenser` whose `render(events)` shows new posts in full, a redraw as one line saying what changed, each 1:1
message as one line (the same one to several people as one line naming them), dialogs and clicks as one line.
"""

from __future__ import annotations

import re
from typing import Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

from bot.sandbox.teams.model import Event
from bot.sandbox.transcript import ONE_LINE, changed_lines

# The transcript's own words, English unless the caller gives the demo's language (messages/*/ui.yaml
# `transcript.*`); each is a str.format pattern.
WORDS: dict[str, str] = {
    "edited": "{where} · message edited",
    "deleted": "{where}: a message was deleted",
    "dm_to": "✉ DM to {people}:",
    "dms_to": "✉ DMs to {people}:",
    "form": "▭ form “{title}” opened for {user}",
    "more": "… {count} more lines …",
    "pressed": "{user} pressed “{label}”",
    "submitted": "{user} submitted the form",
    "installed": "Crisis Desk added to the team",
    "refused": "✗ Teams refused: {text}",
}
_MENTION = re.compile(r"<at>(.*?)</at>")
_BUTTONS = ("Action.Execute", "Action.Submit", "Action.OpenUrl", "Action.ShowCard", "Action.ToggleVisibility")


def _plain(text: Any) -> str:
    return _MENTION.sub(r"@\1", str(text or "")).replace("**", "")


def _element_lines(element: Any) -> list[str]:
    """Return what a person reads of one card element (containers: their items, in order)."""
    if not isinstance(element, dict) or element.get("isVisible") is False:
        return []
    kind = element.get("type")
    if kind == "TextBlock":
        return [_plain(element.get("text"))]
    if kind == "RichTextBlock":
        return ["".join(_plain(i.get("text") if isinstance(i, dict) else i) for i in element.get("inlines") or [])]
    if kind == "FactSet":
        return [f"{_plain(f.get('title'))}: {_plain(f.get('value'))}" for f in element.get("facts") or []]
    if kind == "Image":
        return [f"[image: {element.get('altText') or 'chart'}]"]
    if kind == "ActionSet":
        return [_buttons(element.get("actions"))]
    if str(kind).startswith("Input."):
        return [f"▭ {_plain(element.get('label') or element.get('placeholder') or element.get('id'))}"]
    children = element.get("items") or element.get("columns") or []
    return [line for child in children for line in _element_lines(child)]


def _buttons(actions: Any) -> str:
    labels = [a.get("title") for a in actions or [] if isinstance(a, dict) and a.get("type") in _BUTTONS]
    return " ".join(f"[ {label} ]" for label in labels if label)


def card_lines(card: dict[str, Any] | None) -> list[str]:
    """Return an Adaptive Card as lines of text, its buttons last as `[ Label ]`."""
    if not card:
        return []
    lines = [line for element in card.get("body") or [] for line in _element_lines(element)]
    buttons = _buttons(card.get("actions"))
    return [line.strip() for line in [*lines, buttons] if line and line.strip()]


def plain_lines(event: Event) -> list[str]:
    """The activity as a person reads it: its text, then each card, line by line."""
    text = [line.strip() for line in _plain(event.text).splitlines() if line.strip()]
    cards = [line for card in event.cards for line in card_lines(card)]
    return cards if cards and not text else [*text, *cards]


def _cut(text: str, width: int = ONE_LINE) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _panel(lines: list[str], title: str, style: str) -> Panel:
    return Panel(Text("\n".join(lines) or " "), title=Text(title), title_align="left", border_style=style)


def render_event(event: Event, words: dict[str, str] | None = None) -> RenderableType:
    """Return a rich renderable for one event (a panel for posts, a line for the rest)."""
    say = {**WORDS, **(words or {})}
    where = event.conversation or "?"
    kind = event.kind
    if kind in ("thread_started", "message_posted", "user_message", "dm"):
        style = {"user_message": "blue", "dm": "magenta"}.get(kind, "green")
        return _panel(plain_lines(event), f"{where} · {event.user}", style)
    if kind == "message_updated":
        return _panel(plain_lines(event), say["edited"].format(where=where), "yellow")
    lines = {
        "message_deleted": say["deleted"].format(where=where),
        "card_action": say["pressed"].format(user=event.user, label=event.text),
        "task_opened": say["form"].format(title=event.text, user=event.user),
        "task_submitted": say["submitted"].format(user=event.user),
        "installed": say["installed"],
        "refused": say["refused"].format(text=_cut(event.text, 90)),
    }
    style = {"refused": "red", "task_opened": "cyan", "message_deleted": "dim"}.get(kind, "")
    return Text(lines.get(kind, f"{kind}: {event.text}"), style=style)


def render_transcript(events: list[Event], words: dict[str, str] | None = None) -> Group:
    """Return every event, in full, as one renderable group (`emu.events[since:]` for a part)."""
    return Group(*(render_event(e, words) for e in events))


class Condenser:
    """Turns the Teams emulator's events into a transcript a person reads in two minutes."""

    def __init__(self, max_chars: int = 700, words: dict[str, str] | None = None) -> None:
        self.words = {**WORDS, **(words or {})}
        self.max_chars = max_chars  # a longer new post shows its opening and says how many lines follow
        self.shown: dict[str | None, list[str]] = {}  # activity id -> the lines shown of it last
        self.redraws = 0

    def render(self, events: list[Event]) -> list[RenderableType]:
        """Return the renderables for `events`, in order."""
        out: list[RenderableType] = []
        pending: tuple[str, list[str]] | None = None  # the same DM line to several people becomes one line
        for event in events:
            if event.kind == "dm":
                line = self._dm_line(event)
                if pending and pending[0] == line:
                    pending[1].append(event.conversation or "")
                    continue
                out.extend(self._flush(pending))
                pending = (line, [event.conversation or ""])
                continue
            out.extend(self._flush(pending))
            pending = None
            rendered = self._event(event)
            if rendered is not None:
                out.append(rendered)
        out.extend(self._flush(pending))
        return out

    def full(self, event: Event) -> RenderableType:
        """One post in full, whatever was shown of it before (the header at the start and at the end)."""
        self.shown[event.activity_id] = plain_lines(event)
        return render_event(event, self.words)

    def _dm_line(self, event: Event) -> str:
        lines = plain_lines(event)
        self.shown[event.activity_id] = lines
        buttons = " ".join(part for line in lines for part in re.findall(r"\[ [^\]]+ \]", line))
        first = _cut(lines[0] if lines else "", max(30, ONE_LINE - 30 - len(buttons)))
        return f"{first} {buttons}".strip()

    def _flush(self, pending: tuple[str, list[str]] | None) -> list[RenderableType]:
        if pending is None:
            return []
        line, people = pending
        label = self.words["dm_to" if len(people) == 1 else "dms_to"].format(people=", ".join(people))
        return [Text.assemble((label, "magenta"), " ", _cut(line, ONE_LINE - len(label)))]

    def _event(self, event: Event) -> RenderableType | None:
        lines = plain_lines(event)
        if event.kind == "message_updated":
            before = self.shown.get(event.activity_id)
            self.shown[event.activity_id] = lines
            if before is None:
                return render_event(event, self.words)
            self.redraws += 1
            change = changed_lines(before, lines)
            if not change:
                return None
            label = _cut(lines[0] if lines else "", 50)
            return Text.assemble((f"✎ {event.conversation} · {label}:", "yellow"), " ", _cut(" · ".join(change), 150))
        if event.kind in ("thread_started", "message_posted"):
            self.shown[event.activity_id] = lines
            if sum(len(line) for line in lines) > self.max_chars:
                return self._abbreviated(event, lines)
        return render_event(event, self.words)

    def _abbreviated(self, event: Event, lines: list[str]) -> RenderableType:
        """A long post (a LinkedIn draft): its first lines, its last two (the buttons), how many are left out."""
        keep, chars = 1, len(lines[0])
        while keep < len(lines) - 2 and chars + len(lines[keep]) <= self.max_chars // 2:
            chars += len(lines[keep])
            keep += 1
        body = [*lines[:keep], self.words["more"].format(count=len(lines) - keep - 2), *lines[-2:]]
        return _panel(body, f"{event.conversation} · {event.user}", "green")

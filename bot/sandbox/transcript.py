"""Readable terminal rendering of the emulator's history: Block Kit and mrkdwn as rich markup."""

from __future__ import annotations

import html
import re
from functools import partial
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.panel import Panel
from rich.text import Text

if TYPE_CHECKING:
    from bot.sandbox.emulator import SlackEmulator
    from bot.sandbox.model import Event

_ENTITY = re.compile(r"<([^<>]+)>")
_STYLES = (
    (re.compile(r"(?<![\w*])\*(?!\s)([^*\n]+?)(?<!\s)\*(?![\w*])"), "bold"),
    (re.compile(r"(?<![\w_])_(?!\s)([^_\n]+?)(?<!\s)_(?![\w_])"), "italic"),
    (re.compile(r"(?<![\w~])~(?!\s)([^~\n]+?)(?<!\s)~(?![\w~])"), "strike"),
    (re.compile(r"`([^`\n]+)`"), "cyan"),
)
_BUTTON_STYLES = {"primary": "green", "danger": "red"}
RULE = "─" * 48
# The transcript's own words, English unless the caller gives the demo's language (messages/*/ui.yaml
# `transcript.*`); each is a str.format pattern.
WORDS: dict[str, str] = {
    "created": "{channel} created",
    "private": " (private)",
    "added": "{where}: {people} added",
    "joined": "{where}: {people} joined",
    "pinned": "📌 pinned in {where}: {text}",
    "topic": "{where} topic: {text}",
    "purpose": "{where} purpose: {text}",
    "deleted": "{where}: a message was deleted",
    "edited": "{where} · message edited",
    "ephemeral": "{where} · only visible to {user}",
    "dm_to": "✉ DM to {people}:",
    "dms_to": "✉ DMs to {people}:",
    "form": "▭ form “{title}” opened for {user}",
    "more": "… {count} more lines …",
}
# Tags are built with private-use sentinels and turned into rich markup only at the end, so text
# from messages (brackets, backslashes) can be escaped without touching the tags we add.
_OPEN, _CLOSE = "\ue000", "\ue001"
_LITERAL_TAG = re.compile(r"(\\*)(\[[a-z#/@][^\[]*?])")
_BACKSLASHES_BEFORE_TAG = re.compile(r"(\\+)(?=\ue000)")


def _styled(style: str, text: str) -> str:
    return f"{_OPEN}{style}{_CLOSE}{text}{_OPEN}/{style}{_CLOSE}"


def _restyle(style: str, match: re.Match[str]) -> str:
    return _styled(style, match.group(1))


def _finish(text: str) -> str:
    """Turn sentinel-tagged text into rich markup: literal brackets escaped, our tags real."""
    text = _LITERAL_TAG.sub(lambda m: m.group(1) * 2 + "\\" + m.group(2), text)
    # rich halves a run of backslashes in front of a tag; double it so the text keeps them.
    text = _BACKSLASHES_BEFORE_TAG.sub(lambda m: m.group(1) * 2, text)
    return text.replace(_OPEN, "[").replace(_CLOSE, "]")


def _entity(inner: str, emulator: SlackEmulator | None) -> str:
    """Return the plain text for one `<...>` mrkdwn entity (mention, channel, link, date)."""
    target, _, label = inner.partition("|")
    if target.startswith("@"):
        return "@" + (label or (emulator.user_name(target[1:]) if emulator else target[1:]))
    if target.startswith("#"):
        return "#" + (label or (emulator.channel_name(target[1:]) if emulator else target[1:]))
    if target.startswith("!"):
        if target.startswith("!subteam^"):
            return label or "@group"
        if target.startswith("!date^"):
            return label or target
        return "@" + (label or target[1:])
    return f"{label} ({target})" if label and label != target else target


def _md(text: str, emulator: SlackEmulator | None) -> str:
    """Slack mrkdwn as sentinel-tagged text (`_finish` makes it rich markup): entities resolved, *bold* /
    _italic_ / ~strike~ / `code`. Text between ``` fences is a code block: shown verbatim, as Slack formats
    nothing inside it.
    """
    parts = text.split("```")
    out: list[str] = []
    for i, part in enumerate(parts):
        if i % 2 == 1 and i < len(parts) - 1:
            out.append(_styled("cyan", html.unescape(part.strip("\n"))))
        else:
            out.append(_inline(part if i % 2 == 0 else "```" + part, emulator))
    return "".join(out)


def _inline(text: str, emulator: SlackEmulator | None) -> str:
    # Entities are resolved first, so &lt;…&gt; (escaped by the app) stays literal text, as in Slack.
    out = _ENTITY.sub(lambda m: _entity(html.unescape(m.group(1)), emulator), text)
    out = html.unescape(out)
    for pattern, style in _STYLES:
        out = pattern.sub(partial(_restyle, style), out)
    return out


def _text(obj: Any, emulator: SlackEmulator | None) -> str:
    if not isinstance(obj, dict):
        return ""
    text = str(obj.get("text", ""))
    return _md(text, emulator) if obj.get("type") == "mrkdwn" else text


def _element(el: dict[str, Any], emulator: SlackEmulator | None) -> str:
    """Render an interactive element as a bracketed control."""
    kind = el.get("type")
    if kind == "button":
        label = f"[ {(el.get('text') or {}).get('text', '')} ]"
        color = _BUTTON_STYLES.get(str(el.get("style")))
        return _styled(color, label) if color else label
    if kind == "image":
        return f"[image: {el.get('alt_text', '')}]"
    if kind in ("plain_text", "mrkdwn"):
        return _text(el, emulator)
    if kind == "overflow":
        return "[ ⋯ ]"
    initial = el.get("initial_option") or {}
    shown = (initial.get("text") or {}).get("text") or (el.get("placeholder") or {}).get("text") or kind
    return f"[ {shown} ▾ ]"


def _rich_text(block: dict[str, Any]) -> str:
    parts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "text":
                parts.append(str(node.get("text", "")))
            elif node.get("type") in ("user", "channel"):
                parts.append(f"<{'@' if node['type'] == 'user' else '#'}{node.get(node['type'] + '_id', '')}>")
            elif node.get("type") == "link":
                parts.append(str(node.get("text") or node.get("url", "")))
            walk(node.get("elements"))
        elif isinstance(node, list):
            for child in node:
                walk(child)

    walk(block.get("elements"))
    return "".join(parts)


def render_blocks(blocks: list[dict[str, Any]] | None, emulator: SlackEmulator | None = None) -> str:
    """Turn Block Kit blocks into rich-markup terminal text (mentions resolved when given the emulator)."""
    return _finish(_blocks(blocks, emulator))


def _blocks(blocks: list[dict[str, Any]] | None, emulator: SlackEmulator | None) -> str:
    lines: list[str] = []
    for block in blocks or []:
        kind = block.get("type")
        if kind == "header":
            lines.append(_styled("bold", _text(block.get("text"), emulator)))
        elif kind == "section":
            if block.get("text"):
                lines.append(_text(block["text"], emulator))
            # Fields are a two-column grid in Slack; one per line reads better in a terminal.
            lines.extend("  " + _text(f, emulator).replace("\n", " ") for f in block.get("fields") or [])
            if isinstance(block.get("accessory"), dict):
                lines.append("    " + _element(block["accessory"], emulator))
        elif kind == "divider":
            lines.append(_styled("dim", RULE))
        elif kind == "context":
            parts = [_element(e, emulator) for e in block.get("elements") or [] if isinstance(e, dict)]
            lines.append(_styled("dim", "  ·  ".join(parts)))
        elif kind == "actions":
            lines.append("  ".join(_element(e, emulator) for e in block.get("elements") or [] if isinstance(e, dict)))
        elif kind == "input":
            element = block.get("element") or {}
            label = _text(block.get("label"), emulator) + (" (optional)" if block.get("optional") else "")
            value = element.get("initial_value") or (element.get("placeholder") or {}).get("text") or "…"
            shown = f"[ {value} ]" if element.get("type") == "plain_text_input" else _element(element, emulator)
            lines.append(f"{label}: {shown}")
        elif kind == "image":
            lines.append(f"[image: {block.get('alt_text', '')}]")
        elif kind == "rich_text":
            lines.append(_md(_rich_text(block), emulator))
        elif kind == "markdown":
            lines.append(_md(str(block.get("text", "")), emulator))
        else:
            lines.append(f"[{kind} block]")
    return "\n".join(lines)


def _body(event: Event, emulator: SlackEmulator | None) -> str:
    return (_blocks(event.blocks, emulator) if event.blocks else _md(event.text, emulator)) or " "


def _who(user_id: str | None, emulator: SlackEmulator | None) -> str:
    if not user_id:
        return "?"
    return "@" + (emulator.user_name(user_id) if emulator else user_id)


def _panel(body: str, title: str, style: str) -> Panel:
    return Panel(Text.from_markup(_finish(body)), title=Text(title), title_align="left", border_style=style)


def render_event(
    event: Event, emulator: SlackEmulator | None = None, words: dict[str, str] | None = None
) -> RenderableType:
    """Return a rich renderable for one emulator event (a panel for messages and views, else a line)."""
    say = {**WORDS, **(words or {})}
    where = f"DM {event.channel}" if (event.channel or "").startswith("@") else f"#{event.channel}"
    user = _who(event.user, emulator)
    author = _who(event.data.get("author") or event.user, emulator)
    thread = " › thread" if event.data.get("thread_ts") else ""
    kind = event.kind
    if kind in ("message_posted", "user_message", "file_shared", "dm"):
        body = _body(event, emulator)
        if kind == "file_shared":
            body = f"[file: {', '.join(event.data.get('files', []))}]\n{body}"
        style = {"user_message": "blue", "dm": "magenta"}.get(kind, "green")
        return _panel(body, f"{where}{thread} · {author}", style)
    if kind == "message_updated":
        return _panel(_body(event, emulator), say["edited"].format(where=where), "yellow")
    if kind == "ephemeral":
        return _panel(_body(event, emulator), say["ephemeral"].format(where=where, user=user), "dim")
    if kind in ("view_opened", "view_updated", "home_published"):
        title = "App Home" if kind == "home_published" else f"modal “{event.text}”"
        verb = {"view_opened": "opened", "view_updated": "updated", "home_published": "published"}[kind]
        return _panel(_blocks(event.blocks, emulator) or " ", f"{title} {verb} for {user}", "cyan")
    invited = ", ".join(_who(u, emulator) for u in event.data.get("users", []))
    lines = {
        "channel_created": say["created"].format(channel=_styled("bold", f"#{event.channel}"))
        + (say["private"] if event.data.get("is_private") else ""),
        "message_deleted": _styled("dim", say["deleted"].format(where=where)),
        "pinned": say["pinned"].format(
            where=where, text=cut(Text.from_markup(_finish(_md(event.text, emulator))).plain, 80)
        ),
        "topic_set": say["topic"].format(where=where, text=_md(event.text, emulator)),
        "purpose_set": say["purpose"].format(where=where, text=_md(event.text, emulator)),
        "invited": say["joined" if event.data.get("joined") else "added"].format(where=where, people=invited),
        "view_closed": _styled("dim", f"modal “{event.text}” closed for {user} ({event.data.get('reason')})"),
        "view_errors": _styled("red", f"modal errors for {user}: {event.data.get('errors')}"),
        "reaction_added": f"{where}: :{event.text}: added",
    }
    return Text.from_markup(_finish(lines.get(kind, f"{kind}: {event.text}")))


def render_transcript(emulator: SlackEmulator, since: int = 0) -> Group:
    """Return every event from index `since` on as one renderable group."""
    return Group(*(render_event(e, emulator) for e in emulator.events[since:]))


# ---- the condensed transcript of the demo ----------------------------------------------------------------
ONE_LINE = 110  # characters of a one-line summary before it is cut with "…"
_DIGITS = re.compile(r"\d+")


def plain_lines(event: Event, emulator: SlackEmulator | None = None) -> list[str]:
    """The message as a person reads it, line by line, without styling."""
    text = Text.from_markup(_finish(_body(event, emulator))).plain
    return [line.strip() for line in text.splitlines() if line.strip()]


def cut(text: str, width: int = ONE_LINE) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def changed_lines(before: list[str], after: list[str]) -> list[str]:
    """What a redraw changed, in reading order; empty when only the "updated at" line moved.

    A countdown ("31 minutes left" → "30 minutes left") differs from its old line only in its digits; such
    a line is named only when nothing else changed, so a redraw's summary says what really happened. The
    last line of a message whose digits alone changed is its "updated at" stamp: not a change worth a line.
    """
    old = set(before)
    new = [line for line in after if line not in old]
    shapes = {_DIGITS.sub("#", line) for line in before}
    real = [line for line in new if _DIGITS.sub("#", line) not in shapes]
    clock = [line for line in new if line != after[-1]]
    return real or clock[:1]


def redraw_label(lines: list[str]) -> str:
    """Which message a redraw is about: its first line up to its third part ("X draft · first response · version 2")."""
    return cut(" · ".join((lines[0] if lines else "").split(" · ")[:3]), 50)


class Condenser:
    """Turns the emulator's events into a transcript a person reads in two minutes.

    New channel messages are shown in full; a redraw of a message already shown (the pinned header
    after every click, a draft after each approval) becomes one line saying what changed; DMs and
    forms are one line each, and the same DM to several people is one line naming them all.
    """

    def __init__(self, emulator: SlackEmulator, max_chars: int = 700, words: dict[str, str] | None = None) -> None:
        self.emulator = emulator
        self.words = {**WORDS, **(words or {})}
        self.max_chars = max_chars  # a longer new message shows its opening and says how many lines follow
        self.in_full: set[str] = set()  # timestamps of messages always shown whole (the pinned headers)
        self.shown: dict[tuple[str | None, str | None], list[str]] = {}
        self.redraws = 0

    def render(self, events: list[Event]) -> list[RenderableType]:
        out: list[RenderableType] = []
        pending_dm: tuple[str, list[str]] | None = None
        for event in events:
            line = self._dm_line(event)
            if line is not None:
                who = (event.channel or "").lstrip("@")
                if pending_dm and pending_dm[0] == line:
                    pending_dm[1].append(who)
                    continue
                out.extend(self._flush(pending_dm))
                pending_dm = (line, [who])
                continue
            out.extend(self._flush(pending_dm))
            pending_dm = None
            rendered = self._event(event)
            if rendered is not None:
                out.append(rendered)
        out.extend(self._flush(pending_dm))
        return out

    def full(self, event: Event) -> RenderableType:
        """One message in full, whatever was shown of it before (the header at the start and at the end)."""
        self.shown[(event.channel_id, event.ts)] = plain_lines(event, self.emulator)
        return render_event(event, self.emulator, self.words)

    def _flush(self, pending: tuple[str, list[str]] | None) -> list[RenderableType]:
        if pending is None:
            return []
        line, people = pending
        who = ", ".join("@" + person for person in people)
        label = self.words["dm_to" if len(people) == 1 else "dms_to"].format(people=who)
        return [Text.from_markup(_finish(_styled("magenta", label) + " " + cut(line, ONE_LINE - len(label))))]

    def _dm_line(self, event: Event) -> str | None:
        if event.kind not in ("message_posted", "dm") or not (event.channel or "").startswith("@"):
            return None
        lines = plain_lines(event, self.emulator)
        self.shown[(event.channel_id, event.ts)] = lines
        buttons = " ".join(part for line in lines for part in re.findall(r"\[ [^\]]+ \]", line))
        first = cut(lines[0] if lines else "", max(30, ONE_LINE - 30 - len(buttons)))
        return f"{first} {buttons}".strip()

    def _event(self, event: Event) -> RenderableType | None:
        key = (event.channel_id, event.ts)
        where = f"DM {event.channel}" if (event.channel or "").startswith("@") else f"#{event.channel}"
        if event.kind == "message_updated":
            lines = plain_lines(event, self.emulator)
            before = self.shown.get(key)
            self.shown[key] = lines
            if before is None:
                return render_event(event, self.emulator, self.words)
            change = changed_lines(before, lines)
            self.redraws += 1
            if not change:
                return None
            # The channel's date and prefix are the same on every line: its scenario part says which incident.
            short = re.sub(r"^#(crisis|drill)-\d{8}-", "#", where)
            what = where if where.startswith("DM") else f"{short} · {redraw_label(lines)}"
            summary = cut(" · ".join(change), ONE_LINE + 40)
            return Text.from_markup(_finish(_styled("yellow", f"✎ {what}:") + " " + summary))
        if event.kind in ("view_opened", "view_updated"):
            form = self.words["form"].format(title=event.text, user=_who(event.user, self.emulator))
            return Text.from_markup(_finish(_styled("cyan", form)))
        if event.kind in ("view_closed", "home_published"):
            return None
        if event.kind in ("message_posted", "file_shared"):
            lines = plain_lines(event, self.emulator)
            self.shown[key] = lines
            if sum(len(line) for line in lines) > self.max_chars and event.ts not in self.in_full:
                return self._abbreviated(event, lines)
        return render_event(event, self.emulator, self.words)

    def _abbreviated(self, event: Event, lines: list[str]) -> RenderableType:
        """A long message (a Facebook or LinkedIn draft): its first lines, its approval line, and how many are left out."""
        keep, chars = 1, len(lines[0])
        while keep < len(lines) - 2 and chars + len(lines[keep]) <= self.max_chars // 2:
            chars += len(lines[keep])
            keep += 1
        more = len(lines) - keep - 2
        body = [*lines[:keep], self.words["more"].format(count=more), *lines[-2:]]
        author = _who(event.data.get("author") or event.user, self.emulator)
        return Panel(
            Text("\n".join(body)), title=Text(f"#{event.channel} · {author}"), title_align="left", border_style="green"
        )

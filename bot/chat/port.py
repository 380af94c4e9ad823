"""The port: everything the application layer needs from a chat platform, and nothing more.

A platform adapter (`bot/slack/port.py`; Teams next) implements `Port`. The layer never sees the platform's
client, ids' shapes or errors: a refusal is `Refused` (with the platform's reason, for the log and for the
few reasons the layer acts on), no usable answer is an `OSError` (a timeout, a lost or malformed answer).

Every message the bot must not send twice carries a *tag* (`Tag`: the incident's unique code and the step's
key) that the platform stores with it, so a run that died after the platform accepted a message can find it
(`find_posts`, `find_dm`) instead of sending it again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from markupsafe import Markup

from bot.chat.message import Message
from bot.incidents.roles import Person

# Reasons the layer acts on (a platform maps its own codes onto these; anything else is passed as it is).
NAME_TAKEN = "name_taken"
ALREADY_PINNED = "already_pinned"
PERSON_UNKNOWN = "user_not_found"


class Refused(Exception):
    """The platform answered and said no; `reason` is its error code (logged, never shown to a person)."""

    def __init__(self, reason: str, method: str = "") -> None:
        super().__init__(f"{method}: {reason}" if method else reason)
        self.reason = reason
        self.method = method


@dataclass(frozen=True)
class Room:
    """An incident's conversation on the platform (a Slack channel, a Teams thread or channel)."""

    ref: str
    name: str
    # A UI key (messages/<lang>/ui.yaml) the declarer is told when the platform made the room in a lesser form than
    # configured (Teams: a thread instead of a channel of its own, for want of a permission); None when as asked.
    notice: str | None = None


@dataclass(frozen=True)
class Tag:
    """What identifies a message of a step that must not repeat: found again by `find_posts`/`find_dm`."""

    code: str
    step: str


# A further file of one upload: its path, the name it is shared under, its title.
Attachment = tuple[Path, str, str]


class Dialect(Protocol):
    """How the platform's markup says things: escaping user text, mentioning a person, linking a room; and what
    the UI strings call the platform (`platform`: "Slack") and how a command is typed there (`command`: "/crisis")."""

    platform: str
    command: str

    def escape(self, text: str) -> str: ...

    def mention(self, person: str | None) -> Markup: ...

    def room_link(self, room: str | None) -> Markup: ...

    def room_url(self, room: str | None) -> str | None: ...

    def code(self, text: str) -> Markup:
        """`text` shown as typed, as inline code (our own ids and commands stay typeable)."""
        ...

    def fit(self, text: str, limit: int) -> str:
        """`text` cut to `limit` characters without splitting an entity or a mention the dialect made."""
        ...

    def space(self, room: str | None) -> str:
        """What an incident's room is, for the wording (`space` in ui.yaml): "channel", or "thread" (a Teams thread in
        the crisis channel); for no room, what a new incident gets."""
        ...


class Port(Protocol):
    """A chat platform, as the application layer uses it."""

    dialect: Dialect
    room_name_limit: int  # the longest room name the platform takes (Slack 80, a Teams channel 50)

    # ---- rooms ----------------------------------------------------------------------------------------
    def create_room(self, name: str, private: bool) -> Room:
        """Raises Refused(NAME_TAKEN) when the name is in use."""
        ...

    def set_topic(self, room: str, text: str) -> None: ...

    def invite(self, room: str, people: list[str]) -> dict[str, str]:
        """Bring `people` in: everyone the platform will add is added; returns the others with the reason."""
        ...

    # ---- messages -------------------------------------------------------------------------------------
    def post(self, room: str, message: Message, tag: Tag | None = None) -> str:
        """Post in `room`; returns the message's ref."""
        ...

    def dm(self, person: str, message: Message, tag: Tag | None = None) -> str:
        """A private 1:1 message; returns `<conversation>:<message ref>` for `update`."""
        ...

    def update(self, room: str, ref: str, message: Message) -> None: ...

    def pin(self, room: str, ref: str) -> None:
        """Raises Refused(ALREADY_PINNED) when it already is."""
        ...

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """A notice only `person` sees: in `room` when they can be reached there, else in their 1:1 chat."""
        ...

    def upload(
        self, room: str, path: Path, filename: str, title: str, comment: str, also: tuple[Attachment, ...] = ()
    ) -> str:
        """Share a file in `room` (and `also` these, in the same share: the report's chart); returns the file
        refs to note, comma-separated."""
        ...

    # ---- read-back (what a run that died had the platform do) -----------------------------------------
    def find_posts(self, room: str, code: str, steps: set[str]) -> dict[str, str]:
        """The refs of the tagged messages of `steps` for incident `code` in `room` (the first of each)."""
        ...

    def find_dm(self, person: str, code: str, step: str) -> str | None: ...

    def find_room(self, name: str, private: bool, taken: Callable[[str], bool]) -> Room | None:
        """The room called `name` this bot created for no other incident (`taken` tells which refs are)."""
        ...

    def find_upload(self, room: str, filename: str) -> str | None: ...

    def room_by_name(self, name: str) -> str | None:
        """The ref of a room configured by name (the announcements channel)."""
        ...

    # ---- people ---------------------------------------------------------------------------------------
    def locale(self, person: str) -> str | None:
        """The person's language setting (`nl-NL`), None when the platform does not say."""
        ...

    def person(self, person: str) -> Person | None:
        """What the platform says about an account; None when it did not answer."""
        ...

    def display_name(self, person: str) -> str | None: ...


@runtime_checkable
class OpensWithPost(Protocol):
    """A port whose room is made together with its first post (a Teams thread is its root post).

    The set-up plan (bot/chat/setup.py) then sends the header with the room, in one round trip, and everything
    else (DMs, drafts, pin, paging) in the next: its `invite` only checks who can read the room, so nobody has to
    be added before the room mentions them, and nothing in the room waits for a call about the room.
    """

    def open_room(
        self, name: str, private: bool, first: Message, tag: Tag, meanwhile: Callable[[str], None] | None = None
    ) -> tuple[Room, str]:
        """As `create_room`, with `first` (tagged `tag`) as the room's first post; the room and that post's ref.
        `meanwhile` runs on the calling thread, once, while the platform makes the room (the set-up draws the next
        round's messages then), given the room's ref as it will be but for what only the platform's answer says:
        messages prepared (Prepares) then with that ref are sent naming the room's real ref, and forgotten if the
        room is not made."""
        ...


@runtime_checkable
class Prepares(Protocol):
    """A port that can draw a message into its own form ahead of sending it (Teams: the activity, its card and whose
    buttons they are), so that work is done while the platform makes the room instead of between the next round's
    calls. A prepared message is drawn again if it changed; one never sent is forgotten."""

    def prepare(self, message: Message) -> None:
        """Draw `message` now for a send to come."""
        ...

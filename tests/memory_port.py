"""An in-memory chat platform: the second implementation of bot/chat/port.Port, for tests without Slack.

It holds what a platform holds (rooms with their members, topic, messages with their tags, pins and files;
1:1 conversations; notices only one person sees; people with their locale) and nothing else: no HTTP, no
emulator, no threads. A test injects a refusal for a method (`fail("post", Refused("channel_not_found"))`,
or an `OSError` for a lost answer), optionally after the platform did the thing (`lost=True`: a crash
between the platform accepting and the bot noting it), and reads back what people would see.

Its dialect is plain text: a mention is `@U123`, a room `#C0001`; escaping turns `<`, `>`, `@` and `#` into
look-alikes, so nothing a person typed can become a mention, a room link or a platform markup entity.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from markupsafe import Markup

from bot.chat.message import Message
from bot.chat.port import ALREADY_PINNED, NAME_TAKEN, PERSON_UNKNOWN, Attachment, Dialect, Port, Refused, Room, Tag
from bot.incidents.roles import Person

BOT = "UBOT"
ELLIPSIS = "…"
_INERT = str.maketrans({"<": "‹", ">": "›", "@": "＠", "#": "＃"})
# What a cut must not split: a mention or a room link the dialect made.
_WHOLE = re.compile(r"[@#][A-Z0-9]+")
MENTION = re.compile(r"@([UW][A-Z0-9]+)")
T = TypeVar("T")


class MemoryDialect:
    """Plain text with `@person` mentions and `#room` links (bot/chat/port.py's Dialect)."""

    platform = "Memory"
    command = "crisis"

    @staticmethod
    def space(room: str | None) -> str:
        return "channel"

    @staticmethod
    def escape(text: str) -> str:
        return str(text).translate(_INERT)

    @staticmethod
    def mention(person: str | None) -> Markup:
        return Markup(f"@{person}") if person and re.fullmatch(r"[UW][A-Z0-9]{2,20}", person) else Markup("—")

    @staticmethod
    def room_link(room: str | None) -> Markup:
        return Markup(f"#{room}") if room else Markup("—")

    @staticmethod
    def room_url(room: str | None) -> str | None:
        return f"memory://rooms/{room}" if room else None

    @staticmethod
    def code(text: str) -> Markup:
        return Markup(f"`{MemoryDialect.escape(text)}`")

    @staticmethod
    def fit(text: str, limit: int) -> str:
        text = str(text)
        if len(text) <= limit:
            return text
        cut = max(limit - len(ELLIPSIS), 0)
        for match in _WHOLE.finditer(text):
            if match.start() < cut < match.end():
                cut = match.start()
                break
        return text[:cut].rstrip() + ELLIPSIS


MEMORY = MemoryDialect()


@dataclass
class Posted:
    """A message as the platform keeps it: what it says now, what it said before, and its tag."""

    ref: str
    room: str
    message: Message
    tag: Tag | None = None
    edits: list[Message] = field(default_factory=list)  # earlier versions, oldest first

    @property
    def text(self) -> str:
        return self.message.text


@dataclass
class Upload:
    ref: str
    room: str
    filename: str
    title: str
    comment: str
    content: bytes
    share: str  # the first file's ref: files uploaded together are one share


@dataclass
class MemoryRoom:
    ref: str
    name: str
    private: bool
    creator: str = BOT
    topic: str = ""
    members: set[str] = field(default_factory=set)
    messages: list[Posted] = field(default_factory=list)
    pins: set[str] = field(default_factory=set)
    uploads: list[Upload] = field(default_factory=list)


@dataclass
class MemoryPerson:
    id: str
    name: str = ""
    locale: str | None = None
    deactivated: bool = False
    bot: bool = False
    admin: bool = False
    invitable: bool = True  # False: the platform will not add them to a room (a guest, say)


@dataclass
class Notice:
    """A message only `person` sees (`tell`): where it was shown, and what it said."""

    person: str
    room: str | None
    message: Message


@dataclass
class _Failure:
    error: Exception
    times: int
    lost: bool  # the platform did it, then the answer was lost


class MemoryPort:
    """A chat platform in memory (bot/chat/port.Port); see the module's docstring."""

    dialect: Dialect = MEMORY
    room_name_limit = 80  # as Slack's

    def __init__(self, people: list[MemoryPerson] | None = None) -> None:
        self.rooms: dict[str, MemoryRoom] = {}
        self.people: dict[str, MemoryPerson] = {p.id: p for p in people or []}
        self.notices: list[Notice] = []
        self.calls: list[str] = []  # every method called, in order (refused ones too)
        self._failures: dict[str, list[_Failure]] = {}
        self._ids = itertools.count(1)

    # ---- what a test sets up ------------------------------------------------------------------------
    def add_person(self, person: str, name: str = "", locale: str | None = None, **facts: bool) -> MemoryPerson:
        self.people[person] = MemoryPerson(person, name or person, locale, **facts)
        return self.people[person]

    def add_room(self, name: str, private: bool = False, creator: str = "UOTHER") -> MemoryRoom:
        """A room someone else made (the announcements channel)."""
        room = MemoryRoom(self._next("C"), name, private, creator)
        self.rooms[room.ref] = room
        return room

    def fail(self, method: str, error: Exception | str, times: int = 1, lost: bool = False) -> None:
        """The next `times` calls of `method` raise `error` (a reason string means `Refused(reason)`);
        with `lost`, the platform does the thing first and only the answer goes missing."""
        error = Refused(error, method) if isinstance(error, str) else error
        self._failures.setdefault(method, []).append(_Failure(error, times, lost))

    # ---- what a test reads back ----------------------------------------------------------------------
    def room(self, ref_or_name: str) -> MemoryRoom:
        name = ref_or_name.lstrip("#")
        found = self.rooms.get(name) or next((r for r in self.rooms.values() if r.name == name), None)
        if found is None:
            raise KeyError(ref_or_name)
        return found

    def texts(self, room: str) -> list[str]:
        return [m.text for m in self.room(room).messages]

    def dms(self, person: str) -> list[Posted]:
        room = self.rooms.get(_dm_ref(person))
        return list(room.messages) if room else []

    def tagged(self, room: str, step: str) -> list[Posted]:
        return [m for m in self.room(room).messages if m.tag is not None and m.tag.step == step]

    def message(self, room: str, ref: str) -> Posted:
        return next(m for m in self.room(room).messages if m.ref == ref)

    # ---- rooms -------------------------------------------------------------------------------------
    def create_room(self, name: str, private: bool) -> Room:
        def do() -> Room:
            if any(r.name == name for r in self.rooms.values()):
                raise Refused(NAME_TAKEN, "create_room")
            room = MemoryRoom(self._next("C"), name, private, members={BOT})
            self.rooms[room.ref] = room
            return Room(room.ref, name)

        return self._call("create_room", do)

    def set_topic(self, room: str, text: str) -> None:
        def do() -> None:
            self._room(room).topic = text

        self._call("set_topic", do)

    def invite(self, room: str, people: list[str]) -> dict[str, str]:
        def do() -> dict[str, str]:
            target, refused = self._room(room), {}
            for person in dict.fromkeys(p for p in people if p):
                known = self.people.get(person)
                if known is None or known.deactivated:
                    refused[person] = PERSON_UNKNOWN
                elif not known.invitable or known.bot:
                    refused[person] = "cant_invite"
                else:
                    target.members.add(person)
            return refused

        return self._call("invite", do)

    # ---- messages ----------------------------------------------------------------------------------
    def post(self, room: str, message: Message, tag: Tag | None = None) -> str:
        return self._call("post", lambda: self._append(self._room(room), message, tag))

    def dm(self, person: str, message: Message, tag: Tag | None = None) -> str:
        def do() -> str:
            return f"{_dm_ref(person)}:{self._append(self._dm_room(person), message, tag)}"

        return self._call("dm", do)

    def update(self, room: str, ref: str, message: Message) -> None:
        def do() -> None:
            posted = self._posted(room, ref)
            posted.edits.append(posted.message)
            posted.message = message

        self._call("update", do)

    def pin(self, room: str, ref: str) -> None:
        def do() -> None:
            target = self._room(room)
            self._posted(room, ref)
            if ref in target.pins:
                raise Refused(ALREADY_PINNED, "pin")
            target.pins.add(ref)

        self._call("pin", do)

    def tell(self, person: str, room: str | None, message: Message) -> None:
        def do() -> None:
            shown = room if room and room in self.rooms and person in self.rooms[room].members else None
            self.notices.append(Notice(person, shown, message))

        self._call("tell", do)

    def upload(
        self, room: str, path: Path, filename: str, title: str, comment: str, also: tuple[Attachment, ...] = ()
    ) -> str:
        def do() -> str:
            target, refs = self._room(room), list[str]()
            for file, name, heading in ((path, filename, title), *also):
                ref = self._next("F")
                target.uploads.append(
                    Upload(ref, room, name, heading, comment, file.read_bytes(), share=refs[0] if refs else ref)
                )
                refs.append(ref)
            return ",".join(refs)

        return self._call("upload", do)

    # ---- read-back ---------------------------------------------------------------------------------
    def find_posts(self, room: str, code: str, steps: set[str]) -> dict[str, str]:
        def do() -> dict[str, str]:
            found: dict[str, str] = {}
            for posted in self._room(room).messages:  # oldest first: the first of each step wins
                if posted.tag and posted.tag.code == code and posted.tag.step in steps:
                    found.setdefault(posted.tag.step, posted.ref)
            return found

        return self._call("find_posts", do)

    def find_dm(self, person: str, code: str, step: str) -> str | None:
        def do() -> str | None:
            ref = _dm_ref(person)
            if ref not in self.rooms:
                return None
            found = self.find_posts(ref, code, {step}).get(step)
            return f"{ref}:{found}" if found else None

        return self._call("find_dm", do)

    def find_room(self, name: str, private: bool, taken: Callable[[str], bool]) -> Room | None:
        def do() -> Room | None:
            for room in self.rooms.values():
                if room.name == name and room.private == private and room.creator == BOT and not taken(room.ref):
                    return Room(room.ref, room.name)
            return None

        return self._call("find_room", do)

    def find_upload(self, room: str, filename: str) -> str | None:
        def do() -> str | None:
            files = self._room(room).uploads
            first = next((u for u in files if u.filename == filename), None)
            return ",".join(u.ref for u in files if u.share == first.share) if first else None

        return self._call("find_upload", do)

    def room_by_name(self, name: str) -> str | None:
        def do() -> str | None:
            wanted = name.lstrip("#")
            return next((r.ref for r in self.rooms.values() if r.name == wanted), None)

        return self._call("room_by_name", do)

    # ---- people ------------------------------------------------------------------------------------
    def locale(self, person: str) -> str | None:
        return self._call("locale", lambda: known.locale if (known := self.people.get(person)) else None)

    def person(self, person: str) -> Person | None:
        def do() -> Person | None:
            known = self.people.get(person)
            if known is None:
                return Person(person, known=False)
            return Person(person, deactivated=known.deactivated, bot=known.bot, workspace_admin=known.admin)

        return self._call("person", do)

    def display_name(self, person: str) -> str | None:
        return self._call("display_name", lambda: known.name if (known := self.people.get(person)) else None)

    # ---- the machinery -----------------------------------------------------------------------------
    def _call(self, method: str, do: Callable[[], T]) -> T:
        """Do `method` unless a failure was injected for it: then raise it (after doing it, when `lost`)."""
        self.calls.append(method)
        queue = self._failures.get(method) or []
        if not queue:
            return do()
        failure = queue[0]
        failure.times -= 1
        if failure.times <= 0:
            queue.pop(0)
        if failure.lost:
            do()
        raise failure.error

    def _append(self, room: MemoryRoom, message: Message, tag: Tag | None) -> str:
        if BOT not in room.members and not room.ref.startswith("D"):
            raise Refused("not_in_channel", "post")
        posted = Posted(self._next("M"), room.ref, message, tag)
        room.messages.append(posted)
        return posted.ref

    def _room(self, ref: str) -> MemoryRoom:
        room = self.rooms.get(ref) or next((r for r in self.rooms.values() if r.name == ref.lstrip("#")), None)
        if room is None:
            raise Refused("channel_not_found")
        return room

    def _dm_room(self, person: str) -> MemoryRoom:
        if person not in self.people:
            raise Refused(PERSON_UNKNOWN)
        ref = _dm_ref(person)
        return self.rooms.setdefault(ref, MemoryRoom(ref, ref, True, members={BOT, person}))

    def _posted(self, room: str, ref: str) -> Posted:
        found = next((m for m in self._room(room).messages if m.ref == ref), None)
        if found is None:
            raise Refused("message_not_found")
        return found

    def _next(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):04d}"


def _dm_ref(person: str) -> str:
    return f"D{person}"


def _conforms(port: MemoryPort) -> Port:
    """mypy checks here that MemoryPort is a Port."""
    return port

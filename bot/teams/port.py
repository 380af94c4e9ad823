"""Teams as the application layer's port (bot/chat/port.py), on the Bot Connector (bot/teams/connector.py).

An incident's room is a thread: in the configured crisis channel (TEAMS_INCIDENT_SPACE=thread, the default), or
the first thread of a channel of its own that Graph makes (`channel`: bot/teams/graph.py; without the RSC grant a
declare falls back to the crisis channel, and the declarer is told what to grant). `Room.ref` is the thread's
conversation id `<channel>;messageid=<root>`. The set-up starts it with the header as its root (`open_room`,
bot/chat/port.py's `OpensWithPost`: one round trip for both); `create_room` starts it with a root card saying the
incident is being set up, which a header post replaces in place (returning the root's id), so the header is always
the thread's first post (bots cannot pin, and a thread has no topic: `pin` and `set_topic` are no-ops). `invite` checks that the
people are members of the team (Teams has no thread membership; the header and the paging post mention them).
DMs and every "only you see this" go to the person's 1:1 chat with the bot, made once and remembered.

People are their Entra object ids in the core; their 29: ids, names, locales and 1:1 chats are in the refs
(bot/teams/refs.py), from their activities or a look-up in the team's members. Read-back is the sent ledger
there: Teams gives bots no history. Nobody is a workspace admin by API: admins come from crisisbot.yaml.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import mimetypes
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.chat.audience import Restricted, restricted
from bot.chat.message import Message, Text
from bot.chat.port import NAME_TAKEN, Attachment, Dialect, OpensWithPost, Port, Refused, Room, Tag
from bot.chat.wording import Wording
from bot.config import Settings
from bot.faults import crash_point
from bot.incidents.desk import Desk
from bot.incidents.roles import Person
from bot.teams import render
from bot.teams.connector import Connector
from bot.teams.graph import FORBIDDEN, MAX_CHANNEL_NAME, Graph
from bot.teams.refs import Refs
from bot.teams.text import PERSON, TeamsDialect

log = logging.getLogger("crisisbot.teams")
THREAD = ";messageid="
CHANNEL_ID = re.compile(r"19:[^;\s]+@thread\.[a-z0-9]+")
NOT_IN_TEAM = "not_in_team"
GONE = "ConversationNotFound"
PRIVATE_REFUSED = "private_not_supported"
UNKNOWN_MEMBER = {"MemberNotFoundInConversation", "http_404"}
HEADER_STEP = "header"
FALLBACK_NOTICE = "teams_space.fallback"  # ui.yaml: what the declarer is told when channel mode had no grant
REFUSED_NOTICE = "teams_space.refused"  # … and when Graph refused the channel otherwise (the team's channel limit)
MAX_PREPARED = 64  # activities drawn ahead and not sent yet (a declare prepares its drafts and DMs)
STAND_IN_DIGITS = 19  # a thread's root id while Teams makes it: digits, as Teams' ids are (a link keeps its form)
LOOKUPS = 8  # member look-ups at once (the team's role owners, an invite's people)
MEMBER_FRESH = timedelta(hours=12)  # a team membership looked up is trusted this long (people leave teams)


def thread_ref(channel: str, root: str) -> str:
    return f"{channel}{THREAD}{root}"


def root_of(room: str) -> str | None:
    _, sep, root = room.partition(THREAD)
    return root if sep else None


class TeamsPort:
    """bot/chat/port.py's Port on the Bot Connector, with `reply` and `remember` for the inbound side."""

    def __init__(self, desk: Desk, connector: Connector, settings: Settings) -> None:
        self.desk, self.connector, self.settings = desk, connector, settings
        self.refs = Refs(desk.store, desk.now)
        self.dialect: Dialect = TeamsDialect(
            settings.teams_tenant_id, settings.teams_crisis_channel, settings.teams_incident_space
        )
        self.room_name_limit = MAX_CHANNEL_NAME  # Graph's displayName limit (a thread's name is only ours)
        self.tenant_id = settings.teams_tenant_id
        self.team_id = settings.teams_team_id
        self.channel = settings.teams_crisis_channel
        self.graph = Graph(settings, connector) if settings.teams_incident_space == "channel" else None
        self._pool = ThreadPoolExecutor(max_workers=LOOKUPS, thread_name_prefix="crisisbot-teams-lookup")
        self._prepared: dict[int, tuple[Message, dict[str, Any]]] = {}  # id(message) → it and its activity
        # Messages drawn while Teams made a thread, naming it by a stand-in root id (OpensWithPost's meanwhile):
        # id(message) → it and the stand-in; each stand-in → the root Teams gave, once it answered.
        self._bound: dict[int, tuple[Message, str]] = {}
        self._roots: dict[str, str] = {}
        self._drawing = threading.local()  # the stand-in of the thread being made, on the thread drawing for it
        self._lock = threading.Lock()

    def close(self) -> None:
        """Stop the look-up threads (the connector is its owner's to close)."""
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- drawing ------------------------------------------------------------------------------------
    def _audience(self, message: Message) -> tuple[Restricted | None, list[str]]:
        """Whose buttons the message has (a draft's decisions), and their Teams ids for the card's refresh."""
        rule = restricted(self.desk, message) if message.parts else None
        teams_ids = [self._mri(p) for p in rule.people] if rule else []
        return rule, [t for t in teams_ids if t]

    def _activity(self, message: Message) -> dict[str, Any]:
        with self._lock:
            prepared = self._prepared.pop(id(message), None)
            bound = self._bound.pop(id(message), None)
        if prepared is not None and prepared[0] is message:  # drawn ahead (prepare): the same object, unchanged
            return prepared[1]
        rule, user_ids = self._audience(message)
        activity = render.activity(message, restricted=rule, user_ids=user_ids, people=self)
        if bound is not None and bound[0] is message and bound[1] in self._roots:  # drawn for a thread being made
            activity = _swapped(activity, bound[1], self._roots[bound[1]])
        return activity

    def prepare(self, message: Message) -> None:
        """Draw `message` into its activity now (bot/chat/port.py's Prepares): the set-up prepares its drafts
        and DMs while Teams makes the thread. Kept with the message itself (a frozen dataclass), so its id is not
        reused. Drawn in `open_room`'s meanwhile, it names the thread by a stand-in, replaced once Teams answers."""
        stand_in = getattr(self._drawing, "stand_in", None)
        activity = self._activity(message)
        with self._lock:
            if len(self._prepared) >= MAX_PREPARED:  # prepared but never sent (a re-run found them posted)
                self._prepared.clear()
            self._prepared[id(message)] = (message, activity)
            if stand_in is not None:
                if len(self._bound) >= MAX_PREPARED:
                    self._bound.clear()
                self._bound[id(message)] = (message, stand_in)

    def _settle(self, stand_in: str, root: str | None) -> None:
        """Teams answered the thread's creation (its root id) or refused it (None): what was drawn for the thread
        names the real root, or is forgotten."""
        with self._lock:
            ids = [key for key, (_, bound) in self._bound.items() if bound == stand_in]
            for key in ids:
                prepared = self._prepared.pop(key, None)
                if root is None:
                    del self._bound[key]
                elif prepared is not None:
                    self._prepared[key] = (prepared[0], _swapped(prepared[1], stand_in, root))
            if root is not None:
                if len(self._roots) >= MAX_PREPARED:
                    self._roots.clear()
                self._roots[stand_in] = root

    def card_for(self, message: Message, viewer: str | None) -> dict[str, Any]:
        """The card `viewer` sees (a refresh invoke's answer): with the buttons they may press."""
        rule, user_ids = self._audience(message)
        return render.card(message, viewer, restricted=rule, user_ids=user_ids, people=self)

    def teams_id(self, person: str) -> str | None:
        """The person's Teams user id (29:…) if known already: a mention never waits for a look-up of it."""
        known = self.refs.person(person).get("id")
        return str(known) if known else None

    # ---- rooms --------------------------------------------------------------------------------------
    def create_room(self, name: str, private: bool) -> Room:
        """The incident's thread: in a channel of its own (channel mode, made through Graph) or in the crisis channel,
        its root saying the incident is being set up. Without Graph's grant a channel-mode declare falls back to the
        crisis channel; the Room's notice tells the declarer what to grant."""
        channel, notice = self._space_for(name, private)
        room = self._setting_up_thread(channel, name)
        return dataclasses.replace(room, notice=notice) if notice else room

    def _setting_up_thread(self, channel: str, name: str) -> Room:
        """A thread in `channel` whose root says the incident is being set up (the header replaces it)."""
        say = Wording(self.desk.messages, self.desk.language, self.dialect)
        text = say("teams_thread.setting_up", name=name)
        root = render.activity(Message(text, (Text(text),)))
        return self._start_thread(channel, name, lambda: root)

    def open_room(
        self, name: str, private: bool, first: Message, tag: Tag, meanwhile: Callable[[str], None] | None = None
    ) -> tuple[Room, str]:
        """The incident's thread (as `create_room` makes it) whose root is `first` (the header); noted under `tag`
        like a post. `meanwhile` runs while Teams makes it (bot/chat/port.py's OpensWithPost), given the thread's
        ref with a stand-in for the root id only Teams' answer gives."""
        channel, notice = self._space_for(name, private)
        # The root mentions the role owners: one never seen has no Teams id or name to draw yet (found at once)
        list(self._pool.map(self._account_or_none, [p for p in self._owners() if not self.teams_id(p)]))
        stand_in = "".join(secrets.choice("0123456789") for _ in range(STAND_IN_DIGITS))
        ahead = None if meanwhile is None else functools.partial(self._draw_for, stand_in, channel, meanwhile)
        try:
            room = self._start_thread(channel, name, lambda: self._activity(first), ahead)
        except BaseException:
            self._settle(stand_in, None)
            raise
        root = str(root_of(room.ref))
        self._settle(stand_in, root)
        self._note_sent(tag, room.ref, root)
        return (dataclasses.replace(room, notice=notice) if notice else room), root

    def _draw_for(self, stand_in: str, channel: str, meanwhile: Callable[[str], None]) -> None:
        self._drawing.stand_in = stand_in
        try:
            meanwhile(thread_ref(channel, stand_in))
        finally:
            self._drawing.stand_in = None

    def _space_for(self, name: str, private: bool) -> tuple[str, str | None]:
        """Where the incident's thread starts: its own channel (channel mode), else the crisis channel, and the
        declarer's notice when channel mode fell back; refused for a private incident (a thread is open to the
        whole channel) and when there is nowhere to start it."""
        if private:
            raise Refused(PRIVATE_REFUSED, "create_room")
        channel, notice = self._dedicated_channel(name) if self.graph else (None, None)
        if channel is None and not self.channel:
            raise Refused("no_crisis_channel", "create_room")
        return channel or str(self.channel), notice

    def _owners(self) -> set[str]:
        return {p for people in self.desk.store.role_owners().values() for p in people}

    def _start_thread(
        self, channel: str, name: str, root: Callable[[], dict[str, Any]], meanwhile: Callable[[], None] | None = None
    ) -> Room:
        """A thread in `channel` (noted under `name` for a read-back), its root drawn by `root`."""
        # The next round invites (checks the team membership of) and pages the role owners: look up whose
        # membership is not fresh while Teams makes the thread, so those look-ups add no round trip of their own.
        warming = [self._pool.submit(self._account_or_none, p) for p in self._owners() if not self._fresh(p)]
        answer = self._new_thread(channel, root(), meanwhile)
        for each in warming:
            each.result()
        room = Room(thread_ref(channel, answer), name)
        self.refs.note_room(name, room.ref)
        return room

    def _dedicated_channel(self, name: str) -> tuple[str | None, str | None]:
        """A new standard channel called `name`: (its id, None), or (None, the notice for the declarer) when Graph
        will not make one (no RSC grant; the team's channel limit): the incident is then a thread in the crisis
        channel. Refused(NAME_TAKEN) when someone else's channel has the name: the set-up tries the next name."""
        assert self.graph is not None
        group = self._team_group()
        try:
            made = self.graph.create_channel(group, name, self._description(name))
        except Refused as exc:
            if exc.reason != NAME_TAKEN:
                log.warning("Graph would not create channel %s (%s): a thread in the crisis channel", name, exc.reason)
                return None, FALLBACK_NOTICE if exc.reason == FORBIDDEN else REFUSED_NOTICE
            # A try whose answer was lost may have made it: a channel of that name with our description is ours.
            made = self._ours(group, name) or {}
            if not made:
                raise
        crash_point("graph_created")  # Graph made it, nothing noted: the re-run finds it by name
        channel = str(made["id"])
        self.refs.note_channel(name, channel)
        return channel, None

    def _description(self, name: str) -> str:
        return Wording(self.desk.messages, self.desk.language, self.dialect)("teams_space.description", name=name)

    def _ours(self, group: str, name: str) -> dict[str, Any] | None:
        """The team's channel called `name` when this bot made it (its description is ours), else None."""
        assert self.graph is not None
        found = self.graph.channel_named(group, name)
        return found if found and (found.get("description") or "") == self._description(name) else None

    def _team_group(self) -> str:
        """The team's group id for Graph: remembered, else from the Bot Connector's team details."""
        known = self.refs.team_group()
        if known:
            return known
        if not self.team_id:
            raise Refused("no_team", "create_room")
        group = str(self.connector.team(self.team_id).get("aadGroupId") or "")
        if not group:
            raise OSError("team details: no aadGroupId")
        self.refs.note_team_group(group)
        return group

    def _new_thread(self, channel: str, activity: dict[str, Any], meanwhile: Callable[[], None] | None = None) -> str:
        """Start a thread in `channel` with `activity`; its root's id. `meanwhile`: Connector.run's."""
        params: dict[str, Any] = {
            "isGroup": True,
            "channelData": {
                "channel": {"id": channel},
                **({"tenant": {"id": self.tenant_id}} if self.tenant_id else {}),
            },
            "activity": activity,
        }
        if self.tenant_id:
            params["tenantId"] = self.tenant_id
        answer = self.connector.create_conversation(params, meanwhile)
        root = str(answer.get("activityId") or root_of(str(answer.get("id", ""))) or "")
        if not root:
            raise OSError("create_conversation: no activity id in the answer")
        return root

    def set_topic(self, room: str, text: str) -> None:
        """A thread has no topic: the header says it all."""

    def invite(self, room: str, people: list[str]) -> dict[str, str]:
        """Who of `people` is not a member of the team (and so cannot read the thread), with "not_in_team"."""
        wanted = list(dict.fromkeys(p for p in people if p))
        accounts: dict[str, dict[str, Any] | None] = {p: self.refs.person(p) for p in wanted if self._fresh(p)}
        asked = [p for p in wanted if p not in accounts]  # the others are known: no thread, no call
        accounts |= dict(zip(asked, self._pool.map(self._account, asked), strict=True))  # at once: one round trip
        return {person: NOT_IN_TEAM for person in wanted if accounts[person] is None}

    # ---- messages -----------------------------------------------------------------------------------
    def post(self, room: str, message: Message, tag: Tag | None = None) -> str:
        root = root_of(room)
        if root and tag is not None and tag.step == HEADER_STEP:
            self.connector.update(room, root, self._activity(message))  # the header replaces the thread's root
            ref = root
        elif root:
            ref = self.connector.send(room, self._activity(message))
        elif PERSON.fullmatch(room):
            return self.dm(room, message, tag).split(":", 1)[1]
        else:  # a channel (the announcements one, by id or name): a new post starts its own thread
            channel = room if CHANNEL_ID.fullmatch(room) else self.room_by_name(room)
            if channel is None:
                raise Refused("channel_not_found", "post")
            ref = self._new_thread(channel, self._activity(message))
            room = channel  # noted under the channel's id: the outbox reads it back by room_by_name's answer
        if tag is not None:
            self._note_sent(tag, room, ref)
        return ref

    def _note_sent(self, tag: Tag, room: str, ref: str) -> None:
        """The ledger entry a later run reads back. A kill between Teams' answer and it re-sends once (Teams has
        no history to find the message in); a kill after it is found (the crash points name both moments)."""
        crash_point("teams_accepted")
        self.refs.note_sent(tag.code, tag.step, room, ref)
        crash_point("teams_noted")

    def dm(self, person: str, message: Message, tag: Tag | None = None) -> str:
        """To the person's 1:1 chat (made with the first message when there is none); `<person>:<activity id>`."""
        activity = self._activity(message)
        chat = self.refs.person(person).get("chat")
        ref = ""
        if chat:
            try:
                ref = self.connector.send(str(chat), activity)
            except Refused as exc:
                if exc.reason != GONE:
                    raise
                log.info("the 1:1 chat with %s is gone: opening a new one", person)  # e.g. the app reinstalled
        if not ref:
            chat, ref = self._open_chat(person, activity)
        if tag is not None:
            self._note_sent(tag, person, ref)
        return f"{person}:{ref}"

    def _open_chat(self, person: str, activity: dict[str, Any]) -> tuple[str, str]:
        """Create the 1:1 chat, its first message in the same call; (chat id, activity id)."""
        account = self._account(person)
        member = {"id": str(account["id"]) if account else person, "aadObjectId": person}
        params: dict[str, Any] = {"isGroup": False, "members": [member], "activity": activity}
        if self.tenant_id:
            params |= {"tenantId": self.tenant_id, "channelData": {"tenant": {"id": self.tenant_id}}}
        answer = self.connector.create_conversation(params)
        chat = str(answer.get("id") or "")
        if not chat:
            raise OSError("create_conversation: no conversation id in the answer")
        self.refs.note_person(person, chat=chat)
        ref = str(answer.get("activityId") or "") or self.connector.send(chat, activity)
        return chat, ref

    def _conversation(self, room: str) -> str:
        """A room ref as a conversation: a person (their 1:1 chat, as `dm` answers) or the ref itself."""
        if PERSON.fullmatch(room):
            chat = self.refs.person(room).get("chat")
            if not chat:
                raise Refused("no_chat", "update")
            return str(chat)
        return room

    def update(self, room: str, ref: str, message: Message) -> None:
        self.connector.update(self._conversation(room), ref, self._activity(message))

    def pin(self, room: str, ref: str) -> None:
        """Bots cannot pin: the header is the thread's root post, always on top."""

    def tell(self, person: str, room: str | None, message: Message) -> None:
        """No ephemeral messages in Teams: the person's 1:1 chat with the bot."""
        self.dm(person, message)

    def reply(self, conversation: str, message: Message, reply_to: str | None = None) -> str:
        """Answer in the conversation an activity came from (a thread, a channel, a 1:1 chat)."""
        activity = self._activity(message)
        if reply_to:
            return self.connector.reply(conversation, reply_to, activity)
        return self.connector.send(conversation, activity)

    def upload(
        self, room: str, path: Path, filename: str, title: str, comment: str, also: tuple[Attachment, ...] = ()
    ) -> str:
        """The files kept under tokens (served at `/api/files/<token>`) and a card with the chart and the links."""
        base = self.settings.teams_public_url
        if not base:
            raise Refused("no_public_url", "upload")
        files = [(path, filename, title), *also]
        tokens = [self.refs.keep_file(p, name, mimetypes.guess_type(name)[0] or "application/octet-stream")
                  for p, name, _ in files]  # fmt: skip
        links = [
            (t, f"{str(base).rstrip('/')}/api/files/{token}") for (_, _, t), token in zip(files, tokens, strict=True)
        ]
        images = [url for (_, name, _), (_, url) in zip(files, links, strict=True) if name.lower().endswith(".png")]
        documents = [
            (t, url) for (_, name, _), (t, url) in zip(files, links, strict=True) if not name.lower().endswith(".png")
        ]
        self.connector.send(room, render.files_activity(comment, images, documents, people=self))
        refs = ",".join(tokens)
        self.refs.note_upload(room, filename, refs)
        return refs

    # ---- read-back ----------------------------------------------------------------------------------
    def find_posts(self, room: str, code: str, steps: set[str]) -> dict[str, str]:
        found = {step: self.refs.sent(code, step) for step in steps}
        return {step: sent["ref"] for step, sent in found.items() if sent and sent.get("room") == room}

    def find_dm(self, person: str, code: str, step: str) -> str | None:
        sent = self.refs.sent(code, step)
        return f"{person}:{sent['ref']}" if sent and sent.get("room") == person else None

    def find_room(self, name: str, private: bool, taken: Callable[[str], bool]) -> Room | None:
        """The thread a run that died had started under `name`; in channel mode also the channel it had Graph make
        (noted, else Graph's list by name), whose thread is then started: never a second channel."""
        ref = self.refs.room(name)
        if ref:
            return Room(ref, name) if not taken(ref) else None
        if self.graph is None:
            return None
        channel = self.refs.channel(name)
        if channel is None:
            try:
                found = self._ours(self._team_group(), name)
            except Refused as exc:
                if exc.reason != FORBIDDEN:
                    raise
                return None  # no grant to read channels: none was made either (the two come together)
            channel = str(found["id"]) if found else None
        return self._setting_up_thread(channel, name) if channel else None

    def find_upload(self, room: str, filename: str) -> str | None:
        return self.refs.upload(room, filename)

    def room_by_name(self, name: str) -> str | None:
        """A channel configured by id is its own ref; by name, the team's channel of that name (the General
        channel, which the API gives no name, is the team's own id)."""
        if CHANNEL_ID.fullmatch(name) or THREAD in name:
            return name
        wanted = name.lstrip("#").strip().lower()
        if not (self.team_id and wanted):
            return None
        for channel in self.connector.channels(self.team_id):
            if str(channel.get("name") or "General").lower() == wanted:
                return str(channel["id"])
        return None

    # ---- people -------------------------------------------------------------------------------------
    def _account(self, person: str) -> dict[str, Any] | None:
        """The person as a member of the team (remembered), None when they are not one; raises when Teams did
        not answer."""
        if self._fresh(person):
            return self.refs.person(person)
        if not self.team_id:  # no team to ask: who wrote to the bot is known, nobody else
            known = self.refs.person(person)
            return known if known.get("id") else None
        try:
            member = self.connector.member(self.team_id, person)
        except Refused as exc:
            if exc.reason in UNKNOWN_MEMBER:
                return None
            raise
        self.refs.note_person(
            person,
            id=member.get("id"),
            name=member.get("name"),
            guest=member.get("userRole") == "guest",
            in_team_at=self.desk.now().isoformat(),
        )
        return self.refs.person(person)

    def _mri(self, person: str) -> str | None:
        """The person's Teams user id (29:…), which refresh.userIds takes."""
        known = self.teams_id(person)  # a person's Teams id does not change: no need to ask again
        if known:
            return known
        account = self._account_or_none(person)
        return str(account["id"]) if account else None

    def _account_or_none(self, person: str) -> dict[str, Any] | None:
        """`_account`, with Teams' silence or refusal logged and taken as "not known"."""
        try:
            return self._account(person)
        except (Refused, OSError) as exc:
            log.warning("member look-up %s: %s", person, exc.reason if isinstance(exc, Refused) else type(exc).__name__)
            return None

    def _fresh(self, person: str) -> bool:
        """Whether the person's team membership was looked up lately (and so is trusted)."""
        known = self.refs.person(person)
        checked = known.get("in_team_at")
        return bool(known.get("id") and checked and self.desk.now() - datetime.fromisoformat(checked) < MEMBER_FRESH)

    def entra_id(self, teams_id: str) -> str | None:
        """The core's id (Entra object id) of a person Teams names by their 29: id (a mention entity): from the
        refs, else the team's members (remembered then); None when neither knows them."""
        known = self.refs.by_teams_id(teams_id)
        if known or not self.team_id:
            return known
        try:
            member = self.connector.member(self.team_id, teams_id)
        except (Refused, OSError) as exc:
            log.warning("member look-up: %s", exc.reason if isinstance(exc, Refused) else type(exc).__name__)
            return None
        aad = str(member.get("aadObjectId") or "").lower()
        if not PERSON.fullmatch(aad):
            return None
        self.refs.note_person(aad, id=teams_id, name=member.get("name"), in_team_at=self.desk.now().isoformat())
        return aad

    def locale(self, person: str) -> str | None:
        return self.refs.person(person).get("locale") or None

    def person(self, person: str) -> Person | None:
        """What Teams says about a person: unknown when not in the team; never a workspace admin (by API)."""
        if not PERSON.fullmatch(person):
            return Person(person, known=False)
        try:
            account = self._account(person)
        except (Refused, OSError) as exc:
            log.warning("member look-up %s: %s", person, exc.reason if isinstance(exc, Refused) else type(exc).__name__)
            return None
        if account is None:
            return Person(person, known=False)
        return Person(person, bot=str(account.get("id", "")).startswith("28:"))

    def display_name(self, person: str) -> str | None:
        known = self.refs.person(person).get("name")
        if known:
            return str(known)
        account = self._account_or_none(person)
        return str(account["name"]) if account and account.get("name") else None

    # ---- inbound ------------------------------------------------------------------------------------
    def remember(self, activity: dict[str, Any]) -> None:
        """What an inbound activity tells: the service URL, the sender's 29: id, name and locale, and their 1:1
        chat when the activity came from it."""
        url = activity.get("serviceUrl")
        if isinstance(url, str) and url:
            self.refs.note_service_url(url)
        sender = activity.get("from") or {}
        person = sender.get("aadObjectId")
        if not (isinstance(person, str) and PERSON.fullmatch(person)):
            return
        conversation = activity.get("conversation") or {}
        personal = conversation.get("conversationType") == "personal"
        mri = sender.get("id")
        self.refs.note_person(
            person,
            id=mri if isinstance(mri, str) and mri.startswith("29:") else None,  # a person's Teams id, nothing else
            name=sender.get("name"),
            locale=activity.get("locale"),
            chat=conversation.get("id") if personal else None,
        )


def _satisfies_the_port(desk: Desk, connector: Connector, settings: Settings) -> Port:
    return TeamsPort(desk, connector, settings)  # mypy checks here that TeamsPort is a Port


def _opens_with_post(desk: Desk, connector: Connector, settings: Settings) -> OpensWithPost:
    return TeamsPort(desk, connector, settings)  # and here that the set-up may open its thread with the header


def _swapped(value: Any, old: str, new: str) -> Any:
    """`value` (an activity) with every `old` in its strings made `new`."""
    if isinstance(value, str):
        return value.replace(old, new) if old in value else value
    if isinstance(value, dict):
        return {key: _swapped(item, old, new) for key, item in value.items()}
    if isinstance(value, list):
        return [_swapped(item, old, new) for item in value]
    return value

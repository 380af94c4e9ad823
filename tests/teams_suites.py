"""What the Teams reliability suites share (faults, crash, fuzz, security): a fresh bot per case, the state a run
leaves (to compare a faulty or crashed run with a clean one), the real `crisisbot serve --platform teams` process,
and the leak checks.

Built on tests/teams_harness.py (emulator + real Desk on SQLite + the real aiohttp app) and, for the process, on
bot/sandbox/process.py's TeamsServeProcess (ServeProcess's log, health and stop handling; Teams' env and port).
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import bot.teams.connector
from bot.clock import ManualClock
from bot.models import Incident
from bot.sandbox.process import TeamsServeProcess as ServedTeams
from bot.sandbox.process import read_db as read
from bot.sandbox.teams import TeamsEmulator
from bot.sandbox.teams.people import execute_actions
from bot.sandbox.transport import BotResponse
from bot.store import Store
from tests.teams_harness import CAST, TeamsDesk, nodes, start_teams

START = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
CARD = "application/vnd.microsoft.card.adaptive"
NOTICE = "application/vnd.microsoft.activity.message"
DECLARE = "crisis declare data-breach 2 Customer emails exposed"
OWNERS = ("anna", "bram", "chen", "dewi", "eli")  # data-breach level 2: every role but the spokesperson
PUBLIC_URL = "https://crisis.example.com"  # report links point here; the emulator never fetches them
# What no person may ever read (an answer, a card, a notice): tracebacks, class names, raw API answers.
LEAKS = ("Traceback", 'File "/', "Exception", "Error:", "sqlite", "pydantic", "NoneType", "KeyError", '{"error"')
LEAKS_RE = re.compile(r"https?://127\.0\.0\.1|Refused\(|OSError|aiohttp|Failed\(")


# ---- a fresh bot per case -------------------------------------------------------------------------------------
@contextmanager
def fresh_teams(
    *, call_timeout: float | None = None, environ: dict[str, str] | None = None, clock: ManualClock | None = None
) -> Iterator[TeamsDesk]:
    """A new emulator and bot (every role owned, the app installed), a ManualClock at START, report links on; at
    the end nothing Teams refused for its content and no emulator problem."""
    local = start_teams(clock=clock or ManualClock(START), environ={"TEAMS_PUBLIC_URL": PUBLIC_URL, **(environ or {})})
    try:
        if call_timeout is not None:
            short_calls(local, call_timeout)
        yield local
        local.settle()
        assert local.emulator.invalid == [], local.emulator.invalid
        assert local.emulator.problems == [], local.emulator.problems
    finally:
        local.stop()


def short_calls(local: TeamsDesk, seconds: float) -> None:
    """The Connector's per-call timeout shortened (its sessions are made with it: the open ones are closed)."""
    connector = local.serving.connector

    async def close_all() -> None:
        for client in connector._clients.values():
            await client.close()

    asyncio.run_coroutine_threadsafe(close_all(), connector._loop).result(5)
    connector._clients.clear()
    connector.call_timeout = seconds


def quick_backoff(monkeypatch: Any) -> None:
    """The Connector's backoff between retries in milliseconds (Retry-After itself stays as Teams sent it)."""
    monkeypatch.setattr(bot.teams.connector, "_backoff", lambda attempt: 0.01)


# ---- reading what Teams shows -----------------------------------------------------------------------------------
def shown(value: Any) -> str:
    """Every text a person reads in an activity, card or invoke answer (texts, titles, facts, choices, notices)."""
    if isinstance(value, str):
        return value
    parts = [
        n[key]
        for n in nodes(value)
        if n.get("type") not in ("Action.Execute", "Action.Submit")
        for key in ("text", "title", "value", "summary")
        if isinstance(n.get(key), str)
    ]
    return "\n".join(parts)


def verbs(card: Any) -> list[str]:
    return sorted(str(a.get("verb")) for a in execute_actions(card) if a.get("verb") != "refresh")


def bot_messages(local: TeamsDesk, conversation: str) -> list[dict[str, Any]]:
    return [a for a in local.emulator.activities(conversation) if a.get("from", {}).get("id") == local.emulator.bot_id]


def said_in(local: TeamsDesk, conversation: str, since: int = 0) -> list[str]:
    """What the bot said in a conversation (each message's shown text), from the `since`-th message on."""
    return [shown(a) for a in bot_messages(local, conversation)[since:]]


def typed_thread(local: TeamsDesk) -> str:
    """The thread a person's last post in the crisis channel started (where the bot answers a command)."""
    emu = local.emulator
    posts = [a for a in emu.activities(emu.crisis_channel) if a.get("from", {}).get("id") != emu.bot_id]
    return str(posts[-1]["conversation"]["id"])


def assert_no_leak(*texts: str) -> None:
    for text in texts:
        for leak in LEAKS:
            assert leak not in text, (leak, text[:500])
        assert not LEAKS_RE.search(text), text[:500]


def everything_said(local: TeamsDesk) -> list[str]:
    """Every text the bot put in front of anyone: its messages everywhere (current and earlier versions)."""
    emu = local.emulator
    conversations = [emu.crisis_channel, emu.general_channel, *emu.threads(), *emu.threads(emu.general_channel)]
    conversations += [p.chat_id for p in local.people.values() if emu.tenant.personal.get(p.id)]
    out: list[str] = []
    for conversation in dict.fromkeys(conversations):
        for activity in bot_messages(local, conversation):
            out.append(shown(activity))
            out += [shown(old) for old in emu.history(str(activity["id"]))]
    return out


# ---- the state a run leaves ---------------------------------------------------------------------------------------
ACTIVITY_ID = re.compile(r"\d{13}")
CHANNEL = re.compile(r"19(?::|%3A)[0-9a-f]{32}(?:@|%40)thread\.tacv2")
TEXTS_OF = ("text", "summary", "attachments", "entities")


class Names:
    """Ids that differ between runs (people's Entra and 29: ids, chats, channels, activity ids) as stable words."""

    def __init__(self, local: TeamsDesk) -> None:
        self.words: dict[str, str] = {}
        for name, person in local.people.items():
            self.words[person.aad_id] = f"<{name}>"
            self.words[person.id] = f"<29:{name}>"
            chat = local.emulator.tenant.personal.get(person.id)
            if chat:
                self.words[chat] = f"<chat:{name}>"
        self.words[local.emulator.app_id] = "<app>"
        self.words[local.emulator.tenant_id] = "<tenant>"
        self._pattern = re.compile("|".join(re.escape(k) for k in sorted(self.words, key=len, reverse=True)))

    def __call__(self, value: Any) -> str:
        text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)
        text = self._pattern.sub(lambda m: self.words[m.group(0)], text)
        return ACTIVITY_ID.sub("#", CHANNEL.sub("<channel>", text))


def message_of(activity: dict[str, Any], name: Names) -> str:
    return name({k: activity.get(k) for k in TEXTS_OF if activity.get(k) is not None})


def snapshot(local: TeamsDesk, incident: Incident) -> dict[str, Any]:
    """What people see of an incident in Teams and what the bot remembers of it, minus ids and order.

    The incident's thread (root = the header, current version, and every reply), each person's 1:1 chat with
    the bot (messages about the incident that are not failure notices: a faulty run adds those), and the
    database (failure events left out, for the same reason).
    """
    local.settle()
    name, emu, db = Names(local), local.emulator, local.store.db
    room = local.store.incident(incident.id).room_ref or ""
    chats = {
        who: Counter(
            message_of(a, name)
            for a in bot_messages(local, person.chat_id)
            if incident.code in shown(a) and not was_a_failure_notice(local, a)
        )
        for who, person in local.people.items()
        if emu.tenant.personal.get(person.id)
    }
    events = Counter(
        name((r["kind"], r["actor"], r["data"]))
        for r in db["events"].rows
        if r["kind"] not in ("setup_failed", "closing_failed")
    )
    refs = sorted(name(r["key"]) for r in db["platform_refs"].rows if r["key"].startswith(("sent:", "room:")))
    return {
        "threads": len(bot_messages(local, emu.crisis_channel)),  # threads the bot started (a lost answer: two)
        # the bot's posts; its answers to commands typed there (replies) differ by how often someone typed
        "thread": Counter(message_of(a, name) for a in bot_messages(local, room) if not a.get("replyToId")),
        "chats": {who: c for who, c in chats.items() if c},
        "incidents": [name(r) for r in db["incidents"].rows],
        "drafts": [name({k: v for k, v in r.items() if k != "message_ref"}) for r in db["drafts"].rows],
        "approvals": [name({k: v for k, v in r.items() if k != "id"}) for r in db["approvals"].rows],
        "events": events,
        "deliveries": sorted(name(r["key"]) for r in db["deliveries"].rows),
        "acks": [name(r) for r in db["acks"].rows],
        "timers": [name(r) for r in db["timers"].rows],
        "outbox": [name({k: v for k, v in r.items() if k != "id"}) for r in db["outbox"].rows],
        "ledger": refs,
    }


def was_a_failure_notice(local: TeamsDesk, activity: dict[str, Any]) -> bool:
    """A "⚠️ … refused" notice (perhaps replaced since by its Retry's answer): only a faulty run has one."""
    first = (local.emulator.history(str(activity["id"])) or [activity])[0]
    return shown(first).startswith("⚠️")


def assert_same(actual: dict[str, Any], expected: dict[str, Any], *, extra_posts: int = 0) -> None:
    """Equal snapshots, part by part (a readable difference). `extra_posts`: that many more copies of messages
    in the thread and the chats are allowed (a POST whose answer Teams lost and that was tried again: Teams has no
    idempotency key), never one less, and everything else equal."""
    for part in expected:
        if part in ("thread", "chats") and extra_posts:
            continue
        if part == "threads" and extra_posts:
            assert expected[part] <= actual[part] <= expected[part] + extra_posts, part
            continue
        assert actual[part] == expected[part], part
    if extra_posts:
        extra = actual["thread"] - expected["thread"]
        for who, chat in expected["chats"].items():
            extra += actual["chats"].get(who, Counter()) - chat
            assert not chat - actual["chats"].get(who, Counter()), f"a message to {who} is missing"
        assert not expected["thread"] - actual["thread"], "a message in the thread is missing"
        assert extra.total() <= extra_posts, extra


# ---- driving the flows ---------------------------------------------------------------------------------------------
def submit_data(card: Any) -> dict[str, Any]:
    """The data of a card's (first) Action.Submit: a dialog's opener or its form's submit button."""
    found = [dict(n.get("data") or {}) for n in nodes(card) if n.get("type") == "Action.Submit"]
    assert found, f"no Action.Submit in {json.dumps(card)[:300]}"
    return found[0]


def approve_x(local: TeamsDesk, incident: Incident) -> list[BotResponse]:
    """anna and chen (data-breach level 2: crisis lead and legal) approve the X draft."""
    ref = local.drafts(incident)["x"].message_ref or ""
    return [local.click(who, ref, "draft_approve") for who in ("anna", "chen")]


RESOLUTION = {
    "summary": "Portal closed, affected customers emailed",
    "impact": "1,200 customers",
    "authority": "not_yet",
}


def open_resolve(local: TeamsDesk, incident: Incident, who: str = "anna") -> None:
    """`who` types `crisis resolve` in the thread and opens the dialog from the bot's answer."""
    room = incident.room_ref or ""
    local.say(who, "crisis resolve", room)
    opener = local.emulator.card_of(bot_messages(local, room)[-1]["id"])
    local.people[who].fetch_task(submit_data(opener), where=room)
    local.settle()
    assert local.people[who].open_dialog is not None, "no resolve dialog"


def submit_resolve(local: TeamsDesk, incident: Incident, who: str = "anna") -> BotResponse:
    person = local.people[who]
    answer = person.submit_task({**submit_data(person.open_dialog), **RESOLUTION}, where=incident.room_ref)
    local.settle()
    return answer


# ---- the real process: `crisisbot serve --platform teams` ---------------------------------------------------------
ANONYMOUS = "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__ANONYMOUS_ALLOWED"


class TeamsServeProcess(ServedTeams):
    """bot/sandbox/process.py's `crisisbot serve --platform teams` child, its report links at PUBLIC_URL."""

    def __init__(self, emulator: TeamsEmulator, db_path: Path, **kw: Any) -> None:
        super().__init__(emulator, db_path, public_url=PUBLIC_URL, **kw)


def serve_teams(
    emulator: TeamsEmulator, db_path: Path, *, crash_at: str | None = None, exit_ok: bool = False, **kw: Any
) -> TeamsServeProcess:
    """Start the real process against `emulator`, point the emulator at it, wait until /healthz answers."""
    process = TeamsServeProcess(emulator, db_path, clock_speed=1, crash_at=crash_at, **kw)
    emulator.bot_url = process.url
    process.wait_healthy(30, exit_ok=exit_ok)
    return process


def teams_people(emulator: TeamsEmulator) -> dict[str, Any]:
    """The harness's cast as people of `emulator` (for a process, which has no harness)."""
    return {name: emulator.add_user(real) for name, (real, _) in CAST.items()}


def staff(db: Path, people: dict[str, Any]) -> None:
    """Every role owned by its cast member (by Entra object id), as `crisis roles set` leaves it."""

    def owners(store: Store) -> None:
        for name, (_, role) in CAST.items():
            if role:
                store.set_role_owners(role, [people[name].aad_id])

    read(db, owners)

"""Slack traffic for the load benchmark: what people click in 100 live incidents, and an open-loop sender.

Request bodies are built up front from the emulator's view of the workspace (so building them costs the
sender nothing while it runs), each with its own trigger_id, as Slack sends them. The sender schedules
request i at start + i / rate and measures from that scheduled moment to the answer, so a bot that falls
behind is charged for the queue it causes (no coordinated omission).
"""

from __future__ import annotations

import json
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlencode

from bench.client import SignedClient
from bench.team import STAFF
from bot.localdesk import CAST, SIGNING_SECRET, LocalCrisisDesk

KINDS = ("help", "roles", "checklist_done", "acknowledge", "draft_approve")
START_DELAY = 0.2  # seconds between scheduling and the first send
GIVE_UP = 3.0  # Slack's ack limit: a request still unsent this late has failed already, so it is not sent
ABANDONED = -1  # the status of such a request


@dataclass(frozen=True)
class Target:
    """The clickable parts of one incident: header, drafts, and each owner's DM."""

    incident_id: int
    channel_id: str
    header_ts: str
    checklist: list[str]
    drafts: list[str]  # message ts
    approvers: list[str]  # user ids
    dms: list[tuple[str, str, str]]  # (user id, DM channel, ts)


@dataclass(frozen=True)
class Request:
    kind: str
    body: str


@dataclass(frozen=True)
class Sent:
    kind: str
    status: int  # ABANDONED: never sent, the sender was GIVE_UP seconds behind its schedule
    seconds: float  # from the scheduled send time to the full answer (or to giving up)


def targets(local: LocalCrisisDesk) -> list[Target]:
    store = local.desk.store
    owners = {role: ids[0] for role, ids in store.role_owners().items() if ids}
    found = []
    for incident in store.incidents("active"):
        header = store.delivery(f"{incident.id}:header")
        if not (incident.room_ref and header):
            continue
        book = local.desk.playbook(incident.scenario)
        level = book.level(incident.level)
        dms = []
        for user in dict.fromkeys(owners[r] for r in level.roles if r in owners):
            if user == incident.declared_by:  # the declarer's roles are taken at declare: no Acknowledge button
                continue
            ref = store.delivery(f"{incident.id}:dm:{user}")
            if ref:
                channel, ts = ref.split(":", 1)
                dms.append((user, channel, ts))
        found.append(
            Target(
                incident.id,
                incident.room_ref,
                header,
                [item.id for item in book.checklist.first_hour],
                [d.message_ref for d in store.drafts(incident.id) if d.message_ref],
                [owners[r] for r in level.approvers if r in owners],
                dms,
            )
        )
    return found


def _click(local: LocalCrisisDesk, user: str, action_id: str, channel: str, ts: str, value: str | None = None) -> str:
    payload = local.emulator.click_payload(user, action_id, channel_id=channel, ts=ts)
    if value is not None:  # another button of the same kind on that message
        payload["actions"][0]["value"] = value
    return urlencode({"payload": json.dumps(payload)})


def build(local: LocalCrisisDesk, found: list[Target], count: int, rng: random.Random) -> list[Request]:
    """`count` requests, the five kinds in equal shares, on random incidents."""
    people = [p.id for p in CAST]
    staff_ids = {p.id for p in CAST if p.name in STAFF.values()}
    requests = []
    for i in range(count):
        kind = KINDS[i % len(KINDS)]
        target = rng.choice(found)
        if kind in ("help", "roles"):
            fields = local.emulator.slash_command_fields(rng.choice(people), kind)
            body = urlencode(fields)
        elif kind == "checklist_done":
            item = rng.choice(target.checklist)
            body = _click(
                local,
                rng.choice(sorted(staff_ids)),
                kind,
                target.channel_id,
                target.header_ts,
                f"{target.incident_id}:{item}",
            )
        elif kind == "acknowledge":
            user, channel, ts = rng.choice(target.dms)
            body = _click(local, user, kind, channel, ts)
        else:
            body = _click(local, rng.choice(target.approvers), kind, target.channel_id, rng.choice(target.drafts))
        requests.append(Request(kind, body))
    rng.shuffle(requests)
    return requests


def drive(url: str, requests: list[Request], rate: float, workers: int) -> list[Sent]:
    """Send request i at start + i/rate from a pool of keep-alive connections; return each answer.

    When the bot is so slow that all connections are busy and a request is GIVE_UP seconds overdue
    before it can even be sent, it is recorded as ABANDONED instead: that keeps an overloaded run
    from taking many times its planned length.
    """
    results: list[Sent | None] = [None] * len(requests)
    local = threading.local()
    start = time.perf_counter() + START_DELAY

    def send(i: int) -> None:
        scheduled = start + i / rate
        if time.perf_counter() - scheduled > GIVE_UP:
            results[i] = Sent(requests[i].kind, ABANDONED, time.perf_counter() - scheduled)
            return
        client = getattr(local, "client", None)
        if client is None:
            client = local.client = SignedClient(url, SIGNING_SECRET)
        reply = client.post(requests[i].body, started=scheduled)
        results[i] = Sent(requests[i].kind, reply.status, reply.seconds)

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bench-load") as pool:
        for i in range(len(requests)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            pool.submit(send, i)
    return [r if r is not None else Sent(requests[i].kind, 0, float("nan")) for i, r in enumerate(results)]

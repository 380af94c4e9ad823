"""One effect per intent, whoever clicks and however fast: concurrent clicks and submissions through the front door.

The requests are real signed HTTP into the running bot, sent from one thread each and released together by a
barrier; the bot handles them on its own worker threads. Where the window between reading and writing is too
short to hit by chance, `in_turn` makes the worst interleaving happen every time: each request is held at its
write transaction until all of them have read the state they decide on, then they write one at a time in a
given order. Nothing of the bot is replaced; only the moment each request takes the write lock is chosen.
Slack (the emulator's channels, DMs, ephemerals, modals) and the database (drafts, events, timers) are checked.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import pytest
from conftest import ID, Crisis, declare, next_day

import bot.incidents
from bot.models import Incident
from bot.sandbox.payloads import find_element
from bot.sandbox.transport import BotResponse
from bot.store import Store

CORE = str(Path(bot.incidents.__file__).parent)  # where the core verbs run from (installed or not)
WAIT = 5.0  # seconds a held request waits for the others before it goes ahead anyway


@pytest.fixture
def team(shared: Crisis) -> Iterator[Crisis]:
    """The module's staffed desk, a day later than the previous test; afterwards only valid Slack was sent."""
    with next_day(shared, valid_blocks=True) as crisis:
        yield crisis


# ---- making requests overlap ----------------------------------------------------------------------------------
def at_once(crisis: Crisis, *requests: Callable[[], BotResponse]) -> list[int]:
    """Send each request from its own thread, all released by one barrier; their HTTP statuses once the bot is idle."""
    barrier = threading.Barrier(len(requests))

    def send(request: Callable[[], BotResponse]) -> int:
        barrier.wait(timeout=WAIT)
        return request().status

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        statuses = list(pool.map(send, requests))
    crisis.local.settle()
    return statuses


def _verb_calling(verbs: set[str]) -> str | None:
    """The core verb (a function of bot/incidents/) on this thread's stack that is opening a transaction."""
    frame = sys._getframe(2)
    while frame is not None:
        if frame.f_code.co_name in verbs and frame.f_code.co_filename.startswith(CORE):
            return frame.f_code.co_name
        frame = frame.f_back
    return None


@contextmanager
def in_turn(store: Store, *order: str) -> Iterator[None]:
    """Hold each call of these core verbs at its write transaction until one call per name in `order` has arrived
    (so each decided on what it read before anyone wrote), then let them write one at a time, in `order`."""
    real = store.transaction
    arrived = threading.Barrier(len(order))
    turn = threading.Condition()
    slots: list[bool] = [False] * len(order)  # taken by an arrived call
    finished = [0]
    gated = threading.local()

    @contextmanager
    def transaction() -> Iterator[Any]:
        verb = None if store.db.conn.in_transaction or getattr(gated, "held", False) else _verb_calling(set(order))
        if verb is None:
            with real() as db:
                yield db
            return
        with turn:
            slot = next((i for i, name in enumerate(order) if name == verb and not slots[i]), None)
            if slot is not None:
                slots[slot] = True
        if slot is None:  # more calls than slots: not held
            with real() as db:
                yield db
            return
        gated.held = True
        try:
            with suppress(threading.BrokenBarrierError):  # one did not come this far (refused earlier): go on
                arrived.wait(timeout=WAIT)
            with turn:
                turn.wait_for(lambda: finished[0] >= slot, timeout=WAIT)
            with real() as db:
                yield db
        finally:
            gated.held = False
            with turn:
                finished[0] += 1
                turn.notify_all()

    store.transaction = transaction  # type: ignore[method-assign]
    try:
        yield
    finally:
        del store.transaction
    assert all(slots), f"not every one of {order} came to its write transaction"


# ---- reading Slack ------------------------------------------------------------------------------------------
def texts(crisis: Crisis, incident: Incident) -> list[str]:
    return [m.get("text", "") for m in crisis.emu.messages(incident.room_ref)]


def last_message(crisis: Crisis, incident: Incident, starts: str) -> dict[str, Any]:
    return [m for m in crisis.emu.messages(incident.room_ref) if m.get("text", "").startswith(starts)][-1]


def draft_messages(crisis: Crisis, incident: Incident) -> list[dict[str, Any]]:
    """The bot's draft messages in the incident channel (each carries metadata naming its `draft:<id>` step)."""
    return [
        m
        for m in crisis.emu.messages(incident.room_ref)
        if str((m.get("metadata") or {}).get("event_payload", {}).get("step", "")).startswith("draft:")
    ]


class Told:
    """What each person was told privately (ephemerals and DMs) from now on."""

    def __init__(self, crisis: Crisis) -> None:
        crisis.local.settle()
        self.crisis = crisis
        self.seen = {uid: (len(crisis.emu.ephemerals(uid)), len(crisis.emu.dms(uid))) for uid in ID.values()}

    def __call__(self, who: str) -> list[str]:
        uid = ID[who]
        ephemerals, dms = self.seen[uid]
        new = self.crisis.emu.ephemerals(uid)[ephemerals:] + self.crisis.emu.dms(uid)[dms:]
        return [m.get("text", "") for m in new]


def stale_click(crisis: Crisis, who: str, action_id: str, message: dict[str, Any], **where: Any) -> BotResponse:
    """Click `action_id` as it was drawn on `message` (a copy taken earlier), whatever the message shows now."""
    found = find_element(message["blocks"], action_id)
    assert found is not None, f"no {action_id} on that message"
    block_id, element = found
    return crisis.emu.click(ID[who], action_id, value=element["value"], block_id=block_id, **where)


def approve_fully(crisis: Crisis, incident: Incident, network: str) -> None:
    for who in ("anna", "chen"):  # data-breach level 2: crisis lead and legal
        crisis.click_draft(who, incident, network, "draft_approve")


def open_form(crisis: Crisis, who: str, action: Callable[[], object]) -> str:
    """Open a modal as `who` (a command or a click); its view id."""
    action()
    view = crisis.emu.open_view(ID[who])
    assert view is not None, f"{who} has no modal open"
    return view["id"]


def text_value(block: str, text: str) -> dict[str, Any]:
    return {block: {"value": {"type": "plain_text_input", "value": text}}}


# ==== Draft public update: one set of drafts per internal update, per reminder ======================================
def test_three_people_and_a_double_click_on_draft_public_update_make_one_set_of_drafts(team: Crisis) -> None:
    incident = declare(team, "Leaked invoices")
    team.cmd("eli", "update Portal closed at 09:40; no new access since", channel_id=incident.room_ref)
    update = last_message(team, incident, "📝")
    told = Told(team)

    def click(who: str) -> Callable[[], BotResponse]:
        return lambda: team.emu.click(ID[who], "draft_update", channel_id=incident.room_ref, ts=update["ts"])

    assert at_once(team, click("dewi"), click("dewi"), click("bram"), click("anna")) == [200] * 4
    updates = team.store.drafts(incident.id, "status_update")
    assert sorted(d.network for d in updates) == ["facebook", "linkedin", "x"]
    assert all("Portal closed at 09:40" in d.text and d.message_ref for d in updates)
    assert len([e for e in team.events(incident, "drafted") if e.data["kind"] == "status_update"]) == 3
    assert len(draft_messages(team, incident)) == 3 + 3  # the declare's drafts and one set of update drafts
    repeats = told("dewi") + told("bram") + told("anna")
    assert len(repeats) == 3 and all("already drafted" in t for t in repeats), repeats

    # another internal update is another intent: its own set
    team.cmd("eli", "update Affected customers are being emailed", channel_id=incident.room_ref)
    second = last_message(team, incident, "📝")
    for _ in range(2):
        team.click("dewi", "draft_update", channel_id=incident.room_ref, ts=second["ts"])
    updates = team.store.drafts(incident.id, "status_update")
    assert len(updates) == 6 and sum("being emailed" in d.text for d in updates) == 3
    assert len(draft_messages(team, incident)) == 3 + 6


def test_a_double_click_on_the_update_reminder_makes_one_set_of_drafts(team: Crisis) -> None:
    incident = declare(team, "Leaked addresses")
    approve_fully(team, incident, "x")
    team.clock.advance(minutes=20)
    team.click_draft("bram", incident, "x", "draft_mark_posted")
    team.clock.advance(minutes=110)  # level 2 data breach: an update every 120 minutes, reminded 10 before
    team.local.tick()
    reminder = last_message(team, incident, "🗓")
    told = Told(team)

    def click(who: str) -> Callable[[], BotResponse]:
        return lambda: team.emu.click(ID[who], "draft_update", channel_id=incident.room_ref, ts=reminder["ts"])

    assert at_once(team, click("dewi"), click("dewi"), click("bram")) == [200] * 3
    updates = team.store.drafts(incident.id, "status_update")
    assert sorted(d.network for d in updates) == ["facebook", "linkedin", "x"] and all(d.message_ref for d in updates)
    assert len(draft_messages(team, incident)) == 3 + 3
    assert len(told("dewi") + told("bram")) == 2


# ==== Escalate: an absolute level from a button, a relative step from a command ======================================
def test_two_people_pressing_escalate_to_level_3_at_once_escalate_once(team: Crisis) -> None:
    incident = declare(team, "Leaked phone numbers")
    team.clock.advance(minutes=61)
    team.local.tick()
    missed = last_message(team, incident, "⚠️")  # pings the crisis lead and the spokesperson, with the button
    told = Told(team)
    invites = len(team.emu.calls_to("conversations.invite"))

    def click(who: str) -> Callable[[], BotResponse]:
        return lambda: team.emu.click(ID[who], "escalate", channel_id=incident.room_ref, ts=missed["ts"])

    with in_turn(team.store, "escalate", "escalate"):  # both read level 2 before either wrote
        assert at_once(team, click("anna"), click("fleur")) == [200, 200]
    assert team.store.incident(incident.id).level == 3
    escalated = team.events(incident, "escalated")
    assert [(e.data["from"], e.data["to"]) for e in escalated] == [(2, 3)]
    assert sum("to level 3" in t for t in texts(team, incident)) == 1
    spokesperson = [t for t in team.store.pending_timers(incident.id) if t.kind == "ack"]
    assert sorted(t.data["stage"] for t in spokesperson) == ["page_backups", "page_lead", "remind_owner"]
    assert len(team.emu.calls_to("conversations.invite")) == invites + 1
    second = "fleur" if escalated[0].actor == ID["anna"] else "anna"
    assert ["already at level 3" in t for t in told(second) if "CR-" in t and "paged" not in t] == [True]

    # pressed again later: says so, changes nothing
    told = Told(team)
    events = len(team.events(incident))
    team.click("anna", "escalate", channel_id=incident.room_ref, ts=missed["ts"])
    assert len(team.events(incident)) == events and team.store.incident(incident.id).level == 3
    assert ["already at level 3" in t for t in told("anna")] == [True]


def test_escalate_and_deescalate_typed_at_once_are_serialised(team: Crisis) -> None:
    incident = declare(team, "Leaked birth dates")

    def typed(who: str, text: str) -> Callable[[], BotResponse]:
        return lambda: team.emu.slash_command(ID[who], text, channel_id=incident.room_ref)

    with in_turn(team.store, "escalate", "escalate"):  # both read level 2 before either wrote
        assert at_once(team, typed("anna", "escalate"), typed("fleur", "deescalate")) == [200, 200]
    changes = [(e.data["from"], e.data["to"]) for e in team.events(incident) if e.kind in ("escalated", "deescalated")]
    assert len(changes) == 2 and changes[1][0] == changes[0][1], changes  # the second starts where the first ended
    assert team.store.incident(incident.id).level == 2
    said = sorted(int(t.split("to level ")[1][0]) for t in texts(team, incident) if "escalated CR-" in t)
    assert said == sorted(to for _, to in changes)  # each said in the channel with the level it reached


# ==== Resolve: the crisis lead and a backup lead at once ===========================================================
def test_lead_and_backup_lead_submitting_resolve_at_once_resolve_once(team: Crisis) -> None:
    team.cmd("anna", "roles set crisis_lead <@U0ANNA|anna> <@U0GIJS|gijs>")
    try:
        incident = declare(team, "Leaked order history")
        views = {
            who: open_form(team, who, lambda who=who: team.cmd(who, "resolve", channel_id=incident.room_ref))
            for who in ("anna", "gijs")
        }
        told = Told(team)
        values = {
            **text_value("summary", "Portal closed, customers emailed"),
            **text_value("impact", "800 customers"),
            **text_value("lessons", "Pre-approve a holding statement"),
        }

        def submit(who: str) -> Callable[[], BotResponse]:
            return lambda: team.emu.submit_view(ID[who], views[who], values)

        with in_turn(team.store, "resolve", "resolve"):  # both read "active" before either wrote
            assert at_once(team, submit("anna"), submit("gijs")) == [200, 200]
    finally:
        team.cmd("anna", "roles set crisis_lead <@U0ANNA|anna>")
    resolved = team.events(incident, "resolved")
    assert len(resolved) == 1 and team.store.incident(incident.id).status == "resolved"
    assert sorted(d.network for d in team.store.drafts(incident.id, "resolved")) == ["facebook", "linkedin", "x"]
    assert len(draft_messages(team, incident)) == 3 + 3
    assert sum(t.startswith(f"✅ {incident.code} resolved by") for t in texts(team, incident)) == 1
    assert [f["name"] for f in team.emu.files].count(f"report-{incident.code}.md") == 1
    survey = [m for m in team.emu.dms(ID["bram"]) if "Three quick questions" in m.get("text", "")]
    assert len(survey) == 1
    second = "gijs" if resolved[0].actor == ID["anna"] else "anna"
    assert team.emu.open_view(ID[second]) is None  # the form closed: there is nothing to correct in it
    assert ["already resolved" in t for t in told(second) if incident.code in t] == [True]


# ==== Drafts: a posted draft stays posted; a rejected version is done ==============================================
def test_save_edit_racing_mark_as_posted_never_returns_a_posted_draft_to_pending(team: Crisis) -> None:
    incident = declare(team, "Leaked IBANs")
    approve_fully(team, incident, "x")
    x = team.drafts(incident)["x"]
    edit = open_form(team, "chen", lambda: team.click_draft("chen", incident, "x", "draft_edit"))

    def mark_posted() -> BotResponse:
        return team.emu.click(ID["bram"], "draft_mark_posted", channel_id=incident.room_ref, ts=x.message_ref)

    def save_edit() -> BotResponse:
        return team.emu.submit_view(ID["chen"], edit, text_value("text", "We found the cause. More at 14:00."))

    with in_turn(team.store, "mark_posted", "check_edit"):  # the edit read "approved"; the posting wrote first
        assert at_once(team, mark_posted, save_edit) == [200, 200]
    x = team.drafts(incident)["x"]
    assert (x.status, x.version, x.posted_by) == ("posted", 1, ID["bram"])
    assert not team.events(incident, "edited") and len(team.events(incident, "first_response")) == 1
    form = team.emu.view(edit)
    assert form is not None and not form.get("closed"), "the edit form stays open with the text chen typed"
    error = form["errors"].get("text", "")
    assert "already posted" in error and "/crisis update" in error, error
    assert "📣 Posted by <@U0BRAM>" in str(team.draft_message(incident, "x")["blocks"])


def test_an_edit_checked_before_a_posting_but_saved_after_it_is_refused_by_a_notice(team: Crisis) -> None:
    incident = declare(team, "Leaked sort codes")
    approve_fully(team, incident, "x")
    x = team.drafts(incident)["x"]
    edit = open_form(team, "chen", lambda: team.click_draft("chen", incident, "x", "draft_edit"))
    told = Told(team)

    def mark_posted() -> BotResponse:
        return team.emu.click(ID["bram"], "draft_mark_posted", channel_id=incident.room_ref, ts=x.message_ref)

    def save_edit() -> BotResponse:
        return team.emu.submit_view(ID["chen"], edit, text_value("text", "We found the cause. More at 15:00."))

    with in_turn(team.store, "mark_posted", "edit_draft"):  # the edit's check passed; the posting wrote first
        assert at_once(team, mark_posted, save_edit) == [200, 200]
    x = team.drafts(incident)["x"]
    assert (x.status, x.version, x.posted_by) == ("posted", 1, ID["bram"])
    assert not team.events(incident, "edited") and len(team.events(incident, "first_response")) == 1
    assert team.emu.open_view(ID["chen"]) is None, "the form was acknowledged, so it closed"
    assert [t for t in told("chen") if "already posted" in t and "/crisis update" in t], told("chen")


def test_a_rejected_version_collects_no_approval_from_a_home_tab_drawn_before_the_rejection(team: Crisis) -> None:
    incident = declare(team, "Leaked login names")
    x = team.drafts(incident)["x"]
    team.emu.open_home(ID["chen"])
    team.local.settle()
    home = team.emu.home(ID["chen"])
    assert home is not None and find_element(home["blocks"], "draft_approve", f"home-draft-{x.id}")
    team.click_draft("anna", incident, "x", "draft_reject")
    team.submit("anna", text_value("reason", "Too vague about what leaked"))
    assert team.drafts(incident)["x"].status == "rejected"
    told = Told(team)

    team.emu.click(ID["chen"], "draft_approve", view_id=home["id"], block_id=f"home-draft-{x.id}")
    team.local.settle()
    assert [a.decision for a in team.store.approvals(x.id)] == ["rejected"]
    assert not team.events(incident, "approved") and team.drafts(incident)["x"].status == "rejected"
    notes = told("chen")
    assert len(notes) == 1 and "rejected" in notes[0] and "Edit" in notes[0], notes


def test_a_rejected_version_stays_rejected_after_a_level_change_whatever_was_drawn_before(team: Crisis) -> None:
    incident = declare(team, "Leaked support tickets")
    team.click_draft("chen", incident, "x", "draft_approve")  # legal approves version 1 …
    drawn = team.draft_message(incident, "x")  # (chen's copy of the message, with Approve on it)
    team.click_draft("anna", incident, "x", "draft_reject")  # … the crisis lead rejects it
    team.submit("anna", text_value("reason", "Names the wrong system"))
    team.cmd("anna", "deescalate 1", channel_id=incident.room_ref)  # level 1: legal alone approves
    assert team.drafts(incident)["x"].status == "rejected"
    told = Told(team)

    stale_click(team, "chen", "draft_approve", drawn, channel_id=incident.room_ref, ts=drawn["ts"])
    team.local.settle()
    x = team.drafts(incident)["x"]
    assert x.status == "rejected" and not team.events(incident, "draft_ready")
    assert "draft_mark_posted" not in str(team.draft_message(incident, "x")["blocks"])
    assert ["rejected" in t for t in told("chen")] == [True]


def test_reject_racing_mark_as_posted_leaves_the_rejected_version_unposted(team: Crisis) -> None:
    team.cmd("anna", "roles set legal <@U0CHEN|chen> <@U0GIJS|gijs>")  # gijs backs chen up as legal
    try:
        incident = declare(team, "Leaked contracts")
        team.click_draft("anna", incident, "x", "draft_approve")
        reject = open_form(team, "gijs", lambda: team.click_draft("gijs", incident, "x", "draft_reject"))
        team.click_draft("chen", incident, "x", "draft_approve")  # while gijs writes why not: approved
        x = team.drafts(incident)["x"]
        assert x.status == "approved"
        told = Told(team)

        def submit_reject() -> BotResponse:
            return team.emu.submit_view(ID["gijs"], reject, text_value("reason", "Names the wrong system"))

        def mark_posted() -> BotResponse:
            return team.emu.click(ID["bram"], "draft_mark_posted", channel_id=incident.room_ref, ts=x.message_ref)

        with in_turn(team.store, "reject_draft", "mark_posted"):  # the posting read "approved"; the reject wrote
            assert at_once(team, submit_reject, mark_posted) == [200, 200]
    finally:
        team.cmd("anna", "roles set legal <@U0CHEN|chen>")
    x = team.drafts(incident)["x"]
    assert x.status == "rejected" and x.posted_at is None
    assert not team.events(incident, "posted") and not team.events(incident, "first_response")
    assert ["rejected" in t for t in told("bram")] == [True]


# ==== Every verb re-checks the state and the actor's right inside its transaction ======================================
def test_an_approval_racing_a_change_of_role_owner_is_refused(team: Crisis) -> None:
    incident = declare(team, "Leaked payslips")
    told = Told(team)

    def approve() -> BotResponse:
        return team.emu.click(ID["chen"], "draft_approve", channel_id=incident.room_ref, ts=x.message_ref)

    def reassign() -> BotResponse:
        return team.emu.slash_command(ID["anna"], "roles set legal <@U0GIJS|gijs>")

    x = team.drafts(incident)["x"]
    try:
        with in_turn(team.store, "set_role_owners", "approve_draft"):  # chen was legal when the click was read
            assert at_once(team, reassign, approve) == [200, 200]
        assert team.store.role_owners()["legal"] == [ID["gijs"]]
        assert team.store.approvals(x.id) == [] and not team.events(incident, "approved")
        assert ["You may not approve" in t for t in told("chen")] == [True]
    finally:
        team.cmd("anna", "roles set legal <@U0CHEN|chen>")


def _update(team: Crisis, incident: Incident) -> Callable[[], BotResponse]:
    return lambda: team.emu.slash_command(ID["eli"], "update Login works again", channel_id=incident.room_ref)


def _checklist(team: Crisis, incident: Incident) -> Callable[[], BotResponse]:
    header = team.emu.messages(incident.room_ref)[0]
    return lambda: team.emu.click(ID["bram"], "checklist_done", channel_id=incident.room_ref, ts=header["ts"])


def _acknowledge(team: Crisis, incident: Incident) -> Callable[[], BotResponse]:
    return lambda: team.emu.click(ID["chen"], "acknowledge", channel_id=team.emu.dm_channel_of(ID["chen"]))


def _draft_update(team: Crisis, incident: Incident) -> Callable[[], BotResponse]:
    team.cmd("eli", "update Login works again", channel_id=incident.room_ref)
    update = last_message(team, incident, "📝")
    return lambda: team.emu.click(ID["dewi"], "draft_update", channel_id=incident.room_ref, ts=update["ts"])


def _escalate(team: Crisis, incident: Incident) -> Callable[[], BotResponse]:
    return lambda: team.emu.slash_command(ID["fleur"], "escalate", channel_id=incident.room_ref)


RACING_A_RESOLVE = {  # what a person does → (the core verb, how and who, what it would leave on the timeline)
    "update": ("post_status_update", _update, "eli", "status_update"),
    "escalate": ("escalate", _escalate, "fleur", "escalated"),
    "checklist": ("complete_item", _checklist, "bram", "checklist_done"),
    "acknowledge": ("acknowledge", _acknowledge, "chen", "acknowledged"),
    "draft-update": ("draft_update", _draft_update, "dewi", "drafted"),
}
# Bolt runs at most five listeners at once (its default executor): the resolve and at most three changes per run
# (`/crisis gdpr notified` is left out: issue 12 keeps the GDPR duty open after the resolve)
RACES = {"typed": ["update", "escalate"], "clicked": ["checklist", "acknowledge", "draft-update"]}


@pytest.mark.parametrize("race", list(RACES))
def test_changes_racing_the_resolve_are_refused_as_resolved(team: Crisis, race: str) -> None:
    incident = declare(team, f"Leaked records ({race})")
    actions = {action: RACING_A_RESOLVE[action] for action in RACES[race]}
    requests = [prepare(team, incident) for _, prepare, _, _ in actions.values()]
    before = {e.id for e in team.events(incident)}
    form = open_form(team, "anna", lambda: team.cmd("anna", "resolve", channel_id=incident.room_ref))
    told = Told(team)

    def resolve() -> BotResponse:
        return team.emu.submit_view(ID["anna"], form, text_value("summary", "Contained"))

    with in_turn(team.store, "resolve", *(verb for verb, _, _, _ in actions.values())):  # all read "active" first
        assert at_once(team, resolve, *requests) == [200] * (1 + len(requests))
    assert team.store.incident(incident.id).status == "resolved"
    after = [e for e in team.events(incident) if e.id not in before]
    for action, (_, _, who, kind) in actions.items():
        late = [e for e in after if e.kind == kind and e.data.get("kind") != "resolved"]  # (the closing drafts)
        assert late == [], f"{action} changed {incident.code} after it was resolved"
        refusal = f"{incident.code} is resolved; it can no longer be changed"
        assert [t for t in told(who) if refusal in t], (action, told(who))

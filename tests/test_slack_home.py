"""The App Home tab: a person's incidents, the drafts waiting for them, their roles, recent closures.

Until build_app wires it, each test wires the Home listener itself (`register_home` is idempotent).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import ID, START, Crisis

from bot.clock import ManualClock
from bot.config import default_dir
from bot.incidents.declare import DeclareRequest, declare
from bot.localdesk import start_local
from bot.messages import load_ui_file
from bot.models import Incident
from bot.sandbox.validate import validate_view
from bot.slack.home import MAX_BLOCKS, home_view, register_home


def _open(crisis: Crisis, who: str) -> dict[str, Any]:
    register_home(crisis.local.bot.app, crisis.local.bot.slack)
    crisis.emu.open_home(ID[who])
    crisis.local.settle()
    view = crisis.emu.home(ID[who])
    assert view is not None and view["type"] == "home"
    return view


def _text(view: dict[str, Any]) -> str:
    return str(view["blocks"])


def _buttons(view: dict[str, Any], action_id: str) -> list[tuple[str, str, str]]:
    """(block_id, value, label) of every button `action_id` in the view."""
    found = []
    for block in view["blocks"]:
        elements = block.get("elements", []) if block["type"] == "actions" else [block.get("accessory") or {}]
        found += [
            (block["block_id"], e["value"], e["text"]["text"]) for e in elements if e.get("action_id") == action_id
        ]
    return found


def _declare(crisis: Crisis, title: str, who: str = "bram", scenario: str = "data-breach", **more: Any) -> Incident:
    """Declare in the core only (no channel, no pings): for tests that only need the records."""
    request = DeclareRequest(scenario=scenario, title=title, declared_by=ID[who], **more)
    return declare(crisis.local.desk, request).incident


def _staff(crisis: Crisis, *roles: str) -> None:
    """Role owners straight into the store (the front door for this is tested elsewhere)."""
    for person in crisis.local.cast:
        if person.role and (not roles or person.role in roles):
            crisis.store.set_role_owners(person.role, [person.id])


def _resolve(crisis: Crisis, incident: Incident, minutes: int = 90) -> Incident:
    """What the resolve flow records (it is not wired in Slack yet)."""
    when = START + timedelta(minutes=minutes)
    crisis.store.add_event(incident.id, when, ID["anna"], "resolved", summary="Fixed")
    return crisis.store.update_incident(incident.id, status="resolved", resolved_at=when)


def test_home_lists_my_incident_and_the_drafts_waiting_for_me(staffed: Crisis) -> None:
    incident = staffed.declare()
    view = _open(staffed, "chen")
    text = _text(view)
    assert "CR-2026-001" in text and "Customer emails exposed" in text and "Data breach · level 2" in text
    assert f"<#{incident.room_ref}>" in text
    assert "60 minutes left" in text  # the header's countdown wording
    assert "Legal: ⏳ not acknowledged yet" in text
    assert [(v, label) for _, v, label in _buttons(view, "acknowledge")] == [(f"{incident.id}:legal", "Acknowledge")]

    drafts = staffed.drafts(incident)
    approve = _buttons(view, "draft_approve")
    assert [v for _, v, _ in approve] == [f"{drafts[n].id}:1" for n in ("x", "facebook", "linkedin")]
    assert {label for _, _, label in approve} == {"Approve"}
    assert [v for _, v, _ in _buttons(view, "draft_edit")] == [v for _, v, _ in approve]
    assert [v for _, v, _ in _buttons(view, "draft_reject")] == [v for _, v, _ in approve]
    assert "*X* · CR-2026-001 · first response · version 1" in text and "also waiting for Crisis lead" in text
    assert "• *Legal*: owner" in text and "No resolved incidents yet." in text

    gijs = _open(staffed, "gijs")  # an intern: no role, did not declare
    text = _text(gijs)
    assert "No active incident involves you. Type `/crisis` to declare one." in text
    assert "Nothing is waiting for your approval." in text
    assert "You hold no crisis role." in text and "No resolved incidents yet." in text
    assert _buttons(gijs, "draft_approve") == [] and _buttons(gijs, "acknowledge") == []


def test_approve_and_acknowledge_from_the_home_tab(staffed: Crisis) -> None:
    incident = staffed.declare()
    x = staffed.drafts(incident)["x"]
    view = _open(staffed, "chen")
    staffed.click("chen", "draft_approve", view_id=view["id"], block_id=f"home-draft-{x.id}")
    assert [(a.approver, a.role, a.decision) for a in staffed.store.approvals(x.id, 1)] == [
        (ID["chen"], "legal", "approved")
    ]
    assert "✅ Legal: <@U0CHEN>" in str(staffed.draft_message(incident, "x")["blocks"])  # the channel redraws

    staffed.click("chen", "acknowledge", view_id=view["id"], block_id=f"home-ack-{incident.id}-legal")
    assert staffed.store.acks(incident.id)["legal"].user == ID["chen"]

    view = _open(staffed, "chen")  # reopening the tab redraws it
    assert [v for _, v, _ in _buttons(view, "draft_approve")] == [
        f"{staffed.drafts(incident)[n].id}:1" for n in ("facebook", "linkedin")
    ]
    assert "Legal: ✅ you acknowledged at 10:00" in _text(view) and _buttons(view, "acknowledge") == []

    anna = _open(staffed, "anna")
    for block_id, _, _ in _buttons(anna, "draft_approve"):
        staffed.click("anna", "draft_approve", view_id=anna["id"], block_id=block_id)
    assert staffed.drafts(incident)["x"].status == "approved"
    text = _text(_open(staffed, "anna"))
    assert "Nothing is waiting for your approval." in text and "CR-2026-001" in text  # still the crisis lead


def test_no_incidents_at_all(crisis: Crisis) -> None:
    text = _text(_open(crisis, "gijs"))
    assert "No active incidents. Type `/crisis` to declare one." in text


def test_resolved_incidents_with_report_command_and_escaped_titles(crisis: Crisis) -> None:
    first = _declare(crisis, "Login <!channel> *down*", scenario="service-outage")
    second = _declare(crisis, "Bad reviews", who="anna", scenario="negative-reviews", private=True)
    _resolve(crisis, first)
    _resolve(crisis, second, minutes=120)

    text = _text(_open(crisis, "gijs"))
    assert "Login &lt;!channel&gt; ∗down∗" in text and "<!channel>" not in text
    assert "Resolved 14 Mar 2026 · report: `crisisbot report CR-2026-001`" in text
    assert "CR-2026-002" not in text  # private, and gijs was not part of it
    anna = _text(_open(crisis, "anna"))
    assert anna.index("CR-2026-002") < anna.index("CR-2026-001")  # newest first
    assert "No active incidents." in anna


def test_long_lists_stay_within_slack_limits(crisis: Crisis) -> None:
    _staff(crisis, "legal")
    incidents = [_declare(crisis, f"Leak {n}") for n in range(40)]
    draft = crisis.store.drafts(incidents[-1].id)[1]  # facebook: long texts allowed
    crisis.store.update_draft(draft.id, text="Word " * 300)

    view = home_view(crisis.local.bot.slack, ID["chen"], "en")
    assert validate_view(view) == [] and len(view["blocks"]) <= MAX_BLOCKS
    text = str(view["blocks"])
    assert "…and " in text and " more" in text and "Waiting for your approval (120)" in text
    previews = [
        b["text"]["text"]
        for b in view["blocks"]
        if b["type"] == "section" and b.get("text", {}).get("type") == "plain_text"
    ]
    assert any(p.endswith("…") and len(p) <= 500 for p in previews)
    assert _open(crisis, "chen")["blocks"]  # and Slack accepts it (the fixture validates every publish)


def test_register_home_is_idempotent_and_ignores_the_messages_tab(crisis: Crisis) -> None:
    app, slack = crisis.local.bot.app, crisis.local.bot.slack
    register_home(app, slack)
    register_home(app, slack)
    crisis.emu.reset_calls()
    _open(crisis, "chen")
    assert len(crisis.emu.calls_to("views.publish")) == 1
    crisis.emu.send_event(
        {
            "type": "app_home_opened",
            "user": ID["chen"],
            "tab": "messages",
            "channel": crisis.emu.dm_channel_of(ID["chen"]) or "D1",
            "event_ts": "1.0",
        }
    )
    crisis.local.settle()
    assert len(crisis.emu.calls_to("views.publish")) == 1


def test_dutch_workspace_home_speaks_dutch(tmp_path) -> None:
    clock = ManualClock(START)
    with start_local(db_path=tmp_path / "nl.db", clock=clock, environ={"CRISISBOT_LANGUAGE": "nl"}) as local:
        crisis = Crisis(local, clock)
        _staff(crisis)
        _declare(crisis, "Klantgegevens gelekt")
        view = _open(crisis, "chen")
        text = _text(view)
        assert "Jouw actieve incidenten (1)" in text and "Datalek · niveau 2" in text
        assert "Juridisch adviseur: ⏳ nog niet bevestigd" in text and "nog 60 minuten" in text
        assert {label for _, _, label in _buttons(view, "draft_approve")} == {"Goedkeuren"}
        assert [label for _, _, label in _buttons(view, "acknowledge")] == ["Bevestigen"]
        assert "Wacht op jouw goedkeuring (3)" in text and "Nog geen opgeloste incidenten." in text
        assert validate_view({k: view[k] for k in ("type", "blocks", "callback_id")}) == []


def test_home_wording_has_the_same_keys_in_every_language() -> None:
    en = load_ui_file(default_dir("messages") / "en" / "home.yaml")
    nl = load_ui_file(default_dir("messages") / "nl" / "home.yaml")
    assert set(en) == set(nl) and len(en) > 10

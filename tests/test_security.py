"""Security through the front door: forged requests, user text that tries to format, mention or template,
who may do what, and secrets in logs.

One bot (Bolt over HTTP against the emulator, real SQLite) serves the module; each test works on incidents
of its own. Requests are signed (or forged) and sent over HTTP exactly as Slack would send them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import ID, Crisis, db_rows, declare, next_day
from jinja2.exceptions import SecurityError

from bot.localdesk import BOT_TOKEN, CAST, SIGNING_SECRET
from bot.messages import DraftValues, Messages
from bot.models import Incident
from bot.sandbox.emulator import SlackEmulator
from bot.sandbox.model import APP_ID, VERIFICATION_TOKEN
from bot.sandbox.payloads import base_payload, build_state
from bot.sandbox.process import serve_against
from bot.sandbox.transport import events_url
from bot.slack.text import escape
from bot.store import Store
from tests.fixtures_foundation import assert_refused, cli, isolate, make_project

FORM = "application/x-www-form-urlencoded"


# ---- one running desk --------------------------------------------------------------------------------------
@pytest.fixture
def team(shared: Crisis) -> Iterator[Crisis]:
    """The shared desk a day later (its own channels and duplicate window); afterwards nothing Slack refuses."""
    with next_day(shared) as crisis:
        yield crisis


counter = iter(range(1, 10**9))


# ==== 1. forged and stale signatures ================================================================================
def post(crisis: Crisis, body: str, content_type: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(
        events_url(crisis.emu.bot_url),
        data=body.encode(),
        method="POST",
        headers={"Content-Type": content_type, **headers},
    )
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def signature(secret: str, timestamp: str, body: str) -> str:
    mac = hmac.new(secret.encode(), f"v0:{timestamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return f"v0={mac}"


def signed(body: str, *, secret: str = SIGNING_SECRET, at: float | None = None) -> dict[str, str]:
    timestamp = str(int(time.time() if at is None else at))
    return {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature(secret, timestamp, body)}


FORGERIES = {
    "wrong-secret": lambda body: (body, signed(body, secret="not-the-signing-secret")),
    "stale-6-minutes": lambda body: (body, signed(body, at=time.time() - 6 * 60)),
    "stale-5-minutes-10-seconds": lambda body: (body, signed(body, at=time.time() - 310)),
    "from-the-future": lambda body: (body, signed(body, at=time.time() + 6 * 60)),
    "no-signature-headers": lambda body: (body, {}),
    "body-changed-after-signing": lambda body: (body + (" " if body.startswith("{") else "&x=1"), signed(body)),
    "signature-without-v0": lambda body: (
        body,
        {**signed(body), "X-Slack-Signature": signed(body)["X-Slack-Signature"][3:]},
    ),
    "timestamp-not-a-number": lambda body: (body, {**signed(body), "X-Slack-Request-Timestamp": "yesterday"}),
}


def command_request(crisis: Crisis, title: str) -> tuple[str, str, Callable]:
    fields = crisis.emu.slash_command_fields(ID["gijs"], f"declare other 2 {title}")
    titles = lambda: [i.title for i in crisis.store.incidents()]  # noqa: E731
    return urlencode(fields), FORM, lambda: title in titles()


def click_request(crisis: Crisis, title: str) -> tuple[str, str, Callable]:
    incident = declare(crisis, title)
    x = crisis.drafts(incident)["x"]
    payload = crisis.emu.click_payload(ID["anna"], "draft_approve", channel_id=incident.room_ref, ts=x.message_ref)
    return urlencode({"payload": json.dumps(payload)}), FORM, lambda: bool(crisis.store.approvals(x.id))


def view_request(crisis: Crisis, title: str) -> tuple[str, str, Callable]:
    crisis.cmd("gijs", "")  # opens the declare form
    view = crisis.emu.open_view(ID["gijs"])
    assert view is not None and view["callback_id"] == "declare"
    values = {
        "scenario": {"value": {"type": "static_select", "selected_option": {"value": "other"}}},
        "title": {"value": {"type": "plain_text_input", "value": title}},
    }
    with crisis.emu.ws.lock:
        stored = crisis.emu.ws.views[view["id"]]
        stored.data["state"] = build_state(stored.data.get("blocks"), values)
        payload = base_payload(
            "view_submission", crisis.emu.ws.users[ID["gijs"]], crisis.emu.team_id, crisis.emu.issue_trigger(ID["gijs"])
        )
        payload.update({"view": json.loads(json.dumps(stored.data)), "response_urls": []})
    titles = lambda: [i.title for i in crisis.store.incidents()]  # noqa: E731
    return urlencode({"payload": json.dumps(payload)}), FORM, lambda: title in titles()


def event_request(crisis: Crisis, title: str) -> tuple[str, str, Callable]:
    published = len(crisis.emu.calls_to("views.publish"))
    envelope = {
        "token": VERIFICATION_TOKEN,
        "team_id": crisis.emu.team_id,
        "api_app_id": APP_ID,
        "type": "event_callback",
        "event_id": f"Ev{next(counter):08d}",
        "event_time": int(time.time()),
        "event": {
            "type": "app_home_opened",
            "user": ID["gijs"],
            "channel": "D0GIJS",
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        },
    }
    return json.dumps(envelope), "application/json", lambda: len(crisis.emu.calls_to("views.publish")) > published


def url_verification_request(crisis: Crisis, title: str) -> tuple[str, str, Callable]:
    body = json.dumps({"token": VERIFICATION_TOKEN, "challenge": title, "type": "url_verification"})
    return body, "application/json", lambda: True


REQUESTS = {
    "slash-command": command_request,
    "button-click": click_request,
    "view-submission": view_request,
    "event": event_request,
    "url-verification": url_verification_request,
}


@pytest.mark.parametrize("forgery", list(FORGERIES))
@pytest.mark.parametrize("kind", list(REQUESTS))
def test_forged_or_stale_request_is_refused_with_401_and_changes_nothing(team: Crisis, kind: str, forgery: str) -> None:
    title = f"Forged {kind} {forgery} {next(counter)}"
    body, content_type, took_effect = REQUESTS[kind](team, title)
    before, calls = db_rows(team), len(team.emu.calls)
    sent_body, headers = FORGERIES[forgery](body)
    assert post(team, sent_body, content_type, headers) == 401
    team.local.settle()
    assert db_rows(team) == before
    assert team.emu.calls[calls:] == []  # not even an answer: no Web API call, no response_url
    # The very same request, genuinely signed, is accepted: the refusal was the signature's doing.
    assert post(team, body, content_type, signed(body)) == 200
    team.local.settle()
    assert took_effect()


# ==== 2. user text is shown, never interpreted ========================================================================
NASTY = "<!channel> <!here> <@U0ANNA> <https://evil.example|x> *bold*"
RAW = ("<!channel>", "<!here>", "<https://evil.example", "*bold*", "<!here> <@U0ANNA>", "<@U0ANNA> <https")


def mrkdwn_strings(value: Any, *, top: bool = True) -> Iterator[str]:
    """Strings Slack renders as mrkdwn: a message's `text` (also its notification) and mrkdwn text objects.

    plain_text objects and input values are shown literally by Slack, so raw text is harmless there.
    """
    if isinstance(value, dict):
        if top and isinstance(value.get("text"), str):
            yield value["text"]
        if value.get("type") == "mrkdwn" and isinstance(value.get("text"), str):
            yield value["text"]
        for key, inner in value.items():
            if key not in ("text", "initial_value", "value") or isinstance(inner, dict | list):
                yield from mrkdwn_strings(inner, top=False)
    elif isinstance(value, list):
        for inner in value:
            yield from mrkdwn_strings(inner, top=False)


def rendered_since(crisis: Crisis, calls: int, ephemerals: dict[str, int]) -> list[tuple[str, str]]:
    """(where, text) for everything the bot had Slack render since: Web API calls, response_url answers,
    ack bodies, and channel topics."""
    crisis.local.settle()
    found: list[tuple[str, str]] = []
    for call in crisis.emu.calls[calls:]:
        args = dict(call.args)
        for key in ("blocks", "view", "attachments"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        found += [(call.method, s) for s in mrkdwn_strings(args)]
        for key in ("topic", "purpose", "initial_comment"):
            if isinstance(args.get(key), str):
                found.append((f"{call.method}.{key}", args[key]))
    for name, seen in ephemerals.items():
        for note in crisis.emu.ephemerals(ID[name])[seen:]:
            found += [(f"ephemeral to {name}", s) for s in mrkdwn_strings(note)]
    return found


def assert_inert(found: list[tuple[str, str]]) -> None:
    for raw in RAW:
        leaked = [(where, text[:300]) for where, text in found if raw in text]
        assert not leaked, (raw, leaked)


def submit(crisis: Crisis, who: str, values: dict[str, str]) -> None:
    crisis.submit(
        who, {block: {"value": {"type": "plain_text_input", "value": text}} for block, text in values.items()}
    )


def test_user_text_at_every_entry_point_never_reaches_slack_as_mentions_links_or_formatting(team: Crisis) -> None:
    calls = len(team.emu.calls)
    ephemerals = {name: len(team.emu.ephemerals(uid)) for name, uid in ID.items()}

    # declare through the form: title and description
    team.cmd("bram", "")
    team.submit(
        "bram",
        {
            "scenario": {"value": {"type": "static_select", "selected_option": {"value": "data-breach"}}},
            "title": {"value": {"type": "plain_text_input", "value": NASTY}},
            "description": {"value": {"type": "plain_text_input", "value": f"Seen on forums: {NASTY}"}},
        },
    )
    incident = team.store.incidents()[-1]
    assert incident.title == NASTY and NASTY in incident.description  # stored as typed
    # edit a draft, reject another with a reason
    team.click_draft("dewi", incident, "x", "draft_edit")
    submit(team, "dewi", {"text": f"Update: {NASTY}"})
    assert team.drafts(incident)["x"].text == f"Update: {NASTY}"
    team.click_draft("chen", incident, "facebook", "draft_reject")
    submit(team, "chen", {"reason": NASTY})
    assert team.drafts(incident)["facebook"].reject_reason == NASTY
    # an internal update, turned into public update drafts; a note; a message added by the shortcut
    team.cmd("eli", f"update {NASTY}", channel_id=incident.room_ref)
    update = [m for m in team.emu.messages(incident.room_ref) if m.get("text", "").startswith("📝")][-1]
    team.click("dewi", "draft_update", channel_id=incident.room_ref, ts=update["ts"])
    assert any(NASTY in d.text for d in team.store.drafts(incident.id, "status_update"))
    team.cmd("dewi", f"note {NASTY}", channel_id=incident.room_ref)
    team.emu.user_message(ID["eli"], incident.room_ref, NASTY)
    message = team.emu.messages(incident.room_ref)[-1]
    team.emu.message_shortcut(ID["eli"], "add_to_timeline", channel_id=incident.room_ref, ts=message["ts"])
    team.local.settle()
    assert [e.data["text"] for e in team.events(incident, "note")] == [NASTY, NASTY]
    # roles: a mention that is not one, and unknown words echoed back
    team.cmd("anna", f"roles set legal {NASTY}")
    team.cmd("anna", f"roles set {NASTY}")
    team.cmd("gijs", NASTY)
    team.cmd("gijs", f"declare {NASTY}")
    # resolve: summary, impact, lessons; then the survey's open answer
    team.cmd("anna", "resolve", channel_id=incident.room_ref)
    submit(team, "anna", {"summary": NASTY, "impact": NASTY, "lessons": NASTY})
    assert team.store.incident(incident.id).status == "resolved"
    dm = team.emu.dms(ID["chen"])[-1]
    team.click("chen", "survey_open", channel_id=team.emu.dm_channel_of(ID["chen"]), ts=dm["ts"])
    team.submit(
        "chen",
        {
            "q1": {"value": {"type": "static_select", "selected_option": {"value": "4"}}},
            "q2": {"value": {"type": "static_select", "selected_option": {"value": "5"}}},
            "q3": {"value": {"type": "plain_text_input", "value": NASTY}},
        },
    )
    assert team.events(incident, "survey_answer")[-1].data["questions"]["q3"] == NASTY

    found = rendered_since(team, calls, ephemerals)
    assert len(found) > 40  # the scan saw the header, DMs, drafts, notes, answers, closing posts …
    assert_inert(found)
    # …and the text is there, defused: entities instead of angle brackets, look-alikes instead of marks
    header = json.dumps(team.emu.messages(incident.room_ref)[0]["blocks"], ensure_ascii=False)
    assert "&lt;!channel&gt;" in header and "&lt;https://evil.example|x&gt;" in header and "∗bold∗" in header
    assert team.store.role_owners()["legal"] == [ID["chen"]]


# ==== 3. templates: user values are never evaluated; company templates are sandboxed ==================================
INJECTIONS = [
    "{{ ''.__class__.__mro__ }}",
    "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "{{ 7*7 }} {{ cycler.__init__.__globals__ }}",
    "{{ self._TemplateReference__context }} {% raw %}",
]


@pytest.mark.parametrize("injection", INJECTIONS, ids=["mro", "subclasses-loop", "globals", "context"])
def test_template_syntax_in_user_text_is_shown_literally_and_never_evaluated(team: Crisis, injection: str) -> None:
    calls = len(team.emu.calls)
    incident = declare(team, injection)
    assert incident.title == " ".join(injection.split())
    team.cmd("eli", f"update {injection}", channel_id=incident.room_ref)
    update = [m for m in team.emu.messages(incident.room_ref) if m.get("text", "").startswith("📝")][-1]
    team.click("dewi", "draft_update", channel_id=incident.room_ref, ts=update["ts"])
    updates = team.store.drafts(incident.id, "status_update")
    assert updates and all(injection in d.text for d in updates)  # a value in the template, not template code
    team.local.settle()
    sent = json.dumps([c.args for c in team.emu.calls[calls:]], ensure_ascii=False)
    for evaluated in (
        "<class",
        "&lt;class",
        "<function",
        "&lt;function",
        "<built-in",
        "&lt;built-in",
        "<Context",
        "&lt;Context",
        "Undefined",
    ):
        assert evaluated not in sent, evaluated  # what the expression would have produced
    header = json.dumps(team.emu.messages(incident.room_ref)[0]["blocks"], ensure_ascii=False)
    assert escape(incident.title) in header  # shown as typed (made inert for mrkdwn)


COMPANY_TEMPLATES = {
    "mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "subclasses-loop": "{% for x in ().__class__.__base__.__subclasses__() %}{{ x }}{% endfor %}",
    "function-globals": "{{ company.__class__.__init__.__globals__ }}",
    "format-string": "{{ '{0.__class__}'.format(hashtag) }}",
}


@pytest.mark.parametrize("template", list(COMPANY_TEMPLATES))
def test_a_company_template_reaching_into_python_raises_security_error_and_fails_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, template: str
) -> None:
    isolate(monkeypatch, tmp_path)
    project = make_project(tmp_path)
    path = project / "messages" / "en" / "drafts" / "data-breach" / "first_response.x.j2"
    path.write_text(COMPANY_TEMPLATES[template] + "\n", encoding="utf-8")
    values = DraftValues(company="Acme", hashtag="#acme", faq_url="", next_update="", update="", summary="")
    with pytest.raises(SecurityError):
        Messages(project / "messages").draft("en", "data-breach", "first_response", "x", values)
    result = cli("check", "--config", project / "crisisbot.yaml")
    assert_refused(result, f"{path}:", "unsafe")


# ==== 4. who may do what ==============================================================================================
PEOPLE = ["anna", "bram", "chen", "dewi", "eli", "fleur", "gijs"]  # gijs holds no role
ROLE_OF = {
    "anna": "crisis_lead",
    "bram": "social_media_manager",
    "chen": "legal",
    "dewi": "communications",
    "eli": "tech_lead",
    "fleur": "spokesperson",
    "gijs": "nobody",
}
ALLOWED = {  # data-breach, level 2 (playbooks/data-breach.yaml and the core's fixed lists)
    "approve": {"crisis_lead", "legal"},
    "edit": {"crisis_lead", "legal", "social_media_manager", "communications"},
    "reject": {"crisis_lead", "legal"},
    "mark_posted": {"social_media_manager", "crisis_lead"},
    "escalate": {"crisis_lead", "spokesperson"},
    "resolve": {"crisis_lead"},
    "gdpr_notified": {"legal", "crisis_lead"},  # stops the 72-hour clock: playbook `gdpr_notified_by`
}
REFUSAL = {
    "approve": "You may not approve drafts",
    "edit": "You may not edit drafts",
    "reject": "You may not reject drafts",
    "mark_posted": "You may not mark a reply as posted",
    "escalate": "You may not change the level",
    "resolve": "You may not resolve this incident",
    "gdpr_notified": "You may not stop the 72-hour GDPR clock",
}


def act(crisis: Crisis, incident: Incident, who: str, action: str) -> None:
    """`who` tries `action` the way a person does: a button, or the command in the incident channel."""
    if action in ("approve", "edit", "reject", "mark_posted"):
        crisis.click_draft(
            who,
            incident,
            "x",
            {
                "approve": "draft_approve",
                "edit": "draft_edit",
                "reject": "draft_reject",
                "mark_posted": "draft_mark_posted",
            }[action],
        )
    else:
        crisis.cmd(who, action.replace("_", " "), channel_id=incident.room_ref)


def went_through(crisis: Crisis, incident: Incident, who: str, action: str) -> None:
    """The allowed action happened (a form opened is finished, as the person would)."""
    x = crisis.drafts(incident)["x"]
    if action == "approve":
        assert [a.approver for a in crisis.store.approvals(x.id)] == [ID[who]]
    elif action == "edit":
        submit(crisis, who, {"text": "We are investigating and will update at 14:00."})
        assert crisis.drafts(incident)["x"].version == 2
    elif action == "reject":
        submit(crisis, who, {"reason": "Wrong date"})
        assert crisis.drafts(incident)["x"].status == "rejected"
    elif action == "mark_posted":
        assert x.status == "posted" and x.posted_by == ID[who]
    elif action == "escalate":
        assert crisis.store.incident(incident.id).level == 3
    elif action == "resolve":
        submit(crisis, who, {"summary": "Closed"})
        assert crisis.store.incident(incident.id).status == "resolved"
    elif action == "gdpr_notified":
        assert [e.actor for e in crisis.events(incident, "gdpr_notified")] == [ID[who]]
        assert not [t for t in crisis.store.pending_timers(incident.id) if t.kind == "gdpr"]


@pytest.mark.parametrize("action", list(ALLOWED))
@pytest.mark.parametrize("who", PEOPLE, ids=[f"{p}-{ROLE_OF[p]}" for p in PEOPLE])
def test_authorization_matrix(team: Crisis, who: str, action: str) -> None:
    incident = declare(team, f"Matrix {who} {action} {next(counter)}")
    if action == "mark_posted":  # only an approved draft offers the button
        for approver in ("anna", "chen"):
            team.click_draft(approver, incident, "x", "draft_approve")
    allowed = ROLE_OF[who] in ALLOWED[action]
    before, calls = db_rows(team), len(team.emu.calls)
    refused_before = len(team.events(incident, "refused"))
    seen, views = len(team.emu.ephemerals(ID[who])), len(team.emu.views(ID[who]))
    act(team, incident, who, action)
    notes = [e["text"] for e in team.emu.ephemerals(ID[who])[seen:]]
    if allowed:
        assert not any("You may not" in n for n in notes), notes
        assert len(team.events(incident, "refused")) == refused_before
        went_through(team, incident, who, action)
        return
    assert len(notes) == 1 and notes[0].startswith(REFUSAL[action]), notes
    for role in ALLOWED[action]:  # the refusal names who may
        assert {
            "crisis_lead": "Crisis lead",
            "legal": "Legal",
            "social_media_manager": "Social media manager",
            "communications": "Communications",
            "spokesperson": "Spokesperson",
        }[role] in notes[0]
    [refusal] = team.events(incident, "refused")[refused_before:]
    assert refusal.actor == ID[who] and refusal.data["action"] == action
    after = db_rows(team)
    assert {t: rows for t, rows in after.items() if t != "events"} == {
        t: rows for t, rows in before.items() if t != "events"
    }
    assert after["events"].total() == before["events"].total() + 1
    changing = [c.method for c in team.emu.calls[calls:] if c.method not in ("response_url", "users.info")]
    assert changing == [] and team.emu.views(ID[who])[views:] == []  # no form opened either


# ==== 5. secrets never reach a log line ===============================================================================
SECRETS = ("xoxb-", "xapp-", BOT_TOKEN, SIGNING_SECRET)


def test_no_token_or_signing_secret_in_any_log_line(team: Crisis, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # root and every library below it, DEBUG included
    for name in ("slack_sdk", "slack_bolt", "urllib3", "waitress", "crisisbot", "apscheduler"):
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        incident = declare(team, "Customer emails exposed (log check)")
        team.emu.fail("chat.update", error="ratelimited", retry_after=0)  # the retry paths log too
        team.emu.fail("chat.postMessage", error="invalid_auth", after=3)
        for who in ("anna", "chen"):
            team.click_draft(who, incident, "x", "draft_approve")
        team.click_draft("bram", incident, "x", "draft_mark_posted")
        team.click_draft("gijs", incident, "facebook", "draft_approve")  # refused
        team.cmd("anna", "resolve", channel_id=incident.room_ref)
        submit(team, "anna", {"summary": "Closed, customers told"})
        forged = urlencode(team.emu.slash_command_fields(ID["gijs"], "help"))
        assert post(team, forged, FORM, signed(forged, secret="nope")) == 401
        team.local.settle()
    finally:
        for name in ("slack_sdk", "slack_bolt", "urllib3", "waitress", "crisisbot", "apscheduler"):
            logging.getLogger(name).setLevel(logging.NOTSET)
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(caplog.records) > 50  # DEBUG really was captured
    for secret in SECRETS:
        assert not [line[:300] for line in lines if secret in line], secret


def test_no_token_or_signing_secret_in_the_output_of_crisisbot_serve(emu: SlackEmulator, tmp_path: Path) -> None:
    """The real process, its own logging set-up: declare, approve, resolve, a forged request, a refused call."""
    db = tmp_path / "crisis.db"
    store = Store(db)
    for person in CAST:
        if person.role:
            store.set_role_owners(person.role, [person.id])
    store.close()
    bot = serve_against(emu, db, clock_speed=1)
    try:
        emu.fail("chat.postMessage", error="invalid_auth", after=4)
        emu.slash_command(ID["bram"], "declare data-breach 2 Customer emails exposed")
        emu.wait_for(lambda: any("CR-2026-001" in e["text"] for e in emu.ephemerals(ID["bram"])), timeout=10)
        store = Store(db)
        incident = store.incidents()[0]
        x = next(d for d in store.drafts(incident.id) if d.network == "x")
        store.close()
        for who in ("anna", "chen"):
            emu.click(ID[who], "draft_approve", channel_id=incident.room_ref, ts=x.message_ref)
        emu.wait_for(lambda: len(emu.calls_to("chat.update")) >= 2, timeout=10)
        emu.slash_command(ID["anna"], "resolve", channel_id=incident.room_ref)
        emu.wait_for(lambda: emu.open_view(ID["anna"]), timeout=10)
        view = emu.open_view(ID["anna"])
        emu.submit_view(ID["anna"], view["id"], {"summary": {"value": {"type": "plain_text_input", "value": "Closed"}}})
        emu.wait_for(lambda: emu.files, timeout=15)
        emu.slash_command(ID["gijs"], "help", secret="forged")
    finally:
        bot.stop()
    output = bot.output()
    assert "Crisis Desk starting" in output and "invalid_auth" in output  # the log was written
    for secret in SECRETS:
        assert secret not in output, secret

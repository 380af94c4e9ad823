"""Security of the Teams adapter through the front door: who may do what (each verb by each role, by someone with
no role, a guest and someone of another tenant), the Bot Framework JWT on every activity, user text and forged
mention entities that must not make the bot mention or page anyone, and secrets that must never reach a log.

One bot (tests/teams_suites.py) serves the module; each test works on incidents of its own. Activities are signed
(or forged) and sent over HTTP exactly as Teams' channel sends them.
"""

from __future__ import annotations

import copy
import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import jwt
import pytest
from conftest import db_rows
from test_security import ALLOWED, PEOPLE, REFUSAL, ROLE_OF

from bot.models import Incident
from bot.sandbox.teams import APP_SECRET, CHANNEL_ISSUER
from bot.sandbox.teams.keys import SigningKeys
from tests.teams_harness import TeamsDesk
from tests.teams_suites import (
    DECLARE,
    approve_x,
    bot_messages,
    fresh_teams,
    nodes,
    said_in,
    shown,
)

counter = iter(range(1, 10**9))


@pytest.fixture(scope="module")
def desk() -> Iterator[TeamsDesk]:
    with fresh_teams() as local:
        local.people["guest"] = local.emulator.add_user("Gus Guest", guest=True)
        yield local


def declare(local: TeamsDesk, title: str) -> Incident:
    count = len(local.store.incidents())
    local.say("bram", f"crisis declare data-breach 2 {title}", local.emulator.crisis_channel)
    incidents = local.store.incidents()
    assert len(incidents) == count + 1, said_in(local, local.emulator.threads()[-1])
    return local.store.incident(incidents[-1].id)


def rows(local: TeamsDesk) -> dict[str, Any]:
    """Every table but the idempotency keys and the adapter's refs (a person's activity is remembered)."""
    local.settle()
    found = db_rows(type("Shim", (), {"local": local, "store": local.store})())  # conftest's, on this desk
    return {t: r for t, r in found.items() if t != "platform_refs"}


# ==== 1. who may do what ====================================================================================
MATRIX_PEOPLE = [*PEOPLE, "guest"]
ROLES = {**ROLE_OF, "guest": "a guest, no role"}
INVOKED = {
    "approve": "draft_approve",
    "edit": "draft_edit",
    "reject": "draft_reject",
    "mark_posted": "draft_mark_posted",
}
TYPED = {"escalate": "crisis escalate 3", "resolve": "crisis resolve", "gdpr_notified": "crisis gdpr notified"}


def act(local: TeamsDesk, incident: Incident, who: str, action: str) -> str:
    """`who` tries `action` as a person does: a draft button (pressed on the card as it was: the buttons are not
    on the card of someone who may not press them), or the command typed in the incident's thread. Returns what
    they were answered."""
    if action in INVOKED:
        x = local.drafts(incident)["x"]
        answer = local.click(
            who, str(x.message_ref), INVOKED[action], stale=True, data={"value": f"{x.id}:{x.version}"}
        )
        return json.dumps(answer.json, ensure_ascii=False)
    room = incident.room_ref or ""
    before = len(bot_messages(local, room))
    local.say(who, TYPED[action], room)
    return json.dumps([a for a in bot_messages(local, room)[before:]], ensure_ascii=False)


def opens_a_dialog(answer: str) -> bool:
    return any(n.get("type") == "Action.Submit" for n in nodes(json.loads(answer)))


def went_through(local: TeamsDesk, incident: Incident, who: str, action: str, answer: str) -> None:
    x = local.drafts(incident)["x"]
    aad = local.people[who].aad_id
    if action == "approve":
        assert [a.approver for a in local.store.approvals(x.id)] == [aad]
    elif action in ("edit", "reject", "resolve"):  # their dialog's opener: the form is theirs to fill in
        assert opens_a_dialog(answer), answer[:300]
    elif action == "mark_posted":
        assert x.status == "posted" and x.posted_by == aad
    elif action == "escalate":
        assert local.store.incident(incident.id).level == 3
    elif action == "gdpr_notified":
        assert [e.actor for e in local.store.events(incident.id, "gdpr_notified")] == [aad]


@pytest.mark.parametrize("action", list(ALLOWED))
@pytest.mark.parametrize("who", MATRIX_PEOPLE, ids=[f"{p}-{ROLES[p]}" for p in MATRIX_PEOPLE])
def test_authorization_matrix(desk: TeamsDesk, who: str, action: str) -> None:
    incident = declare(desk, f"Matrix {who} {action} {next(counter)}")
    if action == "mark_posted":  # only an approved draft can be marked posted
        approve_x(desk, incident)
    allowed = ROLES[who] in ALLOWED[action]
    before, refused = rows(desk), len(desk.store.events(incident.id, "refused"))
    answer = act(desk, incident, who, action)
    desk.settle()
    if allowed:
        assert "You may not" not in answer, answer[:300]
        assert len(desk.store.events(incident.id, "refused")) == refused
        went_through(desk, incident, who, action, answer)
        return
    assert REFUSAL[action] in answer, answer[:300]
    assert not opens_a_dialog(answer)
    [refusal] = desk.store.events(incident.id, "refused")[refused:]
    assert refusal.actor == desk.people[who].aad_id and refusal.data["action"] == action
    after = rows(desk)
    assert {t: r for t, r in after.items() if t != "events"} == {t: r for t, r in before.items() if t != "events"}
    assert after["events"].total() == before["events"].total() + 1  # the refusal, on the timeline


@pytest.mark.parametrize("action", list(ALLOWED))
def test_someone_of_another_tenant_changes_nothing(desk: TeamsDesk, action: str) -> None:
    """The crisis lead's very activity, said to come from another tenant: refused before anything is read."""
    incident = declare(desk, f"Outsider {action} {next(counter)}")
    if action == "mark_posted":
        approve_x(desk, incident)
    act(desk, incident, "anna", "approve" if action in INVOKED else action)  # a genuine one, as a template
    template = desk.emulator.delivered[-1]
    forged = copy.deepcopy(template)
    forged["id"] = f"{forged['id']}0"
    if action in INVOKED:
        x = desk.drafts(incident)["x"]
        forged["value"]["action"] = {
            "type": "Action.Execute",
            "verb": INVOKED[action],
            "data": {"value": f"{x.id}:{x.version}"},
        }
    other = "00000000-0000-4000-8000-00000000000f"
    forged.setdefault("channelData", {})["tenant"] = {"id": other}
    forged["conversation"]["tenantId"] = other
    before = rows(desk)
    answer = desk.emulator.deliver(forged)
    desk.settle()
    assert answer.status < 500
    assert rows(desk) == before


# ==== 2. the Bot Framework JWT ==================================================================================
def signed(local: TeamsDesk, **claims: Any) -> str:
    """A channel token signed with the emulator's published key, its claims changed."""
    now = int(time.time())
    base = {
        "serviceurl": local.emulator.service_url,
        "nbf": now - 5,
        "iat": now - 5,
        "exp": now + 3600,
        "iss": CHANNEL_ISSUER,
        "aud": local.emulator.app_id,
    }
    keys = local.emulator.keys
    return jwt.encode({**base, **claims}, keys._key, algorithm="RS256", headers={"kid": keys.kid, "typ": "JWT"})


def another_key_with_the_right_kid(local: TeamsDesk) -> str:
    impostor = SigningKeys(local.emulator.app_id, local.emulator.tenant_id)
    impostor.kid = local.emulator.keys.kid  # the kid the bot's JWKS has: only the signature can tell
    return impostor.channel_token(local.emulator.service_url)


FORGERIES = {
    "no-token": lambda local: "",
    "expired": lambda local: signed(local, exp=int(time.time()) - 3600, nbf=int(time.time()) - 7200),
    "not-yet-valid": lambda local: signed(local, nbf=int(time.time()) + 3600),
    "wrong-audience": lambda local: signed(local, aud="another-bots-app-id"),
    "wrong-issuer": lambda local: signed(local, iss="https://sts.evil.example/"),
    "another-key-right-kid": another_key_with_the_right_kid,
    "unsigned-alg-none": lambda local: jwt.encode(
        {"iss": CHANNEL_ISSUER, "aud": local.emulator.app_id, "exp": int(time.time()) + 600}, None, algorithm="none"
    ),
    "garbage": lambda local: "not.a.jwt",
    "hs256-with-the-app-id-as-secret": lambda local: jwt.encode(
        {"iss": CHANNEL_ISSUER, "aud": local.emulator.app_id, "exp": int(time.time()) + 600},
        local.emulator.app_id,
        algorithm="HS256",
        headers={"kid": local.emulator.keys.kid},
    ),
}


def request_of(local: TeamsDesk, kind: str, title: str) -> tuple[dict[str, Any], Any]:
    """An activity as Teams would send it, not yet sent, and how to tell it took effect."""
    if kind == "message":  # `crisis list` in gijs's 1:1 chat
        local.say("gijs", "crisis help")
        activity = copy.deepcopy(local.emulator.delivered[-1])
        activity["id"] = f"{activity['id']}1"
        activity["text"] = activity["text"].replace("crisis help", "crisis list")
        calls = len(local.emulator.calls)  # the bot answers it (a reply: the only Connector call it makes)
        return activity, lambda: len(local.emulator.calls) > calls
    incident = declare(local, title)
    x = local.drafts(incident)["x"]
    local.people["anna"].invoke_action(str(x.message_ref), "refresh", stale=True)
    activity = copy.deepcopy(local.emulator.delivered[-1])
    activity["id"] = f"{activity['id']}1"
    activity["value"]["action"] = {"type": "Action.Execute", "verb": "draft_approve", "data": {"value": f"{x.id}:1"}}
    return activity, lambda: bool(local.store.approvals(x.id))


# The pinned SDK (1.9.0) fails on a token with no `kid` (alg none) with a KeyError, answered 500: bot/teams/auth.py's
# `unverifiable` refuses such a token with a 401 before the SDK sees it.
@pytest.mark.parametrize("forgery", list(FORGERIES))
@pytest.mark.parametrize("kind", ["message", "invoke"])
def test_a_forged_token_is_refused_with_401_and_changes_nothing(desk: TeamsDesk, kind: str, forgery: str) -> None:
    activity, took_effect = request_of(desk, kind, f"Forged {kind} {forgery} {next(counter)}")
    before, calls = rows(desk), len(desk.emulator.calls)
    answer = desk.emulator.deliver(activity, token=FORGERIES[forgery](desk))
    desk.settle()
    assert answer.status == 401, answer
    assert "Traceback" not in answer.body and desk.emulator.app_id not in answer.body
    assert rows(desk) == before and desk.emulator.calls[calls:] == []  # not even an answer
    # the very same activity, genuinely signed, is accepted: the refusal was the token's doing
    assert desk.emulator.deliver(activity).status in (200, 202)
    desk.settle()
    assert took_effect()


# ==== 3. no injected mentions ===================================================================================
def mentioned_since(local: TeamsDesk, marks: dict[str, int]) -> set[str]:
    """Every id the bot's messages mentioned since `marks` (mention entities, in activities and cards)."""
    found: set[str] = set()
    for conversation, seen in marks.items():
        for activity in bot_messages(local, conversation)[seen:]:
            for node in nodes(activity):
                if node.get("type") == "mention" and isinstance(node.get("mentioned"), dict):
                    found.add(str(node["mentioned"].get("id")))
    return found


def test_mentions_typed_or_forged_in_an_activity_page_nobody(desk: TeamsDesk) -> None:
    """gijs (no role) types `<at>…</at>` naming fleur (the spokesperson, not paged at level 2) in a declare title,
    then sends a note with a forged mention entity naming her: the bot's messages mention only the role owners
    it pages, and show no `<at>` markup of hers."""
    fleur, gijs = desk.people["fleur"], desk.people["gijs"]
    fake = f"<at>{fleur.name}</at>"
    people = [p.chat_id for p in desk.people.values()]
    marks = {c: len(bot_messages(desk, c)) for c in [desk.emulator.crisis_channel, *people]}
    typed = f"{fake} leak {next(counter)}".replace("<", "&lt;").replace(">", "&gt;")  # as Teams sends typed text
    desk.say("gijs", f"crisis declare data-breach 2 {typed}", desk.emulator.crisis_channel)
    incident = desk.store.incident(desk.store.incidents()[-1].id)
    assert fleur.name in incident.title and incident.declared_by == gijs.aad_id
    room = incident.room_ref or ""
    marks[room] = 0
    desk.say("gijs", "crisis status", room)
    note = copy.deepcopy(desk.emulator.delivered[-1])
    note["id"] = f"{note['id']}3"
    note["text"] = note["text"].replace("crisis status", f"crisis note ask {fake} to call")
    forged = {"type": "mention", "text": fake, "mentioned": {"id": fleur.id, "name": fleur.name}}
    note["entities"] = [*note.get("entities", []), forged]
    assert desk.emulator.deliver(note).status == 202
    desk.settle()
    owners = [desk.people[n] for n in ("anna", "bram", "chen", "dewi", "eli", "gijs")]  # gijs: "declared by"
    paged = {p.id for p in owners} | {p.aad_id for p in owners}
    mentioned = mentioned_since(desk, marks)
    assert fleur.id not in mentioned and fleur.aad_id not in mentioned, mentioned
    assert mentioned <= paged, mentioned - paged
    [noted] = desk.store.events(incident.id, "note")
    assert "ask" in json.dumps(noted.data)
    for text in [shown(a) for c, seen in marks.items() for a in bot_messages(desk, c)[seen:]]:
        assert fake not in text, text[:300]
    assert desk.emulator.problems == []


# ==== 4. secrets never reach a log ===============================================================================
def test_no_secret_or_token_in_any_log_line(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    loggers = ("crisisbot", "microsoft_agents", "aiohttp", "msal", "urllib3")
    for name in loggers:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        with fresh_teams() as local:
            incident = local.declare(DECLARE)
            local.emulator.fail("update_activity", error="ratelimited", retry_after=0)  # the retry paths log too
            local.emulator.fail("send_to_conversation", error="Forbidden", status=403)
            approve_x(local, incident)
            local.say("gijs", "crisis resolve", incident.room_ref)
            local.emulator.deliver(copy.deepcopy(local.emulator.delivered[-1]), token="forged.token.here")
            local.emulator.revoke_tokens()  # the bot must ask for a new one: the token request logs too
            local.say("anna", "crisis status", incident.room_ref)
            tokens = list(local.emulator.keys._issued)
            channel = local.emulator.channel_token()
    finally:
        for name in loggers:
            logging.getLogger(name).setLevel(logging.NOTSET)
    lines = [r.getMessage() for r in caplog.records] + [caplog.text]
    assert len(caplog.records) > 20  # DEBUG really was captured
    secrets = [APP_SECRET, *tokens, channel.split(".")[2]]
    for secret in secrets:
        assert not [line[:300] for line in lines if secret in line], secret[:12]

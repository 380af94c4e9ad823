"""Tests for the Bot Connector emulator (bot/sandbox/teams): real HTTP into it, and what it sends to a bot."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from unittest import mock

import jwt
import pytest

from bot.sandbox.loopback import WORK_AFTER
from bot.sandbox.teams import CARD_TYPE, CHANNEL_ISSUER, TeamsEmulator, card_problems

OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    json: Any


def http(method: str, url: str, body: Any = None, token: str | None = None, *, timeout: float = 5.0) -> Answer:
    """One real HTTP call (JSON in, JSON out)."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with OPENER.open(request, timeout=timeout) as resp:
            status, raw, hdrs = resp.status, resp.read(), dict(resp.headers)
    except urllib.error.HTTPError as exc:
        status, raw, hdrs = exc.code, exc.read(), dict(exc.headers)
    return Answer(status, hdrs, json.loads(raw) if raw else None)


def card(*texts: str, **extra: Any) -> dict[str, Any]:
    body = [{"type": "TextBlock", "text": t, "wrap": True} for t in texts]
    return {"type": "AdaptiveCard", "version": "1.5", "body": body, **extra}


def message(content: dict[str, Any] | None = None, text: str = "") -> dict[str, Any]:
    activity: dict[str, Any] = {"type": "message", "text": text}
    if content is not None:
        activity["attachments"] = [{"contentType": CARD_TYPE, "content": content}]
    return activity


def execute(verb: str, title: str, value: str = "v") -> dict[str, Any]:
    return {"type": "Action.Execute", "title": title, "verb": verb, "data": {"value": value}}


class Connector:
    """The bot's side of the Connector REST API, over plain HTTP."""

    def __init__(self, emu: TeamsEmulator, token: str | None) -> None:
        self.emu = emu
        self.token = token

    def url(self, *parts: str) -> str:
        return (
            self.emu.service_url + "v3/conversations" + "".join("/" + urllib.parse.quote(p, safe=":@;=") for p in parts)
        )

    def create(self, params: dict[str, Any]) -> Answer:
        return http("POST", self.url(), params, self.token)

    def start_thread(self, activity: dict[str, Any], channel: str | None = None) -> Answer:
        channel_data = {"channel": {"id": channel or self.emu.crisis_channel}, "tenant": {"id": self.emu.tenant_id}}
        return self.create({"isGroup": True, "channelData": channel_data, "activity": activity})

    def send(self, conversation: str, activity: dict[str, Any]) -> Answer:
        return http("POST", self.url(conversation, "activities"), activity, self.token)

    def reply(self, conversation: str, activity_id: str, activity: dict[str, Any]) -> Answer:
        return http("POST", self.url(conversation, "activities", activity_id), activity, self.token)

    def update(self, conversation: str, activity_id: str, activity: dict[str, Any]) -> Answer:
        return http("PUT", self.url(conversation, "activities", activity_id), activity, self.token)

    def delete(self, conversation: str, activity_id: str) -> Answer:
        return http("DELETE", self.url(conversation, "activities", activity_id), None, self.token)

    def get(self, conversation: str, *rest: str, query: str = "") -> Answer:
        return http("GET", self.url(conversation, *rest) + (f"?{query}" if query else ""), None, self.token)


def fetch_token(emu: TeamsEmulator, secret: str | None = None) -> Answer:
    form = {
        "grant_type": "client_credentials",
        "client_id": emu.app_id,
        "client_secret": secret or emu.app_secret,
        "scope": "https://api.botframework.com/.default",
    }
    request = urllib.request.Request(
        emu.token_url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with OPENER.open(request, timeout=5) as resp:
            return Answer(resp.status, dict(resp.headers), json.loads(resp.read()))
    except urllib.error.HTTPError as exc:
        return Answer(exc.code, dict(exc.headers), json.loads(exc.read()))


@dataclass
class Receiver:
    """A tiny bot endpoint: records each request (headers, activity) and answers with `respond(activity)`."""

    respond: Callable[[dict[str, Any]], tuple[int, Any]] = lambda activity: (200, None)
    requests: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    url: str = ""

    def activities(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [a for _, a in self.requests if kind in (None, a.get("type"))]


@pytest.fixture(autouse=True)
def sdk_signing_keys_of_this_test() -> Iterator[None]:
    """The SDK keeps one process-wide JWKS client manager (a class attribute); a Teams bot started by an earlier
    test points it at that test's emulator (bot/teams/auth.py). These tests check the SDK's own key look-up."""
    from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import (
        JwtTokenValidator,
        _JwkClientManager,
    )

    with mock.patch.object(JwtTokenValidator, "_jwk_client_manager", _JwkClientManager()):
        yield


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            activity = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            rec.requests.append((dict(self.headers), activity))
            status, body = rec.respond(activity)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    rec.url = f"http://127.0.0.1:{server.server_address[1]}/api/messages"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    yield rec
    server.shutdown()
    server.server_close()


@pytest.fixture
def emu(receiver: Receiver) -> Iterator[TeamsEmulator]:
    with TeamsEmulator(bot_url=receiver.url) as emulator:
        yield emulator


@pytest.fixture
def bot(emu: TeamsEmulator) -> Connector:
    return Connector(emu, emu.issue_token())


# ----- authentication -------------------------------------------------------------------------------
def test_every_connector_call_needs_a_token_the_emulator_issued(emu: TeamsEmulator) -> None:
    for token in (None, "not-a-token", jwt.encode({"aud": "x"}, "k" * 32, algorithm="HS256")):
        answer = Connector(emu, token).start_thread(message(card("hi")))
        assert answer.status == 401
        assert answer.json["error"]["code"] == "Unauthorized"
    assert emu.activities(emu.crisis_channel) == []

    got = fetch_token(emu)
    assert got.status == 200 and got.json["token_type"] == "Bearer" and got.json["expires_in"] > 0
    assert Connector(emu, got.json["access_token"]).start_thread(message(card("hi"))).status == 201


def test_the_token_endpoint_refuses_a_wrong_secret_and_revoked_tokens_stop_working(emu: TeamsEmulator) -> None:
    refused = fetch_token(emu, secret="wrong")
    assert refused.status == 401 and refused.json["error"] == "invalid_client"
    bot = Connector(emu, fetch_token(emu).json["access_token"])
    emu.revoke_tokens()
    assert bot.start_thread(message(card("hi"))).status == 401


def test_signed_activity_reaches_the_bot_and_its_jwt_verifies_with_the_jwks(
    emu: TeamsEmulator, receiver: Receiver
) -> None:
    anna = emu.add_user("Anna de Vries", locale="nl-NL")
    resp = anna.say("crisis status", where=emu.crisis_channel)
    assert resp.status == 200
    headers, activity = receiver.requests[-1]
    token = headers["Authorization"].removeprefix("Bearer ")
    key = jwt.PyJWKClient(emu.keys_url).get_signing_key_from_jwt(token)
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=emu.app_id, issuer=CHANNEL_ISSUER)
    assert claims["serviceurl"] == emu.service_url == activity["serviceUrl"]
    with pytest.raises(jwt.InvalidAudienceError):
        jwt.decode(token, key.key, algorithms=["RS256"], audience="someone-else")

    assert activity["text"] == "<at>Crisis Desk</at> crisis status"
    mention = next(e for e in activity["entities"] if e["type"] == "mention")
    assert mention == {
        "type": "mention",
        "mentioned": {"id": emu.bot_id, "name": "Crisis Desk"},
        "text": "<at>Crisis Desk</at>",
    }
    assert activity["from"] == {"id": anna.id, "name": "Anna de Vries", "aadObjectId": anna.aad_id}
    assert activity["conversation"]["id"] == f"{emu.crisis_channel};messageid={activity['id']}"
    assert activity["channelData"]["tenant"]["id"] == emu.tenant_id
    assert activity["channelData"]["channel"]["id"] == emu.crisis_channel
    assert activity["locale"] == "nl-NL"


def test_anonymous_mode_sends_no_authorization_and_personal_messages_carry_no_mention(receiver: Receiver) -> None:
    with TeamsEmulator(bot_url=receiver.url, anonymous=True) as emu:
        bram = emu.add_user("Bram Jansen")
        bram.say("crisis help")
    headers, activity = receiver.requests[-1]
    assert "Authorization" not in headers
    assert activity["text"] == "crisis help"
    assert activity["conversation"]["conversationType"] == "personal"
    assert activity["conversation"]["id"] == bram.chat_id
    assert not [e for e in activity["entities"] if e["type"] == "mention"]


def test_redelivery_sends_the_same_activity_id_again(emu: TeamsEmulator, receiver: Receiver) -> None:
    anna = emu.add_user("Anna")
    anna.say("crisis status", where=emu.crisis_channel)
    first = receiver.activities()[-1]
    emu.redeliver(first["id"])
    assert [a["id"] for a in receiver.activities()] == [first["id"], first["id"]]
    assert receiver.activities()[-1]["text"] == first["text"]


def test_install_sends_installation_update_and_bot_added(emu: TeamsEmulator, receiver: Receiver) -> None:
    emu.install()
    kinds = [(a["type"], a.get("action"), a.get("channelData", {}).get("eventType")) for a in receiver.activities()]
    assert kinds == [("installationUpdate", "add", None), ("conversationUpdate", None, "teamMemberAdded")]
    assert receiver.activities()[-1]["membersAdded"] == [{"id": emu.bot_id}]
    assert receiver.activities()[-1]["channelData"]["team"]["id"] == emu.team_id


# ----- conversations and activities ------------------------------------------------------------------
def test_create_conversation_in_a_channel_starts_a_thread(emu: TeamsEmulator, bot: Connector) -> None:
    answer = bot.start_thread(message(card("Incident being set up")))
    assert answer.status == 201
    root = answer.json["activityId"]
    assert answer.json["id"] == f"{emu.crisis_channel};messageid={root}"
    assert emu.threads() == [answer.json["id"]]
    (stored,) = emu.thread(root)
    assert stored["id"] == root and stored["from"]["id"] == emu.bot_id
    assert stored["conversation"]["id"] == answer.json["id"]
    assert [e.kind for e in emu.events] == ["thread_started"]


def test_send_and_reply_land_in_the_thread(emu: TeamsEmulator, bot: Connector) -> None:
    thread = bot.start_thread(message(card("root"))).json
    first = bot.send(thread["id"], message(text="first reply"))
    second = bot.reply(emu.crisis_channel, thread["activityId"], message(text="second reply"))
    third = bot.reply(thread["id"], first.json["id"], message(text="third reply"))
    assert (first.status, second.status, third.status) == (201, 201, 201)
    texts = [a.get("text") for a in emu.thread(thread["activityId"])]
    assert texts == ["", "first reply", "second reply", "third reply"]
    assert all(a["replyToId"] == thread["activityId"] for a in emu.thread(thread["activityId"])[1:2])
    # A send to the channel itself is a new post: a second thread.
    assert bot.send(emu.crisis_channel, message(text="new post")).status == 201
    assert len(emu.threads()) == 2


def test_update_replaces_in_place_and_keeps_the_history(emu: TeamsEmulator, bot: Connector) -> None:
    thread = bot.start_thread(message(card("setting up"))).json
    answer = bot.update(thread["id"], thread["activityId"], message(card("Header: data breach")))
    assert answer.status == 200 and answer.json == {"id": thread["activityId"]}
    assert emu.card_of(thread["activityId"])["body"][0]["text"] == "Header: data breach"
    assert emu.history(thread["activityId"])[0]["attachments"][0]["content"]["body"][0]["text"] == "setting up"
    # The channel's id with the root's id works too (the root is the channel's post).
    assert bot.update(emu.crisis_channel, thread["activityId"], message(card("v3"))).status == 200


def test_updating_or_deleting_what_the_bot_did_not_send_is_refused(emu: TeamsEmulator, bot: Connector) -> None:
    anna = emu.add_user("Anna")
    anna.say("hello", where=emu.crisis_channel)
    mine = emu.activities(emu.crisis_channel)[0]
    conv = mine["conversation"]["id"]
    for answer in (bot.update(conv, mine["id"], message(text="hacked")), bot.delete(conv, mine["id"])):
        assert answer.status == 403 and answer.json["error"]["code"] == "Forbidden"
    assert emu.activity(mine["id"])["text"] == mine["text"]
    missing = bot.update(conv, "1234", message(text="x"))
    assert missing.status == 404 and missing.json["error"]["code"] == "ActivityNotFoundInConversation"
    unknown = bot.send("19:nope@thread.tacv2", message(text="x"))
    assert unknown.status == 404 and unknown.json["error"]["code"] == "ConversationNotFound"


def test_delete_removes_the_activity(emu: TeamsEmulator, bot: Connector) -> None:
    thread = bot.start_thread(message(card("root"))).json
    reply = bot.send(thread["id"], message(text="oops")).json["id"]
    assert bot.delete(thread["id"], reply).status == 200
    assert [a["id"] for a in emu.thread(thread["activityId"])] == [thread["activityId"]]
    assert emu.activity(reply) is None
    assert bot.delete(thread["id"], reply).status == 404


def test_a_bot_not_in_the_team_is_refused(receiver: Receiver) -> None:
    with TeamsEmulator(bot_url=receiver.url, installed=False) as emu:
        bot = Connector(emu, emu.issue_token())
        answer = bot.start_thread(message(card("root")))
        assert answer.status == 403 and answer.json["error"]["code"] == "BotNotInConversationRoster"
        assert bot.get(emu.team_id, "members").status == 403
        emu.install()
        assert bot.start_thread(message(card("root"))).status == 201


def test_personal_conversations(emu: TeamsEmulator, bot: Connector) -> None:
    anna = emu.add_user("Anna")
    outsider = emu.add_user("Olaf", in_team=False)
    params = {"isGroup": False, "members": [{"id": anna.aad_id}], "tenantId": emu.tenant_id}
    first = bot.create(params)
    again = bot.create({**params, "members": [{"id": anna.id}]})
    assert first.status == 201 and first.json["id"] == again.json["id"] == anna.chat_id
    with_message = bot.create({**params, "activity": message(card("Please acknowledge"))})
    assert with_message.json["activityId"] == emu.chat(anna)[-1]["id"]
    assert [e.kind for e in emu.events][-1] == "dm"

    assert bot.create({"members": [{"id": anna.id}]}).status == 400  # Teams needs the tenant id
    nobody = bot.create({**params, "members": [{"id": "00000000-0000-0000-0000-000000000000"}]})
    assert nobody.status == 403 and nobody.json["error"]["code"] == "Forbidden"
    not_installed = bot.create({**params, "members": [{"id": outsider.id}]})
    assert not_installed.status == 403 and not_installed.json["error"]["code"] == "BotNotInConversationRoster"
    group = bot.create({**params, "isGroup": True, "members": [{"id": anna.id}, {"id": outsider.id}]})
    assert group.status == 400


def test_members_by_bot_framework_id_or_object_id_and_paged(emu: TeamsEmulator, bot: Connector) -> None:
    anna = emu.add_user("Anna de Vries", locale="nl-NL")
    guest = emu.add_user("Gwen Guest", guest=True)
    for i in range(118):
        emu.add_user(f"Person {i}")
    emu.add_user("Olaf", in_team=False)
    members = bot.get(emu.team_id, "members").json
    assert len(members) == 120
    by_id = bot.get(emu.team_id, "members", anna.id).json
    by_aad = bot.get(emu.crisis_channel, "members", anna.aad_id).json
    assert by_id == by_aad
    assert (
        by_id["aadObjectId"] == anna.aad_id and by_id["name"] == "Anna de Vries" and by_id["tenantId"] == emu.tenant_id
    )
    assert bot.get(emu.team_id, "members", guest.id).json["userRole"] == "guest"
    missing = bot.get(emu.team_id, "members", "29:1nobody")
    assert missing.status == 404 and missing.json["error"]["code"] == "MemberNotFoundInConversation"

    seen, token, pages = [], "", 0
    while True:
        query = "pageSize=50" + (f"&continuationToken={urllib.parse.quote(token)}" if token else "")
        page = bot.get(emu.team_id, "pagedmembers", query=query).json
        seen += [m["id"] for m in page["members"]]
        pages += 1
        token = page.get("continuationToken") or ""
        if not token:
            break
    assert pages == 3 and len(set(seen)) == 120


# ----- card validation -------------------------------------------------------------------------------
def test_an_invalid_card_is_refused_with_bad_argument_and_recorded(emu: TeamsEmulator, bot: Connector) -> None:
    bad = {"type": "AdaptiveCard", "version": "1.5", "body": [{"type": "TextBlok", "text": "typo"}]}
    answer = bot.start_thread(message(bad))
    assert answer.status == 400 and answer.json["error"]["code"] == "BadArgument"
    assert emu.activities(emu.crisis_channel) == []
    assert len(emu.refused) == 1 and emu.refused[0].endpoint == "create_conversation"
    with pytest.raises(AssertionError, match="BadArgument"):
        emu.assert_clean()


def test_card_checks_version_and_refresh_user_limit(emu: TeamsEmulator, bot: Connector) -> None:
    assert card_problems(card("ok")) == []
    assert card_problems({**card("x"), "version": "1.6"})
    refresh = {"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": [f"29:1u{i}" for i in range(60)]}
    thread = bot.start_thread(message(card("sixty", refresh=refresh))).json
    assert "activityId" in thread
    too_many = {**refresh, "userIds": refresh["userIds"] + ["29:1extra"]}
    answer = bot.update(thread["id"], thread["activityId"], message(card("sixty-one", refresh=too_many)))
    assert answer.status == 400 and "at most 60" in answer.json["error"]["message"]
    assert emu.card_of(thread["activityId"])["body"][0]["text"] == "sixty"


def test_activities_over_28_kb_are_refused_with_message_size_too_big(emu: TeamsEmulator, bot: Connector) -> None:
    thread = bot.start_thread(message(card("root"))).json
    fits = bot.send(thread["id"], message(card("x" * 27_000)))
    assert fits.status == 201
    big = bot.send(thread["id"], message(card("x" * 29_000)))
    assert big.status == 413 and big.json["error"]["code"] == "MessageSizeTooBig"
    assert len(emu.thread(thread["activityId"])) == 2
    assert emu.invalid and "MessageSizeTooBig" in emu.invalid[0]


# ----- faults ---------------------------------------------------------------------------------------
def test_rate_limit_answers_429_with_retry_after_and_changes_nothing(emu: TeamsEmulator, bot: Connector) -> None:
    emu.fail("create_conversation", error="ratelimited", retry_after=7)
    answer = bot.start_thread(message(card("root")))
    assert answer.status == 429 and answer.headers["Retry-After"] == "7"
    assert emu.activities(emu.crisis_channel) == []
    assert bot.start_thread(message(card("root"))).status == 201


def test_server_errors_times_and_after(emu: TeamsEmulator, bot: Connector) -> None:
    thread = bot.start_thread(message(card("root"))).json
    emu.fail("send_to_conversation", error="internal_error", times=2, after=1)
    statuses = [bot.send(thread["id"], message(text=str(i))).status for i in range(4)]
    assert statuses == [201, 500, 500, 201]
    assert [a.get("text") for a in emu.thread(thread["activityId"])][1:] == ["0", "3"]
    emu.fail(None, error="service_unavailable")
    assert bot.get(emu.team_id, "members").status == 503
    emu.fail("update_activity", error="ConversationBlockedByUser", status=403)
    blocked = bot.update(thread["id"], thread["activityId"], message(card("x")))
    assert blocked.status == 403 and blocked.json["error"]["code"] == "ConversationBlockedByUser"
    emu.fail("send_to_conversation", times=5)
    emu.clear_faults()
    assert bot.send(thread["id"], message(text="ok")).status == 201


def test_lost_response_does_the_work_but_the_answer_never_arrives(emu: TeamsEmulator, bot: Connector) -> None:
    thread = bot.start_thread(message(card("root"))).json
    emu.fail("send_to_conversation", error="lost_response", hang_seconds=1.0)
    with pytest.raises(TimeoutError):
        bot_send_with_timeout(bot, thread["id"], 0.3)
    assert [a.get("text") for a in emu.thread(thread["activityId"])][1:] == ["lost"]
    (call,) = emu.calls_to("send_to_conversation")[-1:]
    assert call.response.get("lost_response") is True


def bot_send_with_timeout(bot: Connector, conversation: str, timeout: float) -> None:
    request = urllib.request.Request(
        bot.url(conversation, "activities"),
        data=json.dumps(message(text="lost")).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {bot.token}"},
        method="POST",
    )
    OPENER.open(request, timeout=timeout).read()


def test_timeout_hangs_then_answers_504_and_latency_slows_every_call(emu: TeamsEmulator, bot: Connector) -> None:
    emu.fail("get_conversation_members", error="timeout", hang_seconds=0.2)
    started = time.perf_counter()
    assert bot.get(emu.team_id, "members").status == 504
    assert time.perf_counter() - started >= 0.2
    emu.latency = 0.1
    started = time.perf_counter()
    assert bot.get(emu.team_id, "members").status == 200
    assert time.perf_counter() - started >= 0.1


def test_the_latency_is_a_calls_whole_time_the_emulators_own_work_inside_it(
    emu: TeamsEmulator, bot: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A benchmark's floor is rounds × latency: the emulator validating a card must not add to the service's time.
    handle = emu._server.api.handle

    def slow(call: Any) -> Any:
        time.sleep(0.25)  # as a long card's schema check would
        return handle(call)

    monkeypatch.setattr(emu._server.api, "handle", slow)
    emu.latency = 0.3
    emu.reset_calls()
    started = time.time()
    assert bot.get(emu.team_id, "members").status == 200
    answered = time.time()
    assert 0.3 <= answered - started < 0.5  # not 0.55: the work happened while the answer waited
    [call] = emu.calls
    assert started + 0.3 <= call.at <= answered  # stamped when the answer left, as the benchmarks read it


def test_calls_that_arrive_together_are_each_timed_from_their_arrival_while_the_emulator_works(
    emu: TeamsEmulator, bot: Connector, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One interpreter: a call whose card is checked (Python holding the GIL) must not push back the arrival of the
    # calls beside it, or a burst of sends is timed as if Teams answered them one after the other.
    handle = emu._server.api.handle

    def busy(call: Any) -> Any:
        spin_until = time.perf_counter() + 0.03  # a long card's schema check, holding the interpreter
        while time.perf_counter() < spin_until:
            pass
        return handle(call)

    monkeypatch.setattr(emu._server.api, "handle", busy)
    emu.latency = 0.2
    emu.reset_calls()
    started = time.time()
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(lambda _: bot.get(emu.team_id, "members").status, range(6)))
    answered = time.time()
    assert answers == [200] * 6
    # Each answer leaves its latency after its arrival: six calls sent together come back together, not spaced out
    # by the 30 ms of work each (180 ms in all; the requests themselves leave within a few ms).
    stamps = sorted(c.at for c in emu.calls)
    assert stamps[-1] - stamps[0] < 0.06, [round(t - started, 3) for t in stamps]
    assert answered - started < 0.2 + 0.09


def test_an_unpaced_call_does_its_work_at_once(emu: TeamsEmulator, bot: Connector) -> None:
    emu.latency = 0.0
    started = time.perf_counter()
    for _ in range(5):
        assert bot.get(emu.team_id, "members").status == 200
    assert (time.perf_counter() - started) / 5 < WORK_AFTER  # the tests' and the demo's calls never wait


# ----- cards as people see them ------------------------------------------------------------------------
def test_card_action_invoke_and_user_specific_views(emu: TeamsEmulator, bot: Connector, receiver: Receiver) -> None:
    anna, gijs = emu.add_user("Anna"), emu.add_user("Gijs")
    for i in range(58):  # 60 members: only the people in refresh.userIds get the automatic refresh
        emu.add_user(f"Person {i}")

    def respond(activity: dict[str, Any]) -> tuple[int, Any]:
        if activity.get("name") != "adaptiveCard/action":
            return 200, None
        action = activity["value"]["action"]
        who = activity["from"]["name"]
        text = f"{who} pressed {action['verb']} ({action['data'].get('value')}, {action['data'].get('note')})"
        body = card(text, actions=[execute("draft_approve", "Approve", "d1")])
        return 200, {"statusCode": 200, "type": CARD_TYPE, "value": body}

    receiver.respond = respond
    refresh = {
        "action": {"type": "Action.Execute", "verb": "refresh", "data": {"value": "draft:d1"}},
        "userIds": [anna.id],
    }
    thread = bot.start_thread(message(card("Draft for X", refresh=refresh))).json
    root = thread["activityId"]

    assert gijs.view(root)["body"][0]["text"] == "Draft for X"  # not in userIds: the base card
    assert not receiver.activities("invoke")
    seen = anna.view(root)  # in userIds: the client runs the refresh invoke
    assert seen["body"][0]["text"] == "Anna pressed refresh (draft:d1, None)"
    invoke = receiver.activities("invoke")[-1]
    assert invoke["value"]["trigger"] == "automatic" and invoke["replyToId"] == root
    assert invoke["conversation"]["id"] == thread["id"]

    resp = anna.invoke_action(root, "draft_approve", inputs={"note": "fine"})
    assert resp.status == 200 and resp.json["statusCode"] == 200
    pressed = receiver.activities("invoke")[-1]["value"]
    assert pressed == {
        "action": {"type": "Action.Execute", "verb": "draft_approve", "data": {"value": "d1", "note": "fine"}},
        "trigger": "manual",
    }
    with pytest.raises(LookupError):  # Gijs's card has no Approve button
        gijs.invoke_action(root, "draft_approve")
    assert gijs.invoke_action(root, "draft_approve", {"value": "d1"}, stale=True).status == 200
    assert [e.kind for e in emu.events].count("card_action") == 2
    emu.assert_clean()


def test_in_a_conversation_of_fewer_than_60_everyone_gets_the_automatic_refresh(
    emu: TeamsEmulator, bot: Connector, receiver: Receiver
) -> None:
    anna, gijs = emu.add_user("Anna"), emu.add_user("Gijs")
    receiver.respond = lambda a: (
        200,
        {"statusCode": 200, "type": CARD_TYPE, "value": card(f"for {a['from']['name']}")},
    )
    refresh = {"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": [anna.id]}
    root = bot.start_thread(message(card("base", refresh=refresh))).json["activityId"]
    assert gijs.view(root)["body"][0]["text"] == "for Gijs"  # not listed, yet refreshed: the bot decides per person
    assert receiver.activities("invoke")[-1]["from"]["id"] == gijs.id


def test_an_invalid_card_in_an_invoke_response_is_recorded(
    emu: TeamsEmulator, bot: Connector, receiver: Receiver
) -> None:
    anna = emu.add_user("Anna")
    receiver.respond = lambda a: (200, {"statusCode": 200, "type": CARD_TYPE, "value": {"type": "AdaptiveCard"}})
    root = bot.start_thread(message(card("x", actions=[execute("go", "Go")]))).json["activityId"]
    anna.invoke_action(root, "go")
    assert emu.invalid and emu.invalid[0].startswith("invoke_response")
    assert anna.view(root)["body"][0]["text"] == "x"  # Teams could not show it: the base card stays


def test_task_fetch_and_submit(emu: TeamsEmulator, receiver: Receiver) -> None:
    bram = emu.add_user("Bram")
    form = card("Declare an incident", actions=[{"type": "Action.Submit", "title": "Declare"}])

    def respond(activity: dict[str, Any]) -> tuple[int, Any]:
        if activity.get("name") == "task/fetch":
            value = {"title": "Declare", "card": {"contentType": CARD_TYPE, "content": form}}
            return 200, {"task": {"type": "continue", "value": value}}
        return 200, {"task": {"type": "message", "value": "Declared."}}

    receiver.respond = respond
    opened = bram.fetch_task({"form": "declare"}, where=emu.crisis_channel)
    assert opened.json["task"]["type"] == "continue" and bram.open_dialog == form
    fetch = receiver.activities("invoke")[-1]
    assert fetch["name"] == "task/fetch" and fetch["value"]["data"] == {"form": "declare"}
    done = bram.submit_task({"scenario": "data-breach", "level": "2"}, where=emu.crisis_channel)
    assert done.json["task"]["value"] == "Declared." and bram.open_dialog is None
    assert receiver.activities("invoke")[-1]["value"]["data"] == {"scenario": "data-breach", "level": "2"}
    assert [e.kind for e in emu.events][-2:] == ["task_opened", "task_submitted"]


# ----- Teams' own card property, edge cases the bot meets ------------------------------------------------
def test_cards_may_carry_teams_mentions_and_bad_elements_are_explained(emu: TeamsEmulator, bot: Connector) -> None:
    anna = emu.add_user("Anna")
    entity = {"type": "mention", "text": "<at>Anna</at>", "mentioned": {"id": anna.aad_id, "name": "Anna"}}
    mentioning = card("<at>Anna</at> please acknowledge", msteams={"entities": [entity], "width": "Full"})
    assert card_problems(mentioning) == []
    assert bot.start_thread(message(mentioning)).status == 201
    wrong = card("nobody here", msteams={"entities": [entity]})
    assert "does not appear" in card_problems(wrong)[0]
    unknown = card("x")
    unknown["body"][0]["colour"] = "red"
    assert card_problems(unknown) == [
        "schema: Additional properties are not allowed ('colour' was unexpected) at /body/0"
    ]


def test_typing_is_not_kept_empty_messages_are_refused_and_entra_ids_in_user_ids_are_flagged(
    emu: TeamsEmulator, bot: Connector
) -> None:
    thread = bot.start_thread(message(card("root"))).json
    assert bot.send(thread["id"], {"type": "typing"}).status == 201
    assert len(emu.thread(thread["activityId"])) == 1
    empty = bot.send(thread["id"], {"type": "message"})
    assert empty.status == 400 and empty.json["error"]["code"] == "BadArgument"
    anna = emu.add_user("Anna")
    refresh = {"action": {"type": "Action.Execute", "verb": "refresh"}, "userIds": [anna.aad_id]}
    assert bot.send(thread["id"], message(card("draft", refresh=refresh))).status == 201
    assert any("29:" in p for p in emu.problems)


def test_the_bot_may_reply_to_an_invoke_it_got(emu: TeamsEmulator, bot: Connector, receiver: Receiver) -> None:
    anna = emu.add_user("Anna")
    root = bot.start_thread(message(card("x", actions=[execute("go", "Go")]))).json
    anna.invoke_action(root["activityId"], "go")
    invoke_id = receiver.activities("invoke")[-1]["id"]
    assert bot.reply(root["id"], invoke_id, message(text="done")).status == 201
    assert bot.reply(anna.chat_id, invoke_id, message(text="wrong place")).status == 404


# ----- the SDK's own client and token validator against the emulator -----------------------------------
def test_the_sdks_connector_client_and_jwt_validator_work_against_the_emulator(emu: TeamsEmulator) -> None:
    import asyncio
    from unittest import mock

    from microsoft_agents.activity import Activity, Attachment, ChannelAccount, ConversationParameters
    from microsoft_agents.hosting.core.authorization import _entra_issuers
    from microsoft_agents.hosting.core.authorization.agent_auth_configuration import AgentAuthConfiguration
    from microsoft_agents.hosting.core.authorization.jwt.jwt_token_validator import JwtTokenValidator
    from microsoft_agents.hosting.core.connector.client import ConnectorClient

    anna = emu.add_user("Anna")

    async def run() -> None:
        client = ConnectorClient(emu.service_url, fetch_token(emu).json["access_token"])
        root = Activity(type="message", attachments=[Attachment(content_type=CARD_TYPE, content=card("root"))])
        params = ConversationParameters(
            is_group=True, channel_data={"channel": {"id": emu.crisis_channel}}, activity=root, tenant_id=emu.tenant_id
        )
        thread = await client.conversations.create_conversation(params)
        assert thread.id == f"{emu.crisis_channel};messageid={thread.activity_id}"
        reply = await client.conversations.reply_to_activity(
            thread.id, thread.activity_id, Activity(type="message", text="hi")
        )
        await client.conversations.update_activity(thread.id, thread.activity_id, root)
        await client.conversations.delete_activity(thread.id, reply.id)
        member = await client.conversations.get_conversation_member(emu.team_id, anna.aad_id)
        assert member.id == anna.id
        chat = await client.conversations.create_conversation(
            ConversationParameters(members=[ChannelAccount(id=anna.aad_id)], tenant_id=emu.tenant_id)
        )
        assert chat.id == anna.chat_id
        await client.close()
        config = AgentAuthConfiguration(client_id=emu.app_id, tenant_id=emu.tenant_id)
        with mock.patch.dict(_entra_issuers.BOTFRAMEWORK_JWKS_URIS, {CHANNEL_ISSUER: emu.keys_url}):
            identity = await JwtTokenValidator(config).validate_token(emu.channel_token())
            assert identity.claims["serviceurl"] == emu.service_url
            with pytest.raises(ValueError):
                await JwtTokenValidator(config).validate_token(emu.channel_token(audience="another-bot"))

    asyncio.run(run())
    assert emu.invalid == [] and emu.problems == []
    assert [c.method for c in emu.calls][-6:] == [
        "create_conversation",
        "reply_to_activity",
        "update_activity",
        "delete_activity",
        "get_conversation_member",
        "create_conversation",
    ]


# ----- transcript ---------------------------------------------------------------------------------------
def test_the_condensed_transcript_shows_posts_changes_clicks_and_dms(emu: TeamsEmulator, bot: Connector) -> None:
    from rich.console import Console

    from bot.sandbox.teams.transcript import Condenser, card_lines

    anna, bram = emu.add_user("Anna"), emu.add_user("Bram")
    header = card("Data breach · level 2", "Countdown: 59 minutes", actions=[execute("acknowledge", "Acknowledge")])
    assert card_lines(header) == ["Data breach · level 2", "Countdown: 59 minutes", "[ Acknowledge ]"]
    thread = bot.start_thread(message(header)).json
    header["body"][1]["text"] = "Countdown: 58 minutes · Anna acknowledged"
    bot.update(thread["id"], thread["activityId"], message(header))
    for person in (anna, bram):
        params = {"members": [{"id": person.id}], "tenantId": emu.tenant_id, "activity": message(card("You are paged"))}
        bot.create(params)
    anna.invoke_action(thread["activityId"], "acknowledge")
    console = Console(record=True, width=140)
    for renderable in Condenser(words={"pressed": "{user} drukte op „{label}”"}).render(emu.events):
        console.print(renderable)
    text = console.export_text()
    assert "Data breach · level 2" in text and "[ Acknowledge ]" in text
    assert "✎ #crisis ›" in text and "Countdown: 58 minutes · Anna acknowledged" in text
    assert "✉ DMs to @Anna, @Bram: You are paged" in text
    assert "Anna drukte op „Acknowledge”" in text


def test_team_details_channels_and_the_sdks_paged_members_path(emu: TeamsEmulator, bot: Connector) -> None:
    emu.add_user("Anna")
    details = http("GET", f"{emu.service_url}v3/teams/{emu.team_id}", token=bot.token)
    assert details.status == 200 and details.json["id"] == emu.team_id and details.json["memberCount"] == 1
    channels = http("GET", f"{emu.service_url}v3/teams/{emu.team_id}/conversations", token=bot.token).json
    assert {c["id"] for c in channels["conversations"]} == {emu.team_id, emu.crisis_channel}
    assert http("GET", f"{emu.service_url}v3/teams/19:other@thread.tacv2", token=bot.token).status == 404
    paged = bot.get(emu.team_id, "pagedMembers", query="pageSize=50&continuationToken=")
    assert paged.status == 200 and len(paged.json["members"]) == 1


def test_submit_buttons_send_a_message_value_or_open_a_dialog(
    emu: TeamsEmulator, bot: Connector, receiver: Receiver
) -> None:
    anna = emu.add_user("Anna")
    buttons = [
        {"type": "Action.Submit", "title": "Send", "data": {"value": "x"}},
        {"type": "Action.Submit", "title": "Edit", "data": {"msteams": {"type": "task/fetch"}, "form": "edit"}},
    ]
    root = bot.start_thread(message(card("Draft", actions=buttons))).json["activityId"]
    anna.press_submit(root, "Send", inputs={"note": "n"})
    sent = receiver.activities()[-1]
    assert sent["type"] == "message" and sent["value"] == {"value": "x", "note": "n"} and sent["replyToId"] == root
    anna.press_submit(root, "Edit")
    fetch = receiver.activities()[-1]
    assert fetch["name"] == "task/fetch" and fetch["value"]["data"]["form"] == "edit"
    assert fetch["conversation"]["id"] == f"{emu.crisis_channel};messageid={root}"
    with pytest.raises(LookupError):
        anna.press_submit(root, "Delete")


def test_a_person_outside_the_team_can_install_the_app_for_themselves(
    emu: TeamsEmulator, bot: Connector, receiver: Receiver
) -> None:
    olaf = emu.add_user("Olaf", in_team=False)
    params = {"members": [{"id": olaf.aad_id}], "tenantId": emu.tenant_id}
    assert bot.create(params).status == 403
    olaf.install_personal()
    added = receiver.activities()[-1]
    assert added["type"] == "conversationUpdate" and added["conversation"]["conversationType"] == "personal"
    assert bot.create(params).json["id"] == olaf.chat_id


def test_an_invoke_answer_over_the_size_cap_is_recorded(emu: TeamsEmulator, bot: Connector, receiver: Receiver) -> None:
    anna = emu.add_user("Anna")
    receiver.respond = lambda a: (200, {"statusCode": 200, "type": CARD_TYPE, "value": card("y" * 30_000)})
    root = bot.start_thread(message(card("x", actions=[execute("go", "Go")]))).json["activityId"]
    anna.invoke_action(root, "go")
    assert emu.invalid and "byte limit" in emu.invalid[0]


def test_the_fast_validator_agrees_with_plain_draft_6_validation() -> None:
    from jsonschema import Draft6Validator

    from bot.sandbox.teams.cards import SCHEMA_PATH

    plain = Draft6Validator(json.loads(SCHEMA_PATH.read_text(encoding="utf-8")))
    column = {"type": "ColumnSet", "columns": [{"type": "Column", "items": [{"type": "TextBlock", "text": "x"}]}]}
    cards = [
        card("ok", actions=[execute("go", "Go")]),
        {**card("x"), "body": [column]},
        {**card("x"), "body": [{"type": "TextBlok", "text": "x"}]},
        {**card("x"), "body": [{"type": "TextBlock", "text": "x", "size": "huge"}]},
        {**card("x"), "body": [{"type": "Image"}]},
        {**card("x"), "actions": [{"type": "Action.Http", "title": "x"}]},
        {**card("x"), "body": [{"type": "ActionSet", "actions": [{"type": "Action.ShowCard", "card": card("in")}]}]},
        {**card("x"), "selectAction": {"type": "Action.ShowCard", "card": card("in")}},
        {**card("x"), "body": [{"type": "Input.Text", "id": "t", "label": "Title", "maxLength": "ten"}]},
    ]
    for sample in cards:
        fast_ok = not [p for p in card_problems(sample) if p.startswith("schema:")]
        assert fast_ok == plain.is_valid(sample), sample


def test_opt_in_rate_limits_per_thread(receiver: Receiver) -> None:
    from bot.sandbox.teams.throttle import Throttle

    with TeamsEmulator(bot_url=receiver.url, rate_limits=True) as emu:
        bot = Connector(emu, emu.issue_token())
        one, two = (bot.start_thread(message(card(name))).json for name in ("one", "two"))
        statuses = [bot.send(one["id"], message(text=str(i))).status for i in range(8)]
        assert statuses == [201] * 7 + [429]
        limited = bot.send(one["id"], message(text="again"))
        assert limited.status == 429 and int(limited.headers["Retry-After"]) >= 1
        assert limited.json["error"]["code"] == "TooManyRequests"
        assert bot.send(two["id"], message(text="other thread")).status == 201
    throttle = Throttle()
    assert [throttle.retry_after("c", now=100 + i * 0.1) for i in range(8)][-1] == 1
    assert throttle.retry_after("c", now=102.5) is None  # the 2-second window moved on


def test_the_sdk_parses_every_kind_of_activity_the_emulator_sends(
    emu: TeamsEmulator, bot: Connector, receiver: Receiver
) -> None:
    from microsoft_agents.activity import Activity

    anna = emu.add_user("Anna", locale="nl-NL")
    emu.install()
    anna.say("crisis status", where=emu.crisis_channel)
    anna.say("crisis help")
    root = bot.start_thread(message(card("x", actions=[execute("go", "Go")]))).json["activityId"]
    anna.say("crisis note hello", where=root)
    anna.invoke_action(root, "go")
    anna.fetch_task({"form": "declare"})
    anna.submit_task({"title": "t"})
    kinds = []
    for raw in receiver.activities():
        parsed = Activity.model_validate(raw)
        kinds.append(parsed.type)
        assert parsed.service_url == emu.service_url and parsed.recipient.id == emu.bot_id
        assert parsed.conversation.tenant_id == emu.tenant_id
    assert kinds == [
        "installationUpdate",
        "conversationUpdate",
        "message",
        "message",
        "message",
        "invoke",
        "invoke",
        "invoke",
    ]
    mention = Activity.model_validate(receiver.activities("message")[0]).get_mentions()[0]
    assert mention.mentioned.id == emu.bot_id
    reply = Activity.model_validate(receiver.activities("message")[2])
    assert reply.conversation.id == f"{emu.crisis_channel};messageid={root}" and reply.reply_to_id == root
    assert Activity.model_validate(receiver.activities("invoke")[0]).get_conversation_reference().service_url


def test_anonymous_mode_accepts_connector_calls_without_authorization_but_not_bad_tokens(receiver: Receiver) -> None:
    with TeamsEmulator(bot_url=receiver.url, anonymous=True) as emu:
        assert Connector(emu, None).start_thread(message(card("local"))).status == 201
        assert Connector(emu, "forged").start_thread(message(card("local"))).status == 401
        emu.anonymous = False
        assert Connector(emu, None).start_thread(message(card("local"))).status == 401


# ----- a bot on the pinned SDK (CloudAdapter, JWT middleware) against the emulator -------------------------
class _EmulatorTokens:
    """The SDK's Connections, handing out the emulator's tokens (what a test's stub token provider does)."""

    def __init__(self, emu: TeamsEmulator) -> None:
        self.emu = emu

    async def get_access_token(self, resource_url: str, scopes: list[str], force_refresh: bool = False) -> str:
        return self.emu.issue_token()

    def get_token_provider(self, claims: Any, service_url: str) -> _EmulatorTokens:
        return self

    def get_default_connection(self) -> _EmulatorTokens:
        return self

    def get_connection(self, name: str) -> _EmulatorTokens:
        return self

    def get_default_connection_configuration(self) -> Any:
        from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration

        return AgentAuthConfiguration(client_id=self.emu.app_id, tenant_id=self.emu.tenant_id)


def _sdk_bot(emu: TeamsEmulator, *, anonymous: bool) -> Any:
    from aiohttp import web
    from microsoft_agents.activity import Activity, AdaptiveCardInvokeResponse, Attachment
    from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware, start_agent_process
    from microsoft_agents.hosting.core import AgentApplication, MemoryStorage, TurnContext, TurnState
    from microsoft_agents.hosting.core.authorization import AgentAuthConfiguration

    tokens = _EmulatorTokens(emu)
    adapter = CloudAdapter(connection_manager=tokens)  # type: ignore[arg-type]
    app = AgentApplication[TurnState](storage=MemoryStorage(), connection_manager=tokens, start_typing_timer=False)
    button = execute("ack", "Acknowledge")

    @app.activity("message")
    async def on_message(context: TurnContext, state: TurnState) -> None:
        content = card(f"you said {context.activity.text}", actions=[button])
        await context.send_activity(
            Activity(type="message", attachments=[Attachment(content_type=CARD_TYPE, content=content)])
        )

    @app.adaptive_card.action_execute("ack")
    async def on_ack(context: TurnContext, state: TurnState, data: Any) -> AdaptiveCardInvokeResponse:
        value = card(f"acknowledged by {context.activity.from_property.name}")
        return AdaptiveCardInvokeResponse(status_code=200, type=CARD_TYPE, value=value)

    async def messages(request: web.Request) -> web.StreamResponse | None:
        return await start_agent_process(request, app, adapter)

    webapp = web.Application(middlewares=[jwt_authorization_middleware])
    webapp.router.add_post("/api/messages", messages)
    webapp["agent_configuration"] = AgentAuthConfiguration(  # the SDK's middleware reads this string key
        client_id=emu.app_id, tenant_id=emu.tenant_id, anonymous_allowed=anonymous
    )
    return webapp


@pytest.fixture
def sdk_server() -> Iterator[Callable[[Any], str]]:
    """Serve aiohttp apps on a loop thread of their own; returns a function that serves one and gives its URL."""
    import asyncio

    from aiohttp import web

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runners: list[web.AppRunner] = []

    async def start(webapp: web.Application) -> str:
        runner = web.AppRunner(webapp)
        await runner.setup()
        runners.append(runner)
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        return f"http://127.0.0.1:{port}/api/messages"

    yield lambda webapp: asyncio.run_coroutine_threadsafe(start(webapp), loop).result(timeout=10)
    for runner in runners:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=5)
    loop.close()


# The SDK's aiohttp middleware keeps its state under string keys, which aiohttp warns about.
@pytest.mark.filterwarnings("ignore::aiohttp.web_exceptions.NotAppKeyWarning")
@pytest.mark.parametrize("anonymous", [False, True])
def test_a_bot_on_the_sdk_talks_to_the_emulator(
    emu: TeamsEmulator, sdk_server: Callable[[Any], str], anonymous: bool
) -> None:
    from unittest import mock

    from microsoft_agents.hosting.core.authorization import _entra_issuers

    emu.anonymous = anonymous
    emu.bot_url = sdk_server(_sdk_bot(emu, anonymous=anonymous))
    anna = emu.add_user("Anna")
    with mock.patch.dict(_entra_issuers.BOTFRAMEWORK_JWKS_URIS, {CHANNEL_ISSUER: emu.keys_url}):
        assert anna.say("crisis status", where=emu.crisis_channel).status in (200, 202)
        (thread,) = emu.threads()
        reply = emu.wait_for(lambda: emu.activities(thread)[1:])[0]
        assert emu.card_of(reply["id"])["body"][0]["text"] == "you said crisis status"  # the SDK removed the mention
        resp = anna.invoke_action(reply["id"], "ack")
        assert resp.status == 200 and resp.json["value"]["body"][0]["text"] == "acknowledged by Anna"
        assert anna.view(reply["id"])["body"][0]["text"] == "acknowledged by Anna"
        if not anonymous:  # an activity signed for another bot is refused by the SDK's JWT validation
            assert emu.deliver(emu.delivered[0], token=emu.channel_token(audience="another-bot")).status == 401
    assert emu.invalid == [] and emu.problems == []


def test_people_mention_others_and_joining_the_team_is_announced(emu: TeamsEmulator, receiver: Receiver) -> None:
    anna, chen = emu.add_user("Anna"), emu.add_user("Chen Wu", in_team=False)
    with pytest.raises(ValueError):
        anna.say("crisis owner legal Chen", where=emu.crisis_channel, mentions=(chen,))
    anna.say("crisis owner legal <at>Chen Wu</at>", where=emu.crisis_channel, mentions=(chen,))
    mentions = [e for e in receiver.activities()[-1]["entities"] if e["type"] == "mention"]
    assert [m["mentioned"]["id"] for m in mentions] == [emu.bot_id, chen.id]
    assert mentions[1] == {
        "type": "mention",
        "mentioned": {"id": chen.id, "name": "Chen Wu"},
        "text": "<at>Chen Wu</at>",
    }
    emu.join_team(chen)
    joined = receiver.activities()[-1]
    assert joined["type"] == "conversationUpdate" and joined["membersAdded"] == [
        {"id": chen.id, "aadObjectId": chen.aad_id}
    ]
    assert chen.member.in_team


def test_people_only_see_cards_where_they_are_and_card_mentions_of_strangers_are_flagged(
    emu: TeamsEmulator, bot: Connector
) -> None:
    anna, olaf = emu.add_user("Anna"), emu.add_user("Olaf", in_team=False)
    root = bot.start_thread(message(card("team only"))).json["activityId"]
    assert anna.view(root) is not None
    with pytest.raises(LookupError):
        olaf.view(root)
    stranger = {"type": "mention", "text": "<at>Zed</at>", "mentioned": {"id": "29:1zed", "name": "Zed"}}
    bot.start_thread(message(card("<at>Zed</at> hi", msteams={"entities": [stranger]})))
    assert any("29:1zed" in p for p in emu.problems)

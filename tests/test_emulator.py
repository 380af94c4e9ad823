"""Tests for the built-in Slack emulator (bot/sandbox): Web API fidelity and what it sends to bots."""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from rich.console import Console
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry import builtin_handlers
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler, ServerErrorRetryHandler
from slack_sdk.http_retry.builtin_interval_calculators import FixedValueRetryIntervalCalculator
from slack_sdk.models.metadata import Metadata
from slack_sdk.signature import SignatureVerifier

from bot.manifest import manifest_scopes
from bot.sandbox import (
    GENERAL_ID,
    SlackEmulator,
    select_value,
    text_value,
    validate_message_blocks,
    validate_view,
)
from bot.sandbox.transcript import render_blocks, render_event, render_transcript

SECRET = "sandbox-signing-secret"


def button(action_id: str, label: str, value: str = "v") -> dict[str, Any]:
    return {"type": "button", "text": {"type": "plain_text", "text": label}, "action_id": action_id, "value": value}


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


MODAL = {
    "type": "modal",
    "callback_id": "new_thing",
    "private_metadata": "meta-1",
    "title": {"type": "plain_text", "text": "New thing"},
    "submit": {"type": "plain_text", "text": "Create"},
    "blocks": [
        {
            "type": "input",
            "block_id": "title",
            "label": {"type": "plain_text", "text": "Title"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
        {
            "type": "input",
            "block_id": "level",
            "label": {"type": "plain_text", "text": "Level"},
            "element": {
                "type": "static_select",
                "action_id": "pick",
                "options": [
                    {"text": {"type": "plain_text", "text": "Low"}, "value": "low"},
                    {"text": {"type": "plain_text", "text": "High"}, "value": "high"},
                ],
            },
        },
        {
            "type": "input",
            "block_id": "note",
            "optional": True,
            "label": {"type": "plain_text", "text": "Note"},
            "element": {"type": "plain_text_input", "action_id": "value"},
        },
    ],
}


@dataclass
class Recorder:
    """A stand-in bot: verifies Slack signatures like Bolt and records what it received."""

    requests: list[dict[str, Any]] = field(default_factory=list)
    reply: Callable[[dict[str, Any]], tuple[int, str]] = lambda req: (200, "")
    url: str = ""

    def last_payload(self) -> dict[str, Any]:
        return json.loads(self.requests[-1]["form"]["payload"])


@pytest.fixture
def emu() -> Iterator[SlackEmulator]:
    with SlackEmulator() as emulator:
        emulator.add_user("U1", "alice", "Alice Example")
        emulator.add_user("U2", "bob", tz="America/New_York", locale="nl-NL")
        yield emulator


@pytest.fixture
def client(emu: SlackEmulator) -> WebClient:
    return WebClient(token=emu.token, base_url=emu.api_url)


@pytest.fixture
def bot(emu: SlackEmulator) -> Iterator[Recorder]:
    recorder = Recorder()
    verifier = SignatureVerifier(SECRET)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            raw = self.rfile.read(int(self.headers["Content-Length"])).decode()
            ok = verifier.is_valid(
                raw, self.headers.get("X-Slack-Request-Timestamp"), self.headers.get("X-Slack-Signature")
            )
            req = {
                "path": self.path,
                "headers": dict(self.headers),
                "body": raw,
                "verified": ok,
                "form": {k: v[-1] for k, v in parse_qs(raw).items()},
            }
            recorder.requests.append(req)
            status, body = recorder.reply(req) if ok else (401, "invalid signature")
            data = body.encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json" if body.startswith("{") else "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    recorder.url = f"http://127.0.0.1:{server.server_address[1]}/slack/events"
    emu.bot_url = recorder.url
    yield recorder
    server.shutdown()
    server.server_close()
    thread.join()


def api_error(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(SlackApiError) as info:
        call()
    return info.value.response.data  # type: ignore[no-any-return]


# ----- Web API -------------------------------------------------------------------------------
def test_create_channel_and_name_rules(emu: SlackEmulator, client: WebClient) -> None:
    created = client.conversations_create(name="inc-2024_01", is_private=True)["channel"]
    assert created["id"].startswith("C") and created["is_private"] is True and created["creator"] == "U0BOT"
    assert emu.channel_by_name("inc-2024_01")["members"] == ["U0BOT"]
    assert api_error(lambda: client.conversations_create(name="inc-2024_01"))["error"] == "name_taken"
    assert api_error(lambda: client.conversations_create(name="Bad Name!"))["error"] == "invalid_name_specials"
    assert api_error(lambda: client.conversations_create(name="x" * 81))["error"] == "invalid_name_maxlength"
    assert api_error(lambda: client.conversations_create(name=""))["error"] == "invalid_name_required"
    assert [e.kind for e in emu.events] == ["channel_created"]


def test_post_update_pin_and_history(emu: SlackEmulator, client: WebClient) -> None:
    channel = client.conversations_create(name="ops")["channel"]["id"]
    client.conversations_setTopic(channel=channel, topic="Sev 1")
    assert api_error(lambda: client.conversations_setTopic(channel=channel, topic="x" * 251))["error"] == "too_long"
    posted = client.chat_postMessage(channel=channel, text="hello", blocks=[section("*hello*")])
    ts = posted["ts"]
    assert posted["channel"] == channel and posted["message"]["bot_id"] == "B0BOT"
    assert len(ts.split(".")[1]) == 6
    assert posted["message"]["blocks"][0]["block_id"]  # Slack assigns one when the app did not
    reply = client.chat_postMessage(channel=channel, text="in thread", thread_ts=ts)
    assert float(reply["ts"]) > float(ts)
    client.chat_update(channel=channel, ts=ts, text="edited")
    assert emu.message(channel, ts)["text"] == "edited" and emu.message(channel, ts)["reply_count"] == 1
    assert emu.message_history(channel, ts)[0]["text"] == "hello"
    client.pins_add(channel=channel, timestamp=ts)
    assert api_error(lambda: client.pins_add(channel=channel, timestamp=ts))["error"] == "already_pinned"
    assert api_error(lambda: client.pins_add(channel=channel, timestamp="1.000001"))["error"] == "message_not_found"
    assert api_error(lambda: client.chat_update(channel=channel, ts="1.1", text="x"))["error"] == "message_not_found"
    assert [m["ts"] for m in emu.pins(channel)] == [ts]
    assert client.pins_list(channel=channel)["items"][0]["message"]["text"] == "edited"
    history = client.conversations_history(channel=channel)["messages"]
    assert [m["ts"] for m in history] == [ts]  # thread replies are not in history
    link = client.chat_getPermalink(channel=channel, message_ts=ts)["permalink"]
    assert link == f"https://sandbox.slack.com/archives/{channel}/p{ts.replace('.', '')}"
    assert api_error(lambda: client.api_call("chat.postMessage", json={"channel": channel}))["error"] == "no_text"
    assert api_error(lambda: client.chat_postMessage(channel="C404", text="x"))["error"] == "channel_not_found"
    kinds = [e.kind for e in emu.events]
    assert kinds == ["channel_created", "topic_set", "message_posted", "message_posted", "message_updated", "pinned"]


def test_membership_invites_and_dms(emu: SlackEmulator, client: WebClient) -> None:
    channel = client.conversations_create(name="war-room")["channel"]["id"]
    client.conversations_invite(channel=channel, users="U1,U2")
    assert emu.channel(channel)["members"] == ["U0BOT", "U1", "U2"]
    assert api_error(lambda: client.conversations_invite(channel=channel, users="U1"))["error"] == "already_in_channel"
    assert api_error(lambda: client.conversations_invite(channel=channel, users="U9"))["error"] == "user_not_found"
    assert api_error(lambda: client.conversations_invite(channel=channel, users="U0BOT"))["error"] == "cant_invite_self"
    assert api_error(lambda: client.conversations_invite(channel="C404", users="U1"))["error"] == "channel_not_found"
    assert client.conversations_members(channel=channel)["members"] == ["U0BOT", "U1", "U2"]
    # A public channel the bot did not create and has not joined.
    other = emu.ws.create_channel("elsewhere", "U1", False).id
    assert api_error(lambda: client.chat_postMessage(channel=other, text="x"))["error"] == "not_in_channel"
    client.conversations_join(channel=other)
    client.chat_postMessage(channel=other, text="now I can")
    dm = client.conversations_open(users="U1")["channel"]["id"]
    assert dm.startswith("D") and emu.dm_channel_of("U1") == dm
    client.chat_postMessage(channel="U1", text="psst")  # a user id posts into the DM
    client.chat_postEphemeral(channel=channel, user="U2", text="only bob")
    assert [m["text"] for m in emu.dms("U1")] == ["psst"]
    assert emu.ephemerals("U2", channel)[0]["text"] == "only bob"
    assert (
        api_error(lambda: client.chat_postEphemeral(channel=other, user="U2", text="x"))["error"]
        == "user_not_in_channel"
    )
    info = client.users_info(user="U2", include_locale=True)["user"]
    assert info["name"] == "bob" and info["tz"] == "America/New_York" and info["locale"] == "nl-NL"
    assert api_error(lambda: client.users_info(user="U404"))["error"] == "user_not_found"
    assert {"U0BOT", "U1", "U2"} <= {u["id"] for u in client.users_list()["members"]}
    assert client.auth_test()["user_id"] == "U0BOT"


def test_blocks_validation(emu: SlackEmulator, client: WebClient) -> None:
    channel = GENERAL_ID
    too_many = [section(f"b{i}") for i in range(51)]
    data = api_error(lambda: client.chat_postMessage(channel=channel, text="x", blocks=too_many))
    assert data["error"] == "invalid_blocks"
    assert data["response_metadata"]["messages"][0].startswith("[ERROR]")
    data = api_error(lambda: client.chat_postMessage(channel=channel, text="x", blocks=[section("x" * 3001)]))
    assert data["error"] == "invalid_blocks" and "/blocks/0/text" in data["response_metadata"]["messages"][0]
    assert emu.messages(channel) == []  # rejected calls change nothing
    assert validate_message_blocks([section("x" * 3000)]) == []
    assert validate_message_blocks([{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}])
    assert validate_message_blocks([{"type": "actions", "elements": [button("a", "A"), button("a", "B")]}])
    assert validate_message_blocks([{**section("a"), "block_id": "x"}, {**section("b"), "block_id": "x"}])
    assert validate_message_blocks([{"type": "actions", "elements": [button("a", "x" * 76)]}])
    assert validate_message_blocks([{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}])
    assert validate_message_blocks([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}])
    assert validate_message_blocks([{"type": "nonsense"}])
    assert validate_view(MODAL) == []
    assert validate_view({**MODAL, "title": {"type": "plain_text", "text": "t" * 25}})
    assert validate_view({**MODAL, "submit": None})  # input blocks need a submit button
    assert validate_view({**MODAL, "private_metadata": "m" * 3001})
    assert validate_view({"type": "home", "blocks": [section("s")] * 101})


def test_form_encoded_body_and_auth(emu: SlackEmulator) -> None:
    def raw(method: str, body: bytes, headers: dict[str, str]) -> dict[str, Any]:
        request = urllib.request.Request(emu.api_url + method, data=body, headers=headers, method="POST")
        with urllib.request.urlopen(request, timeout=5) as resp:
            return json.loads(resp.read())  # type: ignore[no-any-return]

    form = {"Content-Type": "application/x-www-form-urlencoded"}
    body = b"channel=C0GENERAL&text=hi&blocks=" + urllib.request.quote(json.dumps([section("form")])).encode()
    assert raw("chat.postMessage", body, form) == {"ok": False, "error": "not_authed"}
    answer = raw("chat.postMessage", body, {**form, "Authorization": f"Bearer {emu.token}"})
    assert answer["ok"] and emu.messages(GENERAL_ID)[0]["blocks"][0]["text"]["text"] == "form"
    assert raw("nope.nothing", b"", {"Authorization": f"Bearer {emu.token}"})["error"] == "unknown_method"
    bad = WebClient(token="xoxb-wrong", base_url=emu.api_url)
    assert api_error(bad.auth_test)["error"] == "invalid_auth"
    assert [c.method for c in emu.calls] == ["chat.postMessage", "chat.postMessage", "nope.nothing", "auth.test"]


# ----- fault injection -----------------------------------------------------------------------
def test_ratelimit_is_retried_by_slack_sdk(emu: SlackEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    # The handler sleeps Retry-After plus up to 1 s of jitter; keep the jitter out of the test's time.
    monkeypatch.setattr(builtin_handlers.random, "random", lambda: 0.0)
    client = WebClient(
        token=emu.token, base_url=emu.api_url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    emu.fail("chat.postMessage", error="ratelimited", retry_after=0)
    assert client.chat_postMessage(channel=GENERAL_ID, text="after 429")["ok"]
    calls = emu.calls_to("chat.postMessage")
    assert [c.status for c in calls] == [429, 200] and calls[0].response["error"] == "ratelimited"
    assert [m["text"] for m in emu.messages(GENERAL_ID)] == ["after 429"]


def test_server_error_then_success(emu: SlackEmulator) -> None:
    fast = FixedValueRetryIntervalCalculator(0.01)
    client = WebClient(
        token=emu.token,
        base_url=emu.api_url,
        retry_handlers=[ServerErrorRetryHandler(max_retry_count=2, interval_calculator=fast)],
    )
    emu.fail(error="internal_error", times=2)
    assert client.auth_test()["ok"]
    assert [c.status for c in emu.calls] == [500, 500, 200]


def test_fault_after_custom_error_and_timeout(emu: SlackEmulator, client: WebClient) -> None:
    emu.fail("chat.postMessage", error="channel_not_found", after=1)
    client.chat_postMessage(channel=GENERAL_ID, text="first is fine")
    assert api_error(lambda: client.chat_postMessage(channel=GENERAL_ID, text="x"))["error"] == "channel_not_found"
    client.chat_postMessage(channel=GENERAL_ID, text="third is fine")
    assert len(emu.messages(GENERAL_ID)) == 2
    emu.fail("auth.test", error="timeout", hang_seconds=0.6)
    impatient = WebClient(token=emu.token, base_url=emu.api_url, timeout=0.2, retry_handlers=[])  # type: ignore[arg-type]
    with pytest.raises(Exception, match="timed out"):
        impatient.auth_test()
    emu.fail(error="internal_error")
    emu.clear_faults()
    assert client.auth_test()["ok"]


# ----- views ---------------------------------------------------------------------------------
def test_views_triggers_stack_and_home(emu: SlackEmulator, client: WebClient) -> None:
    expired = emu.issue_trigger("U1", issued_ago=5)
    assert api_error(lambda: client.views_open(trigger_id=expired, view=MODAL))["error"] == "expired_trigger_id"
    assert api_error(lambda: client.views_open(trigger_id="1.2.3", view=MODAL))["error"] == "invalid_trigger_id"
    bad = {**MODAL, "title": {"type": "plain_text", "text": "x" * 30}}
    data = api_error(lambda: client.views_open(trigger_id=emu.issue_trigger("U1"), view=bad))
    assert data["error"] == "invalid_arguments" and "/view/title" in data["response_metadata"]["messages"][0]
    trigger = emu.issue_trigger("U1")
    view = client.views_open(trigger_id=trigger, view={**MODAL, "external_id": "ext-1"})["view"]
    assert view["id"].startswith("V") and view["root_view_id"] == view["id"]
    assert api_error(lambda: client.views_open(trigger_id=trigger, view=MODAL))["error"] == "exchanged_trigger_id"
    assert emu.open_view("U1")["private_metadata"] == "meta-1"
    updated = client.views_update(external_id="ext-1", view={**MODAL, "private_metadata": "meta-2"})["view"]
    assert updated["id"] == view["id"] and emu.open_view("U1")["private_metadata"] == "meta-2"
    assert (
        api_error(lambda: client.views_update(view_id=view["id"], hash="stale", view=MODAL))["error"] == "hash_conflict"
    )
    assert api_error(lambda: client.views_update(view_id="V404", view=MODAL))["error"] == "not_found"
    pushed = client.views_push(trigger_id=emu.issue_trigger("U1"), view=MODAL)["view"]
    assert pushed["previous_view_id"] == view["id"] and len(emu.modal_stack("U1")) == 2
    home = {"type": "home", "blocks": [section("home")]}
    first = client.views_publish(user_id="U2", view=home)["view"]
    again = client.views_publish(user_id="U2", view=home)["view"]
    assert first["id"] == again["id"] and emu.home("U2")["blocks"][0]["text"]["text"] == "home"


# ----- towards the bot -----------------------------------------------------------------------
def test_slash_command_payload_and_response_url(emu: SlackEmulator, bot: Recorder) -> None:
    bot.reply = lambda req: (200, "")
    response = emu.slash_command("U1", "new outage", retry_num=1)
    assert response.status == 200 and response.body == ""
    req = bot.requests[-1]
    form = req["form"]
    assert req["verified"] and req["path"] == "/slack/events"
    assert req["headers"]["Content-Type"] == "application/x-www-form-urlencoded"
    assert req["headers"]["X-Slack-Retry-Num"] == "1" and req["headers"]["X-Slack-Retry-Reason"] == "http_timeout"
    assert form["command"] == "/crisis" and form["text"] == "new outage" and form["user_id"] == "U1"
    assert form["user_name"] == "alice" and form["channel_id"] == GENERAL_ID and form["channel_name"] == "general"
    assert form["team_id"] == "T0CRISIS" and form["api_app_id"] == "A0CRISIS"
    assert form["is_enterprise_install"] == "false" and form["trigger_id"]
    # The bot answers through response_url: ephemeral by default, in_channel when asked.
    post = json.dumps({"text": "only you see this"}).encode()
    request = urllib.request.Request(form["response_url"], data=post, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as resp:
        assert json.loads(resp.read())["ok"]
    assert emu.ephemerals("U1")[-1]["text"] == "only you see this"
    post = json.dumps({"text": "everyone", "response_type": "in_channel"}).encode()
    with urllib.request.urlopen(urllib.request.Request(form["response_url"], data=post), timeout=5):
        pass
    assert emu.messages(GENERAL_ID)[-1]["text"] == "everyone"
    # The ack body is shown to the user as well.
    bot.reply = lambda req: (200, "Working on it")
    emu.slash_command("U2", "status")
    assert emu.ephemerals("U2")[-1] == {**emu.ephemerals("U2")[-1], "text": "Working on it", "source": "ack"}


def test_forged_and_stale_signatures_are_rejected(emu: SlackEmulator, bot: Recorder) -> None:
    assert emu.slash_command("U1", "x", secret="not-the-secret").status == 401
    assert not bot.requests[-1]["verified"]
    assert emu.slash_command("U1", "x", timestamp=int(time.time()) - 3600).status == 401
    assert emu.slash_command("U1", "x").status == 200 and bot.requests[-1]["verified"]
    assert any("not acknowledged" in p for p in emu.problems)


def test_click_payload_and_replace_original(emu: SlackEmulator, client: WebClient, bot: Recorder) -> None:
    blocks = [
        section("Approve?"),
        {
            "type": "actions",
            "block_id": "decide",
            "elements": [button("approve", "Approve", "42"), button("edit", "Edit")],
        },
    ]
    ts = client.chat_postMessage(channel=GENERAL_ID, text="Approve?", blocks=blocks)["ts"]
    with pytest.raises(LookupError):
        emu.click("U1", "missing")
    assert emu.click("U1", "approve").status == 200
    payload = bot.last_payload()
    assert payload["type"] == "block_actions" and payload["user"]["id"] == "U1"
    assert payload["user"]["username"] == "alice" and payload["team"]["id"] == "T0CRISIS"
    assert payload["container"] == {
        "type": "message",
        "message_ts": ts,
        "channel_id": GENERAL_ID,
        "is_ephemeral": False,
    }
    assert payload["channel"] == {"id": GENERAL_ID, "name": "general"}
    assert payload["message"]["ts"] == ts and payload["message"]["blocks"][1]["block_id"] == "decide"
    action = payload["actions"][0]
    assert action["action_id"] == "approve" and action["block_id"] == "decide" and action["value"] == "42"
    assert action["text"]["text"] == "Approve" and action["type"] == "button" and action["action_ts"]
    assert payload["state"] == {"values": {}} and payload["enterprise"] is None and payload["trigger_id"]
    body = json.dumps({"replace_original": True, "text": "Approved by <@U1>"}).encode()
    with urllib.request.urlopen(urllib.request.Request(payload["response_url"], data=body), timeout=5):
        pass
    assert emu.message(GENERAL_ID, ts)["text"] == "Approved by <@U1>"
    assert emu.message(GENERAL_ID, ts)["blocks"] == []
    with pytest.raises(LookupError):
        emu.click("U1", "approve")  # the button is gone from the screen
    emu.click("U1", "approve", ts=ts, value="42", block_id="decide")  # a stale client can still click


def test_submit_view_payload_and_response_actions(emu: SlackEmulator, client: WebClient, bot: Recorder) -> None:
    emu.slash_command("U1", "new")
    trigger = bot.requests[-1]["form"]["trigger_id"]
    view_id = client.views_open(trigger_id=trigger, view=MODAL)["view"]["id"]
    values = {"title": {"value": text_value("DB down")}, "level": {"pick": select_value("high")}}
    with pytest.raises(ValueError):
        emu.submit_view("U1", view_id, {"title": {"value": text_value("only title")}})
    with pytest.raises(LookupError):
        emu.submit_view("U1", view_id, {"nope": {"value": text_value("x")}})
    bot.reply = lambda req: (200, json.dumps({"response_action": "errors", "errors": {"title": "Too vague"}}))
    emu.submit_view("U1", view_id, values)
    payload = bot.last_payload()
    assert payload["type"] == "view_submission" and payload["response_urls"] == []
    view = payload["view"]
    assert view["id"] == view_id and view["callback_id"] == "new_thing" and view["private_metadata"] == "meta-1"
    assert view["state"]["values"]["title"]["value"] == {"type": "plain_text_input", "value": "DB down"}
    assert view["state"]["values"]["level"]["pick"]["selected_option"]["text"]["text"] == "High"
    assert view["state"]["values"]["note"]["value"] == {"type": "plain_text_input", "value": None}
    assert view["hash"] and view["root_view_id"] == view_id and "previous_view_id" in view
    assert emu.open_view("U1")["errors"] == {"title": "Too vague"}
    bot.reply = lambda req: (200, json.dumps({"response_action": "update", "view": {**MODAL, "callback_id": "v2"}}))
    emu.submit_view("U1", view_id, values)
    assert emu.open_view("U1")["callback_id"] == "v2"
    bot.reply = lambda req: (200, "")
    emu.submit_view("U1", view_id, values)
    assert emu.open_view("U1") is None
    assert [e.kind for e in emu.events if e.kind.startswith("view")] == [
        "view_opened",
        "view_errors",
        "view_updated",
        "view_closed",
    ]


def test_click_in_modal_and_select(emu: SlackEmulator, client: WebClient, bot: Recorder) -> None:
    modal = {
        **MODAL,
        "blocks": [
            *MODAL["blocks"],
            {
                "type": "actions",
                "block_id": "more",
                "elements": [
                    button("add_row", "Add row"),
                    {
                        "type": "static_select",
                        "action_id": "sev",
                        "options": [{"text": {"type": "plain_text", "text": "S1"}, "value": "s1"}],
                    },
                ],
            },
        ],
    }
    view_id = client.views_open(trigger_id=emu.issue_trigger("U2"), view=modal)["view"]["id"]
    emu.click("U2", "add_row")
    payload = bot.last_payload()
    assert payload["container"] == {"type": "view", "view_id": view_id} and payload["view"]["id"] == view_id
    assert "response_url" not in payload and "message" not in payload
    emu.click_select("U2", "sev", "s1")
    action = bot.last_payload()["actions"][0]
    assert action["type"] == "static_select" and action["selected_option"]["value"] == "s1"
    with pytest.raises(LookupError):
        emu.click_select("U2", "sev", "s9")


def test_files_and_transcript(emu: SlackEmulator, client: WebClient) -> None:
    channel = client.conversations_create(name="files")["channel"]["id"]
    client.conversations_invite(channel=channel, users="U1")
    client.files_upload_v2(channel=channel, content=b"timeline", filename="timeline.md", initial_comment="Report")
    assert emu.files[0]["content"] == b"timeline" and emu.files[0]["channels"] == [channel]
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "Status"}},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Owner* <@U1> in <#{channel}> <!channel> <https://x.io|doc>"},
        },
        {"type": "divider"},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "note"}]},
        {"type": "actions", "elements": [button("a", "Approve"), button("e", "Edit")]},
    ]
    client.chat_postMessage(channel=channel, text="Status", blocks=blocks)
    console = Console(width=100, record=True, color_system=None)
    console.print(render_transcript(emu))
    console.print(render_event(emu.events[-1], emu))
    text = console.export_text()
    assert "@alice in #files @channel doc (https://x.io)" in text
    assert "[ Approve ]  [ Edit ]" in text and "timeline.md" in text
    assert "[bold]Status[/bold]" in render_blocks(blocks)


def test_events_api_close_notification_and_hook_limits(emu: SlackEmulator, client: WebClient, bot: Recorder) -> None:
    responses = emu.user_message("U1", GENERAL_ID, "hey <@U0BOT> help")
    assert [r.status for r in responses] == [200, 200]
    envelope = json.loads(bot.requests[-1]["body"])
    assert bot.requests[-1]["verified"] and bot.requests[-1]["headers"]["Content-Type"] == "application/json"
    assert envelope["type"] == "event_callback" and envelope["event"]["type"] == "app_mention"
    assert envelope["event"]["user"] == "U1" and envelope["authorizations"][0]["user_id"] == "U0BOT"
    emu.event_subscriptions = {"app_mention"}
    assert len(emu.user_message("U2", GENERAL_ID, "no mention")) == 0
    client.views_open(trigger_id=emu.issue_trigger("U1"), view={**MODAL, "notify_on_close": True})
    assert emu.close_view("U1") is not None and bot.last_payload()["type"] == "view_closed"
    assert emu.open_view("U1") is None
    emu.slash_command("U1", "x")
    url = bot.requests[-1]["form"]["response_url"]
    statuses = []
    for _ in range(6):
        try:
            with urllib.request.urlopen(urllib.request.Request(url, data=b'{"text": "t"}'), timeout=5) as resp:
                statuses.append(resp.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
    assert statuses == [200] * 5 + [404]  # a response_url works five times


def test_concurrent_calls_get_unique_increasing_ts(emu: SlackEmulator, client: WebClient) -> None:
    results: list[str] = []
    threads = [
        threading.Thread(target=lambda: results.append(client.chat_postMessage(channel=GENERAL_ID, text="x")["ts"]))
        for _ in range(20)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stored = [m["ts"] for m in emu.messages(GENERAL_ID)]
    assert len(set(results)) == 20 and sorted(results) == stored


def test_message_metadata_is_checked_and_read_back_only_when_asked(emu: SlackEmulator, client: WebClient) -> None:
    channel = client.conversations_create(name="meta")["channel"]["id"]
    tag = Metadata(event_type="crisisbot_step", event_payload={"incident": "CR-1", "step": "header"})
    ts = client.chat_postMessage(channel=channel, text="hi", metadata=tag)["ts"]
    plain = client.conversations_history(channel=channel)["messages"]
    assert [m["ts"] for m in plain] == [ts] and "metadata" not in plain[0]
    [full] = client.conversations_history(channel=channel, include_all_metadata=True)["messages"]
    assert full["metadata"] == tag.to_dict()
    for bad, error in (
        ({"event_type": "has space", "event_payload": {}}, "invalid_metadata_schema"),
        ({"event_type": "ok", "event_payload": "not an object"}, "invalid_metadata_format"),
        ("[1, 2]", "invalid_metadata_format"),
    ):
        with pytest.raises(SlackApiError) as refused:
            client.chat_postMessage(channel=channel, text="x", metadata=bad)
        assert refused.value.response["error"] == error


def test_scopes_granted_by_the_manifest_cover_each_call_or_slack_says_missing_scope() -> None:
    with SlackEmulator(scopes=["chat:write", "channels:manage"]) as emu:
        emu.add_user("U1", "alice")
        client = WebClient(token=emu.token, base_url=emu.api_url)
        channel = client.conversations_create(name="scoped")["channel"]["id"]
        client.chat_postMessage(channel=channel, text="allowed")
        for call, needed in (
            (lambda: client.conversations_history(channel=channel), "channels:history"),
            (lambda: client.conversations_create(name="secret", is_private=True), "groups:write"),
            (lambda: client.conversations_list(types="public_channel,private_channel"), "channels:read,groups:read"),
            (lambda: client.users_info(user="U1"), "users:read"),
        ):
            with pytest.raises(SlackApiError) as refused:
                call()
            answer = refused.value.response
            assert (answer["error"], answer["needed"]) == ("missing_scope", needed)
            assert answer["provided"] == "channels:manage,chat:write"
    assert set(manifest_scopes()) >= {"chat:write", "channels:history", "im:history", "groups:read"}

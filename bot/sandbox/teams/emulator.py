"""TeamsEmulator: a fake Microsoft Teams tenant serving the Bot Connector and driving the bot like Teams does."""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from typing import Any

from bot.sandbox.loopback import LoopbackServer, Recorded, Served
from bot.sandbox.model import Fault
from bot.sandbox.teams import inbound
from bot.sandbox.teams.cards import MAX_BYTES, card_problems, payload_size
from bot.sandbox.teams.connector_api import ConnectorApi
from bot.sandbox.teams.graph_api import GraphApi
from bot.sandbox.teams.keys import SigningKeys
from bot.sandbox.teams.model import Event, Refusal, guid, thread_conversation
from bot.sandbox.teams.people import TeamsUser
from bot.sandbox.teams.sender import BOT_TIMEOUT, post_activity
from bot.sandbox.teams.server import GRAPH_PREFIX, LOGIN_PREFIX, SERVICE_PREFIX, ConnectorServer, serve
from bot.sandbox.teams.tenant import Tenant, card_attachments
from bot.sandbox.transport import BotResponse

APP_SECRET = "sandbox-teams-secret"


class TeamsEmulator(Recorded, Served):
    """A generic fake Teams tenant (one team: General + a crisis channel) for tests, demos and benchmarks."""

    def __init__(
        self,
        bot_url: str | None = None,
        latency: float = 0.0,
        *,
        app_id: str | None = None,
        app_secret: str = APP_SECRET,
        tenant_id: str | None = None,
        installed: bool = True,
        anonymous: bool = False,
        max_bytes: int = MAX_BYTES,
        bot_timeout: float = BOT_TIMEOUT,
        rate_limits: bool = False,
        rsc: tuple[str, ...] | None = None,
    ) -> None:
        self.bot_url = bot_url
        self.bot_timeout = bot_timeout
        self.app_id = app_id or guid()
        self.app_secret = app_secret
        self.tenant = Tenant(app_id=self.app_id, tenant_id=tenant_id or guid(), installed=installed)
        self.keys = SigningKeys(self.app_id, self.tenant.tenant_id)
        self.api = ConnectorApi(self.tenant, max_bytes=max_bytes, rate_limits=rate_limits)  # throttle.py
        self.graph = GraphApi(self.tenant) if rsc is None else GraphApi(self.tenant, rsc=set(rsc))  # graph_api.py
        self._server = ConnectorServer(self.api, self.keys, app_secret, latency=latency, graph=self.graph)
        self._book = self._server  # calls, calls_to, reset_calls, clear_faults (Recorded)
        self.anonymous = anonymous
        self._users: dict[str, TeamsUser] = {}
        self._delivered: dict[str, dict[str, Any]] = {}  # activity id -> what was sent to the bot
        self._views: dict[tuple[str, str], tuple[int, dict[str, Any]]] = {}  # (user, activity) -> (version, card)
        self._invoke_refusals: list[Refusal] = []

    # ----- lifecycle ------------------------------------------------------------------------
    def _serve(self) -> tuple[LoopbackServer, threading.Thread]:
        served = serve(self._server)
        self.tenant.service_url = self.service_url
        return served

    @property
    def base_url(self) -> str:
        """Return "http://127.0.0.1:PORT/" (only after start())."""
        if not self._server.base_url:
            raise RuntimeError("TeamsEmulator is not started")
        return self._server.base_url

    @property
    def service_url(self) -> str:
        """Return the serviceUrl activities carry (TEAMS_SERVICE_URL), ending with "/"."""
        return self.base_url + SERVICE_PREFIX.lstrip("/")

    @property
    def login_url(self) -> str:
        """Return the login base (TEAMS_LOGIN_URL): token at `/oauth2/v2.0/token`, keys at `/discovery/keys`."""
        return self.base_url + LOGIN_PREFIX.lstrip("/")

    @property
    def graph_url(self) -> str:
        """Return Microsoft Graph's base (TEAMS_GRAPH_URL), ending with "/"."""
        return self.base_url + GRAPH_PREFIX.lstrip("/")

    @property
    def token_url(self) -> str:
        """Return the client-credentials token endpoint."""
        return f"{self.login_url}/oauth2/v2.0/token"

    @property
    def keys_url(self) -> str:
        """Return the JWKS URL the bot validates activity tokens with."""
        return f"{self.login_url}/discovery/keys"

    @property
    def tenant_id(self) -> str:
        """Return the tenant id (a GUID)."""
        return self.tenant.tenant_id

    @property
    def team_id(self) -> str:
        """Return the team id (`19:…@thread.tacv2`; also the General channel's id)."""
        return self.tenant.team_id

    @property
    def general_channel(self) -> str:
        """Return the General channel id (the team id)."""
        return self.tenant.team_id

    @property
    def crisis_channel(self) -> str:
        """Return the crisis channel id (TEAMS_CRISIS_CHANNEL)."""
        return self.tenant.crisis_channel

    @property
    def bot_id(self) -> str:
        """Return the bot's id in activities (`28:<app id>`)."""
        return self.tenant.bot_id

    @property
    def bot_name(self) -> str:
        """Return the bot's display name (what `<at>…</at>` mentions show)."""
        return self.tenant.bot_name

    @property
    def anonymous(self) -> bool:
        """Return whether the bot runs in local anonymous mode: activities go without Authorization, and Connector
        calls without one are accepted (a token that is sent must still be valid)."""
        return self._server.anonymous

    @anonymous.setter
    def anonymous(self, value: bool) -> None:
        self._server.anonymous = value

    @property
    def latency(self) -> float:
        """Return the seconds slept per Connector and token call."""
        return self._server.latency

    @latency.setter
    def latency(self, seconds: float) -> None:
        self._server.latency = seconds

    def environ(self) -> dict[str, str]:
        """Return the bot's environment for this emulator (Settings' env names, the contract's table)."""
        return {
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTID": self.app_id,
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__CLIENTSECRET": self.app_secret,
            "CONNECTIONS__SERVICE_CONNECTION__SETTINGS__TENANTID": self.tenant_id,
            "TEAMS_CRISIS_CHANNEL": self.crisis_channel,
            "TEAMS_TEAM_ID": self.team_id,
            "TEAMS_SERVICE_URL": self.service_url,
            "TEAMS_LOGIN_URL": self.login_url,
            "TEAMS_GRAPH_URL": self.graph_url,
        }

    # ----- resource-specific consent (graph_api.py) ------------------------------------------
    def grant(self, *permissions: str) -> None:
        """A team owner consented to these RSC permissions (e.g. "Channel.Create.Group") for the app in the team."""
        with self.tenant.lock:
            self.graph.rsc.update(permissions)

    def revoke(self, *permissions: str) -> None:
        """The app no longer holds these RSC permissions in the team (none given: all of them)."""
        with self.tenant.lock:
            if permissions:
                self.graph.rsc.difference_update(permissions)
            else:
                self.graph.rsc.clear()

    def channels(self) -> dict[str, str]:
        """Return the team's channels, id -> name, oldest first (General, the crisis channel, then any made)."""
        with self.tenant.lock:
            return dict(self.tenant.channel_names)

    # ----- people ---------------------------------------------------------------------------
    def add_user(
        self, name: str, aad_id: str | None = None, locale: str = "en-US", guest: bool = False, *, in_team: bool = True
    ) -> TeamsUser:
        """Add a person to the tenant (and the team unless `in_team` is false); returns their TeamsUser."""
        user = TeamsUser(self, self.tenant.add_member(name, aad_id, locale, guest, in_team))
        self._users[user.id] = user
        return user

    def user(self, key: str) -> TeamsUser:
        """Return a person by 29: id, Entra object id or display name."""
        member = self.tenant.find_member(key)
        if member is not None:
            return self._users[member.id]
        for user in self._users.values():
            if user.name == key:
                return user
        raise KeyError(key)

    @property
    def users(self) -> list[TeamsUser]:
        """Return every person, in the order added."""
        return list(self._users.values())

    def join_team(self, user: TeamsUser) -> BotResponse | None:
        """The person joins the team: conversationUpdate (membersAdded, teamMemberAdded) to the bot when installed."""
        t = self.tenant
        with t.lock:
            user.member.in_team = True
            if not t.installed:
                return None
            conv = t.conversations[t.team_id]
            activity = inbound.bot_added(t, conv, {"id": "29:1teamowner", "name": "Team owner"}, t.ids.next())
            activity["membersAdded"] = [{"id": user.id, "aadObjectId": user.aad_id}]
        return self.deliver(activity)

    def remove_from_team(self, user: TeamsUser) -> None:
        """The person leaves the team (still in the tenant)."""
        with self.tenant.lock:
            user.member.in_team = False

    def install(self, installer: TeamsUser | None = None) -> list[BotResponse]:
        """Add the app to the team: installationUpdate, then conversationUpdate (bot added), to the bot."""
        t = self.tenant
        with t.lock:
            t.installed = True
            conv = t.conversations[t.team_id]
            who = installer.member.account() if installer else {"id": "29:1installer", "name": "Teams admin"}
            activities = [
                inbound.installation(t, conv, who, t.ids.next()),
                inbound.bot_added(t, conv, who, t.ids.next()),
            ]
        t.emit(Event("installed", conv.id, t.label(conv.id), who.get("name"), "app installed in the team"))
        return [self.deliver(a) for a in activities]

    def uninstall(self) -> None:
        """Remove the app from the team: the bot's channel calls get 403 BotNotInConversationRoster."""
        with self.tenant.lock:
            self.tenant.installed = False

    # ----- delivery -------------------------------------------------------------------------
    def channel_token(self, *, audience: str | None = None, expires_in: int = 3600) -> str:
        """Return a JWT as the channel signs it for the bot (tests of expired or misaddressed tokens)."""
        return self.keys.channel_token(self.service_url, audience=audience, expires_in=expires_in)

    def deliver(self, activity: dict[str, Any], *, token: str | None = None) -> BotResponse:
        """POST an activity to the bot, signed (or anonymous); `token` overrides the Authorization token."""
        self._delivered[str(activity.get("id"))] = copy.deepcopy(activity)
        bearer = token if token is not None else (None if self.anonymous else self.channel_token())
        return post_activity(self.bot_url, activity, bearer, timeout=self.bot_timeout)

    def redeliver(self, activity_id: str) -> BotResponse:
        """Send an activity the bot already got again, same id (Teams retries when an answer is slow)."""
        return self.deliver(copy.deepcopy(self._delivered[activity_id]))

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """Return every activity sent to the bot, oldest first."""
        return [copy.deepcopy(a) for a in self._delivered.values()]

    def issue_token(self) -> str:
        """Return a valid Connector bearer token, as the token endpoint would (for a test's token provider)."""
        return self.keys.issue_access_token()

    def revoke_tokens(self) -> None:
        """Invalidate every issued token: the bot's next call gets 401 until it fetches a new one."""
        self.keys.revoke_all()

    # ----- fault injection ------------------------------------------------------------------
    def fail(
        self,
        endpoint: str | None = None,
        *,
        error: str = "internal_error",
        times: int = 1,
        after: int = 0,
        retry_after: int = 1,
        hang_seconds: float = 3.0,
        status: int = 400,
    ) -> None:
        """Make the next `times` calls of `endpoint` (None = any Connector or token call) fail, after `after` good ones.

        endpoint: create_conversation, send_to_conversation, reply_to_activity, update_activity, delete_activity,
        get_conversation_members, get_conversation_member, get_conversation_paged_members, token.
        error: "ratelimited" → 429 + Retry-After: `retry_after`; "internal_error" → 500; "service_unavailable" →
        503; "timeout" → hang `hang_seconds`, then 504; any other string → HTTP `status` with that error code.
        Those change nothing. After the work is done: "lost_response" (the answer is held `hang_seconds`, past the
        client's timeout) and "cut_connection" (half the body, then the connection drops); the call log marks them.
        """
        self._server.add_fault(Fault(endpoint, error, times, after, retry_after, hang_seconds), status)

    # ----- recording ------------------------------------------------------------------------
    @property
    def events(self) -> list[Event]:
        """Return the visible history (for transcripts), oldest first."""
        with self.tenant.lock:
            return list(self.tenant.events)

    def on_event(self, listener: Callable[[Event], None]) -> None:
        """Call `listener` with each Event as it happens (a demo's live transcript)."""
        with self.tenant.lock:
            self.tenant.listeners.append(listener)

    @property
    def refused(self) -> list[Refusal]:
        """Return what Teams refused for its content: invalid cards, over the size cap (sends, updates, invokes)."""
        with self.tenant.lock:
            return list(self.api.refused) + list(self._invoke_refusals)

    @property
    def invalid(self) -> list[str]:
        """Return the refusals as readable lines (a test asserts this is empty: the bot never sent a bad card)."""
        return [f"{r.endpoint}: {r.status} {r.code}: {r.message}" for r in self.refused]

    @property
    def problems(self) -> list[str]:
        """Return things Teams would show wrongly or an emulator failure (mentions not in the text, crashes)."""
        with self.tenant.lock:
            return list(self.tenant.problems)

    def assert_clean(self) -> None:
        """Raise AssertionError when anything was refused or went wrong (strict tests call it at the end)."""
        trouble = self.invalid + self.problems
        if trouble:
            raise AssertionError("Teams emulator saw problems:\n" + "\n".join(trouble))

    # ----- queries --------------------------------------------------------------------------
    def activities(self, conversation_id: str) -> list[dict[str, Any]]:
        """Return the current state of each live activity (a channel: its threads' root posts), oldest first."""
        return [copy.deepcopy(a.data) for a in self.tenant.visible(conversation_id)]

    def activity(self, activity_id: str) -> dict[str, Any] | None:
        """Return one activity's current state (None when unknown or deleted)."""
        with self.tenant.lock:
            stored = self.tenant.activities.get(activity_id)
            return copy.deepcopy(stored.data) if stored and not stored.deleted else None

    def history(self, activity_id: str) -> list[dict[str, Any]]:
        """Return the earlier versions of an updated activity, oldest first."""
        with self.tenant.lock:
            stored = self.tenant.activities.get(activity_id)
            return copy.deepcopy(stored.history) if stored else []

    def thread(self, root_id: str, channel: str | None = None) -> list[dict[str, Any]]:
        """Return a thread (root post first, then replies) by its root id, in the crisis channel by default."""
        return self.activities(thread_conversation(channel or self.crisis_channel, root_id))

    def threads(self, channel: str | None = None) -> list[str]:
        """Return the thread conversation ids of a channel (the crisis channel by default), oldest first."""
        channel = channel or self.crisis_channel
        return [str(a["conversation"]["id"]) for a in self.activities(channel)]

    def chat(self, user: TeamsUser) -> list[dict[str, Any]]:
        """Return a person's 1:1 chat with the bot, oldest first (empty when never opened)."""
        cid = self.tenant.personal.get(user.id)
        return self.activities(cid) if cid else []

    def card_of(self, activity_id: str) -> dict[str, Any] | None:
        """Return an activity's first Adaptive Card as everyone sees it (the base card)."""
        data = self.activity(activity_id)
        cards = card_attachments(data) if data else []
        return cards[0] if cards else None

    # ----- per-user views (people.py) ---------------------------------------------------------
    def user_view(self, user_id: str, activity_id: str) -> dict[str, Any] | None:
        """Return the card the bot answered this person's last click with, while the activity is unchanged."""
        with self.tenant.lock:
            stored = self.tenant.activities.get(activity_id)
            seen = self._views.get((user_id, activity_id))
            if stored is None or seen is None or seen[0] != len(stored.history):
                return None
            return copy.deepcopy(seen[1])

    def remember_view(self, user_id: str, activity_id: str, version: int, card: dict[str, Any]) -> None:
        """Keep the card an invoke answered for this person (Teams shows it to them in place of the base card)."""
        with self.tenant.lock:
            self._views[(user_id, activity_id)] = (version, copy.deepcopy(card))

    def check_card(self, where: str, card: dict[str, Any]) -> bool:
        """Validate a card the bot answered an invoke with; record a refusal when Teams could not render it."""
        problems = card_problems(card)
        size = payload_size(card)
        if size > self.api.max_bytes:
            problems.append(f"the card is {size} bytes, over the {self.api.max_bytes} byte limit")
        if problems:
            with self.tenant.lock:
                self._invoke_refusals.append(Refusal(where, 0, "InvalidCard", "; ".join(problems), {"card": card}))
        return not problems

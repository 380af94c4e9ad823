"""A Bot Connector emulator: Teams as the bot sees it (conversations, activities, members), for the demo, the tests
and the benchmarks. Generic by design: nothing here knows what the bot does.

Typical use::

    with TeamsEmulator(latency=0.0) as emu:            # HTTP on 127.0.0.1, its own port
        anna = emu.add_user("Anna de Vries", locale="nl-NL")
        env = emu.environ()                             # app id/secret, tenant, TEAMS_SERVICE_URL, TEAMS_LOGIN_URL, …
        emu.bot_url = start_the_bot(env)                # e.g. "http://127.0.0.1:3978/api/messages"
        emu.install()                                   # installationUpdate + conversationUpdate to the bot
        anna.say("crisis status", where=emu.crisis_channel)   # "<at>Crisis Desk</at> crisis status", signed JWT
        root = emu.wait_for(lambda: emu.threads())[0]   # thread conversation ids "<channel>;messageid=<root>"
        card = anna.view(activity_id)                   # what Anna sees (runs the refresh invoke if she is in userIds)
        resp = anna.invoke_action(activity_id, "acknowledge")  # adaptiveCard/action; resp.json = invoke response
        assert emu.invalid == []                        # every card was valid (schema 1.5, ≤ 28 KB, ≤ 60 userIds)

The Connector (`emu.service_url` = `http://127.0.0.1:PORT/teams/`, each call needs a Bearer token from the token
endpoint or `emu.issue_token()`, else 401): `POST v3/conversations` (a channel post starting a thread:
`channelData.channel.id` + `activity`, answers `{"id": "<channel>;messageid=<root>", "activityId"}`; a 1:1:
`members: [{"id": 29:… or Entra object id}]` + `tenantId`), `POST v3/conversations/{id}/activities` (to a
channel: a new thread; to a thread or 1:1: a message), `POST …/activities/{activityId}` (reply), `PUT`/`DELETE
…/activities/{activityId}` (only the bot's own: else 403), `GET …/members`, `…/members/{29:… or object id}`,
`…/pagedmembers?pageSize=&continuationToken=`. Errors are Teams' `{"error": {"code", "message"}}`: 404
ConversationNotFound / ActivityNotFoundInConversation / MemberNotFoundInConversation, 403
BotNotInConversationRoster (app not installed: `TeamsEmulator(installed=False)` or `uninstall()`), 403 Forbidden
(someone else's activity; a user outside the tenant), 400 BadArgument (invalid card: `emu.refused`/`emu.invalid`),
413 MessageSizeTooBig (activity over 28 KB).

The login side (`emu.login_url`, for TEAMS_LOGIN_URL): `POST /oauth2/v2.0/token` (client credentials with
`emu.app_id`/`emu.app_secret`), `GET /discovery/keys` (JWKS of the key that signs activities: RS256, `iss`
https://api.botframework.com, `aud` the app id, `serviceurl`), `GET /.well-known/openid-configuration`.

People (`TeamsUser`): `say(text, where)` (None = 1:1 chat; a channel id = a new post; a thread id or root id =
a reply), `invoke_action(activity_id, verb, data=None, inputs=None, stale=False)`, `view(activity_id)`,
`fetch_task(data, where)` / `submit_task(data, where)` (task modules), `.id` (29:…), `.aad_id`, `.chat_id`.
The emulator: `deliver(activity, token=...)`, `redeliver(activity_id)` (same id again), `fail(endpoint, error=,
times=, after=, retry_after=, hang_seconds=, status=)` / `clear_faults()` (the Slack emulator's API),
`calls`/`calls_to(endpoint)`, `events` + `on_event(listener)` (transcripts), `activities(conversation)`,
`activity(id)`, `history(id)`, `thread(root_id)`, `threads()`, `chat(user)`, `card_of(id)`, `problems`,
`assert_clean()`, `wait_for(condition)`.
"""

from __future__ import annotations

from bot.sandbox.teams.cards import MAX_BYTES, MAX_REFRESH_USERS, activity_problems, card_problems
from bot.sandbox.teams.emulator import APP_SECRET, TeamsEmulator
from bot.sandbox.teams.model import BOT_NAME, CARD_TYPE, CHANNEL_ISSUER, Event, Refusal, thread_conversation
from bot.sandbox.teams.people import TeamsUser, response_card, task_card
from bot.sandbox.transport import BotResponse

__all__ = [
    "APP_SECRET",
    "BOT_NAME",
    "CARD_TYPE",
    "CHANNEL_ISSUER",
    "MAX_BYTES",
    "MAX_REFRESH_USERS",
    "BotResponse",
    "Event",
    "Refusal",
    "TeamsEmulator",
    "TeamsUser",
    "activity_problems",
    "card_problems",
    "response_card",
    "task_card",
    "thread_conversation",
]

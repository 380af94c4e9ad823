"""A Bot Connector emulator: Teams as the bot sees it (conversations, activities, members), for the demo, the tests
and the benchmarks. Generic by design: nothing here knows what the bot does.

Typical use::

    with TeamsEmulator(latency=0.0) as emu:            # HTTP on 127.0.0.1, its own port
        anna = emu.add_user("Anna de Vries", locale="nl-NL")
        env = emu.environ()                             # app id/secret, tenant, TEAMS_SERVICE_URL, TEAMS_LOGIN_URL, …
        emu.bot_url = start_the_bot(env)                # e.g. "http://127.0.0.1:3978/api/messages"
        emu.install()                                   # installationUpdate + conversationUpdate to the bot
        anna.say("crisis status", where=emu.crisis_channel)   # "<at>Crisis Desk</at> crisis status", signed JWT
        thread = emu.threads()[0]                       # thread conversation ids "<channel>;messageid=<root id>"
        answer = emu.wait_for(lambda: emu.activities(thread)[1:])[0]   # the bot's reply in that thread
        card = anna.view(answer["id"])                  # what Anna sees (runs the refresh invoke: see below)
        resp = anna.invoke_action(answer["id"], "acknowledge")  # adaptiveCard/action; resp.json = invoke response
        assert emu.invalid == []                        # every card was valid (schema 1.5, ≤ 28 KB, ≤ 60 userIds)

The Connector (`emu.service_url` = `http://127.0.0.1:PORT/teams/`, each call needs a Bearer token from the token
endpoint or `emu.issue_token()`, else 401; with `anonymous=True`, as the SDK's local anonymous mode sends them, calls
without Authorization are accepted too): `POST v3/conversations` (a channel post starting a thread:
`channelData.channel.id` + `activity`, answers `{"id": "<channel>;messageid=<root>", "activityId"}`; a 1:1:
`members: [{"id": 29:… or Entra object id}]` + `tenantId`), `POST v3/conversations/{id}/activities` (to a
channel: a new thread; to a thread or 1:1: a message), `POST …/activities/{activityId}` (reply), `PUT`/`DELETE
…/activities/{activityId}` (only the bot's own: else 403), `GET …/members`, `…/members/{29:… or object id}`,
`…/pagedmembers?pageSize=&continuationToken=` (any case, as the SDK's `pagedMembers`), `GET v3/teams/{team id}`
and `…/conversations` (team details, channels). Errors are Teams' `{"error": {"code", "message"}}`: 404
ConversationNotFound / ActivityNotFoundInConversation / MemberNotFoundInConversation, 403
BotNotInConversationRoster (app not installed: `TeamsEmulator(installed=False)` or `uninstall()`), 403 Forbidden
(someone else's activity; a user outside the tenant), 400 BadArgument (invalid card: `emu.refused`/`emu.invalid`),
413 MessageSizeTooBig (activity over 28 KB), 429 TooManyRequests + Retry-After with `rate_limits=True` (Teams'
per-thread limits: 7 ops/1 s, 8/2 s, 60/30 s, 1800/h; off by default) or from `fail(error="ratelimited")`.

Microsoft Graph (`emu.graph_url`, for TEAMS_GRAPH_URL; graph_api.py): `POST/GET teams/{group id}/channels` with an
app-only Graph token; RSC grants per test (`TeamsEmulator(rsc=(...))`, `grant()`, `revoke()`; both channel grants
by default), `channels()`; a new channel takes Connector posts like the crisis channel.

The login side (`emu.login_url`, for TEAMS_LOGIN_URL): `POST /oauth2/v2.0/token` (client credentials with
`emu.app_id`/`emu.app_secret`), `GET /discovery/keys` (JWKS of the key that signs activities: RS256, `iss`
https://api.botframework.com, `aud` the app id, `serviceurl`), `GET /.well-known/openid-configuration`.

People (`TeamsUser`): `say(text, where, mentions=(user, …))` (None = 1:1 chat; a channel id = a new post; a thread
id or root id = a reply; others mentioned as `<at>Name</at>` in the text), `invoke_action(activity_id, verb,
data=None, inputs=None, stale=False)`, `view(activity_id)`,
`press_submit(activity_id, title, inputs)` (an Action.Submit: a message with `value`, or task/fetch when its data
has `msteams.type` "task/fetch"), `fetch_task(data, where)` / `submit_task(data, where)` (task modules),
`install_personal()`, `.id` (29:…), `.aad_id`, `.chat_id`, `.open_dialog`.
The emulator: `deliver(activity, token=...)`, `redeliver(activity_id)` (same id again), `fail(endpoint, error=,
times=, after=, retry_after=, hang_seconds=, status=)` / `clear_faults()` (the Slack emulator's API),
`calls`/`calls_to(endpoint)`, `events` + `on_event(listener)` (transcripts), `activities(conversation)`,
`activity(id)`, `history(id)`, `thread(root_id)`, `threads()`, `chat(user)`, `card_of(id)`, `problems`,
`assert_clean()`, `wait_for(condition)`, `environ()` (the bot's env for this emulator), `issue_token()`,
`revoke_tokens()`, `channel_token(audience=, expires_in=)`, `install()` / `uninstall()`, `join_team(user)` /
`remove_from_team(user)`.
`bot.sandbox.teams.transcript`: `card_lines(card)`, `render_event(event, words)`, `render_transcript(events)`,
`Condenser(words=).render(events)`.

Decisions where Teams' docs leave room: a card's top-level `msteams` property (mention entities, width) is Teams'
own and is checked apart from the 1.5 schema (which forbids unknown properties); refresh.userIds are matched
against 29: ids (user MRIs, as "User Specific Views" shows), other forms are listed in `problems`; in a
conversation of fewer than 60 members every viewer gets the automatic refresh (Microsoft's RefreshDefinition
docs), so a bot must choose each requester's buttons itself; the size cap is measured on the activity's
compact UTF-8 JSON; an invoke answer's card is validated too (refusals in `refused` with endpoint
"invoke_response" / "task/fetch" / "task/submit").
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

"""Start-up work done before anybody's first request needs it: Bolt's token check (the wording is compiled by
bot/chat/warmup.py).

Bolt's one-time token check (auth.test), done at start-up instead of on somebody's first request.

With `token_verification_enabled=False` (so the bot starts while Slack is unreachable), Bolt's single-team
authorization calls auth.test lazily on the first request; if Slack fails that call, that request is lost and
the person is told to "install this app". Here a background thread asks at start-up, retrying with backoff,
and hands Bolt the answer, so no person's request waits for or depends on it. Until it succeeds Bolt keeps
its own lazy check: never worse than before.
"""

from __future__ import annotations

import logging
import threading
import time

from slack_bolt import App
from slack_bolt.middleware.authorization.single_team_authorization import SingleTeamAuthorization
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

log = logging.getLogger("crisisbot.slack")
BACKOFF = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # seconds between attempts, after slack_sdk's own retries


def warm_up(app: App, backoff: tuple[float, ...] = BACKOFF) -> threading.Event:
    """Start the check; the event is set once Bolt has the answer (or has one already, or gets none)."""
    done = threading.Event()
    # Bolt keeps its middleware in a private list; if a later Bolt moves it, the lazy check simply stays.
    middleware = next((m for m in getattr(app, "_middleware_list", []) if isinstance(m, SingleTeamAuthorization)), None)
    if middleware is None or middleware.auth_test_result is not None:
        done.set()
        return done
    threading.Thread(
        target=_check, args=(app.client, middleware, backoff, done), name="crisisbot-auth", daemon=True
    ).start()
    return done


def _check(
    client: WebClient, middleware: SingleTeamAuthorization, backoff: tuple[float, ...], done: threading.Event
) -> None:
    # a plain client with the same settings: the check is not a step of any flow (no crash point, own retries)
    plain = WebClient(
        token=client.token, base_url=client.base_url, timeout=client.timeout, retry_handlers=client.retry_handlers
    )
    try:
        for wait in (*backoff, None):
            try:
                result = plain.auth_test()
            except SlackApiError as exc:
                error = exc.response.get("error")
                if error in ("invalid_auth", "not_authed", "account_inactive", "token_revoked"):
                    log.error("Slack refused the bot token (%s): check SLACK_BOT_TOKEN", error)
                    return
                log.warning("auth.test at start-up: %s", error)
            except OSError as exc:
                log.warning("auth.test at start-up: %s", type(exc).__name__)
            else:
                if middleware.auth_test_result is None:
                    middleware.auth_test_result = result
                log.info("auth.test at start-up: the token is valid")
                return
            if wait is not None:
                time.sleep(wait)
        log.warning("auth.test at start-up kept failing; the first request will check again")
    finally:
        done.set()

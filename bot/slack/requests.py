"""What a Slack request gets from the bot: the chat layer on its WebClient, the person's wording, Slack's replies.

The listeners (bot/slack/actions.py, commands.py, submissions.py, home.py) hold one `Requests` for the process
(the desk, the people's languages, the outbox runner) and make from it, per request, the application layer on
that request's Web API client (`flow`, bot/chat/flow.py; a private notice is its `tell`, on SlackPort). What stays
here is Slack's: a reply by response_url that Slack refused, Block Kit for an answer with buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.chat.after import Outbox, Unheld
from bot.chat.explain import explain
from bot.chat.flow import Flow
from bot.chat.people import Languages
from bot.chat.wording import Wording
from bot.errors import CrisisError
from bot.incidents.declare import DeclareRequest
from bot.incidents.desk import Desk
from bot.models import Incident
from bot.slack.activity import Activity
from bot.slack.port import SlackPort
from bot.slack.text import SLACK

log = logging.getLogger("crisisbot.slack")


class Requests:
    """The bot as Slack's listeners use it; each request brings its own WebClient. (Was SlackDesk: a grab-bag
    of wording, redraws and the declare flow, most of which is bot/chat's now.)"""

    def __init__(self, desk: Desk, activity: Activity) -> None:
        self.desk = desk
        self.activity = activity
        self.languages = Languages(desk, SLACK)  # what every request learnt of a person's language
        self.outbox: Outbox = Unheld()  # the timer runner, once the bot has one (bot/slack/server.py)

    def wording(self, language: str | None = None) -> Wording:
        return self.languages.wording(language)

    def wording_for(self, client: WebClient, user: str, wait: bool = False) -> Wording:
        """Wording in the user's own Slack language where we speak it (bot/chat/people.py)."""
        return self.languages.wording_for(SlackPort(client), user, wait)

    def explain(self, exc: CrisisError, say: Wording) -> str:
        return explain(exc, say)  # wording, not Slack: bot/chat/explain.py

    def flow(self, client: WebClient) -> Flow:
        """The application layer (bot/chat/flow.py) on this request's client."""
        return Flow(self.desk, SlackPort(client), self.languages, self.outbox)

    def declare(self, client: WebClient, request: DeclareRequest, tell: Callable[[str], None]) -> Incident:
        """Declare (or resume) and set up (bot/chat/flow.py); a refused "declared" is told again after the set-up."""
        return self.flow(client).declare(request, tell, lambda text: _told(tell, text))


def _told(tell: Callable[[str], None], text: str) -> bool:
    """Tell, and say whether it went out (a refused answer is tried again after the set-up)."""
    try:
        tell(text)
    except (SlackApiError, OSError) as exc:
        log.warning("could not answer the declarer: %s", why(exc))
        return False
    return True


def why(exc: Exception) -> str:
    """Slack's error code, or the kind of network failure (e.g. a timeout once the retries gave up)."""
    return exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__

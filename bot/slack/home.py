"""The App Home tab in Slack: `views.publish` of a person's home screen (`bot/chat/home.py`), as a Home view
within its block budget, and the `app_home_opened` listener that asks for it.

Slack shows the tab when the person opens the app; the bot answers `app_home_opened` with `views.publish`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from slack_bolt import App, BoltContext
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.models.blocks import Block
from slack_sdk.models.views import View

from bot.chat.home import Group, home
from bot.slack.render import part_blocks
from bot.slack.requests import Requests

log = logging.getLogger("crisisbot.slack")

MAX_BLOCKS = 100  # Slack's limit for a Home tab view

_REGISTERED = "_crisisbot_home_registered"  # marker on the Bolt app: the listener is wired once
_BUSY = "crisisbot_home_busy"  # in the Bolt context: the busy count the listener must close
_register_lock = threading.Lock()


def _blocks(group: Group) -> list[Block]:
    return [block for part in group for block in part_blocks(part)]


def _fit(groups: list[list[Block]], budget: int) -> int:
    """How many whole groups fit in `budget` blocks, in order."""
    used = 0
    for index, group in enumerate(groups):
        if used + len(group) > budget:
            return index
        used += len(group)
    return len(groups)


def home_view(slack: Requests, user: str, language: str) -> dict[str, Any]:
    """The Home tab for `user`: their active incidents, drafts waiting for them, their roles, recent closures."""
    screen = home(slack.desk, user, slack.wording(language))
    incident_groups = [_blocks(g) for g in screen.incidents]
    draft_groups = [_blocks(g) for g in screen.drafts]
    # Fixed: the title, the two list headings and the divider between them, the tail, and one line under
    # each list for its empty state or its "…and N more".
    room = MAX_BLOCKS - (4 + len(_blocks(screen.tail))) - 2
    # Incidents first; the drafts keep what they need, or at least half the room when both overflow.
    incident_budget = max(room // 2, room - sum(map(len, draft_groups)))
    incidents = _fit(incident_groups, incident_budget)
    drafts = _fit(draft_groups, room - sum(map(len, incident_groups[:incidents])))
    blocks = _blocks(tuple(screen.parts(incidents, drafts)))
    return View(type="home", callback_id="home", blocks=blocks[:MAX_BLOCKS]).to_dict()


# ---- Slack -------------------------------------------------------------------------------------------
def publish_home(slack: Requests, client: WebClient, user: str) -> None:
    """Draw `user`'s Home tab (in the workspace language). A refusal is logged: the state is already saved."""
    try:
        client.views_publish(user_id=user, view=home_view(slack, user, slack.desk.language))
    except SlackApiError as exc:
        log.warning("views.publish for %s failed: %s", user, exc.response.get("error"))


def from_home(body: dict[str, Any]) -> bool:
    """Whether an interaction payload came from a Home tab (so the clicker's Home should be redrawn)."""
    return (body.get("view") or {}).get("type") == "home"


def register_home(app: App, slack: Requests) -> None:
    """Answer `app_home_opened` with the person's Home tab. Safe to call more than once for the same app."""
    with _register_lock:
        if getattr(app, _REGISTERED, False):
            return
        setattr(app, _REGISTERED, True)

    def count_as_busy(context: BoltContext, next: Callable[[], None]) -> None:
        # Bolt acknowledges an event *before* its listener starts on a worker thread, so the listener's own
        # tracking may begin after the 200 went out. This listener middleware runs on the request thread,
        # before the ack: it opens the busy count and the listener closes it (`settle()` then waits for it).
        work = slack.activity.working()
        work.__enter__()
        context[_BUSY] = work
        next()

    @app.event("app_home_opened", middleware=[count_as_busy])
    @slack.activity.track
    def home_opened(event: dict[str, Any], client: WebClient, context: BoltContext) -> None:
        work = context.get(_BUSY)
        try:
            user = event.get("user")
            if event.get("tab") != "home" or not user:
                return  # the Messages tab, or a malformed event
            publish_home(slack, client, user)
        finally:
            if work is not None:
                work.__exit__(None, None, None)


__all__ = ["from_home", "home_view", "publish_home", "register_home"]

"""Activities answered but not finished when the process died: finished at the next start.

A message is answered (HTTP 202) before its work starts, and Teams, having had its answer, never sends it again;
a submitted dialog closes before its verb runs. So the work of each message and dialog submit is noted in
platform_refs (`pending:<activity id>`: the activity itself, which carries no token) before it starts, and cleared
when it ends; at the next start each one still noted is worked on again, its key already claimed. The core's verbs
are idempotent: what was half done is finished, what was done is only redrawn. A card click is not noted: its
answer leaves after the verb's write, so only redraws can be lost, and the next redraw shows the state.
"""

from __future__ import annotations

from typing import Any

from bot.incidents.desk import Desk

PLATFORM = "teams"
PENDING = "pending:"


def replayable(activity: dict[str, Any]) -> bool:
    return activity.get("type") == "message" or activity.get("name") == "task/submit"


def note(desk: Desk, activity: dict[str, Any]) -> None:
    desk.store.put_platform_ref(PLATFORM, f"{PENDING}{activity.get('id')}", activity, desk.now())


def done(desk: Desk, activity: dict[str, Any]) -> None:
    """The work ended (or failed: a replay would fail the same way): nothing to finish, and no text kept."""
    desk.store.put_platform_ref(PLATFORM, f"{PENDING}{activity.get('id')}", None, desk.now())


def unfinished(desk: Desk) -> list[dict[str, Any]]:
    """The activities whose work a process that died did not finish, in the order they came."""
    found = desk.store.platform_refs(PLATFORM, PENDING).values()
    return sorted((a for a in found if isinstance(a, dict)), key=lambda a: str(a.get("timestamp") or ""))

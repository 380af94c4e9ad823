"""The activities Teams sends a bot, built as Teams builds them: messages, invokes, installation updates."""

from __future__ import annotations

from typing import Any

from bot.sandbox.teams.model import CHANNEL_ID, Conversation, Member
from bot.sandbox.teams.tenant import Tenant, now_iso


def base(t: Tenant, conv: Conversation, kind: str, sender: dict[str, Any], activity_id: str) -> dict[str, Any]:
    """Return the envelope every inbound activity shares."""
    return {
        "type": kind,
        "id": activity_id,
        "timestamp": now_iso(),
        "localTimestamp": now_iso(),
        "serviceUrl": t.service_url,
        "channelId": CHANNEL_ID,
        "from": sender,
        "conversation": t.conversation_json(conv),
        "recipient": t.bot_account(),
        "channelData": t.channel_data(conv),
    }


def message(
    t: Tenant,
    conv: Conversation,
    member: Member,
    text: str,
    activity_id: str,
    mention: bool,
    people: tuple[Member, ...] = (),
) -> dict[str, Any]:
    """A person's message; in a channel it @mentions the bot (`<at>Crisis Desk</at> …`), as Teams requires.

    Each of `people` must appear in the text as `<at>Name</at>`; Teams adds a mention entity for each (29: id, name).
    """
    activity = base(t, conv, "message", member.account(), activity_id)
    entities: list[dict[str, Any]] = []
    if mention:
        at = f"<at>{t.bot_name}</at>"
        text = f"{at} {text}"
        entities.append({"type": "mention", "mentioned": t.bot_account(), "text": at})
    for person in people:
        at = f"<at>{person.name}</at>"
        if at not in text:
            raise ValueError(f"the text must contain {at} to mention {person.name}")
        entities.append({"type": "mention", "mentioned": {"id": person.id, "name": person.name}, "text": at})
    entities.append({"type": "clientInfo", "locale": member.locale, "country": member.locale[-2:], "platform": "Web"})
    activity.update({"text": text, "textFormat": "plain", "locale": member.locale, "entities": entities})
    if conv.kind == "thread" and conv.root_id != activity_id:
        activity["replyToId"] = conv.root_id
    return activity


def invoke(
    t: Tenant,
    conv: Conversation,
    member: Member,
    name: str,
    value: dict[str, Any],
    activity_id: str,
    reply_to: str | None,
) -> dict[str, Any]:
    """An invoke (adaptiveCard/action, task/fetch, task/submit): the bot answers it in the HTTP response."""
    activity = base(t, conv, "invoke", member.account(), activity_id)
    activity.update({"name": name, "value": value, "locale": member.locale})
    if reply_to:
        activity["replyToId"] = reply_to
    return activity


def installation(t: Tenant, conv: Conversation, installer: dict[str, Any], activity_id: str) -> dict[str, Any]:
    """installationUpdate (action add) when the app is added to the team."""
    activity = base(t, conv, "installationUpdate", installer, activity_id)
    activity["action"] = "add"
    activity["channelData"]["settings"] = {"selectedChannel": {"id": t.crisis_channel}}
    activity["channelData"]["source"] = {"name": "message"}
    return activity


def bot_added(t: Tenant, conv: Conversation, installer: dict[str, Any], activity_id: str) -> dict[str, Any]:
    """conversationUpdate with the bot in membersAdded (eventType teamMemberAdded) when it joins the team."""
    activity = base(t, conv, "conversationUpdate", installer, activity_id)
    activity["membersAdded"] = [{"id": t.bot_id}]
    activity["channelData"]["eventType"] = "teamMemberAdded"
    return activity

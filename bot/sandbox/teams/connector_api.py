"""The Bot Connector's conversation endpoints (REST API reference: Conversations), on the emulated tenant.

Each handler takes the parsed request and returns (status, body) or raises ConnectorError; the server
(server.py) does auth, faults, latency and recording around it.
"""

from __future__ import annotations

import base64
import copy
from dataclasses import dataclass, field
from typing import Any

from bot.sandbox.teams import errors
from bot.sandbox.teams.cards import MAX_BYTES, activity_problems, payload_size
from bot.sandbox.teams.model import Conversation, Event, Member, Refusal
from bot.sandbox.teams.tenant import Tenant, card_attachments

PAGE_DEFAULT = 200  # Get Conversation Paged Members: Teams' default and limits on pageSize
PAGE_MIN, PAGE_MAX = 50, 500


@dataclass
class Request:
    """One parsed Connector call: its endpoint name, path parameters, query and JSON body."""

    endpoint: str
    conversation_id: str | None = None
    activity_id: str | None = None
    member_id: str | None = None
    query: dict[str, str] = field(default_factory=dict)
    body: Any = None


class ConnectorApi:
    """The handlers, with the content checks Teams applies to what bots send."""

    def __init__(self, tenant: Tenant, *, max_bytes: int = MAX_BYTES) -> None:
        self.t = tenant
        self.max_bytes = max_bytes
        self.refused: list[Refusal] = []

    def handle(self, req: Request) -> tuple[int, Any]:
        """Run one call."""
        handler = getattr(self, f"_{req.endpoint}")
        with self.t.lock:
            result: tuple[int, Any] = handler(req)
            return result

    # ----- content checks ---------------------------------------------------------------------
    def check_content(self, endpoint: str, activity: Any) -> dict[str, Any]:
        """Refuse what Teams refuses (not an object, invalid card, over the size cap); record each refusal."""
        if not isinstance(activity, dict):
            raise errors.bad_syntax("The request body must be an Activity object.")
        if activity.get("type", "message") == "message" and not (activity.get("text") or activity.get("attachments")):
            raise errors.bad_argument("A message needs text or attachments.")
        size = payload_size(activity)
        problem: errors.ConnectorError | None = None
        if size > self.max_bytes:
            problem = errors.too_big(size, self.max_bytes)
        else:
            problems = activity_problems(activity)
            if problems:
                problem = errors.bad_argument("Invalid Adaptive Card: " + "; ".join(problems))
        if problem is not None:
            self.refused.append(Refusal(endpoint, problem.status, problem.code, problem.message, activity))
            self.t.emit(Event("refused", text=f"{problem.code}: {problem.message}", data={"endpoint": endpoint}))
            raise problem
        self._check_mentions(activity)
        return activity

    def _check_mentions(self, activity: dict[str, Any]) -> None:
        """Note what Teams would render wrongly: a mention not in the text, refresh.userIds that are not 29: ids."""
        for content in card_attachments(activity):
            refresh = content.get("refresh")
            for user_id in (refresh.get("userIds") if isinstance(refresh, dict) else None) or []:
                if not str(user_id).startswith("29:"):
                    self.t.problems.append(f"refresh.userIds holds {user_id!r}: Teams matches user MRIs (29:…)")
        text = str(activity.get("text") or "")
        for entity in activity.get("entities") or []:
            if isinstance(entity, dict) and entity.get("type") == "mention":
                mention_text = str(entity.get("text") or "")
                mentioned = (entity.get("mentioned") or {}).get("id", "")
                if mention_text and mention_text not in text:
                    self.t.problems.append(f"mention {mention_text!r} is not in the message text")
                if mentioned and mentioned != self.t.bot_id and self.t.find_member(mentioned) is None:
                    self.t.problems.append(f"mention of an unknown id {mentioned!r}")

    # ----- posting ------------------------------------------------------------------------------
    def post(self, conv: Conversation, activity: dict[str, Any], reply_to: str | None) -> str:
        """Store the bot's activity: a new thread (channel post), a reply in a thread, or a 1:1 message."""
        t = self.t
        if activity.get("type") == "typing":
            return t.ids.next()  # shown for a moment, never kept
        target = t.thread_of(conv, reply_to)
        activity_id = t.ids.next()
        if target is None:  # a new post in a channel starts its own thread, whose id carries the post's id
            target = t.new_thread(conv.id, activity_id)
        data = t.stamp(activity, target, activity_id)
        if reply_to or (target.kind == "thread" and target.root_id != activity_id):
            data["replyToId"] = reply_to or target.root_id
        t.store(target, data, from_bot=True, sender=None)
        kind = {"personal": "dm"}.get(
            target.kind, "thread_started" if target.root_id == activity_id else "message_posted"
        )
        t.emit(self._event(kind, target, data))
        return activity_id

    def _event(self, kind: str, conv: Conversation, data: dict[str, Any]) -> Event:
        member = self.t.members.get(conv.user_id or "")
        return Event(
            kind,
            conversation_id=conv.id,
            conversation=self.t.label(conv.id),
            user=member.name if member else self.t.bot_name,
            text=str(data.get("text") or data.get("summary") or ""),
            cards=copy.deepcopy(card_attachments(data)),
            activity_id=str(data.get("id")),
        )

    # ----- endpoints ------------------------------------------------------------------------------
    def _create_conversation(self, req: Request) -> tuple[int, Any]:
        params = req.body
        if not isinstance(params, dict):
            raise errors.bad_syntax("The request body must be ConversationParameters.")
        channel_data = params.get("channelData") or {}
        tenant = params.get("tenantId") or (channel_data.get("tenant") or {}).get("id")
        if tenant and tenant != self.t.tenant_id:
            raise errors.ConnectorError(403, "Forbidden", "The tenant id does not match the bot's tenant.")
        channel = (channel_data.get("channel") or {}).get("id")
        if channel:
            return self._create_thread(channel, params.get("activity"))
        if not tenant:
            raise errors.bad_argument("A tenantId is required to create a 1:1 conversation in Teams.")
        return self._create_personal(params)

    def _create_thread(self, channel: str, activity: Any) -> tuple[int, Any]:
        conv = self.t.conversations.get(channel)
        if conv is None or conv.kind != "channel":
            raise errors.conversation_not_found()
        if not self.t.installed:
            raise errors.not_in_roster()
        if not isinstance(activity, dict):
            raise errors.bad_argument("An activity is required to start a conversation in a channel.")
        activity_id = self.post(conv, self.check_content("create_conversation", activity), None)
        thread = self.t.activities[activity_id].conversation_id
        return 201, {"id": thread, "activityId": activity_id, "serviceUrl": self.t.service_url}

    def _create_personal(self, params: dict[str, Any]) -> tuple[int, Any]:
        members = params.get("members") or []
        if params.get("isGroup") or len(members) != 1 or not isinstance(members[0], dict):
            raise errors.bad_argument("A bot can only create a 1:1 conversation with exactly one member.")
        member = self._reachable(str(members[0].get("id") or members[0].get("aadObjectId") or ""))
        conv = self.t.personal_chat(member)
        answer: dict[str, Any] = {"id": conv.id, "serviceUrl": self.t.service_url}
        if isinstance(params.get("activity"), dict):
            answer["activityId"] = self.post(conv, self.check_content("create_conversation", params["activity"]), None)
        return 201, answer

    def _reachable(self, key: str) -> Member:
        """Return the person a 1:1 chat may be opened with: in the tenant, and with the app (via the team)."""
        member = self.t.find_member(key)
        if member is None or not member.in_tenant:
            raise errors.user_not_in_tenant()
        if not (self.t.installed and member.in_team) and member.id not in self.t.personal:
            raise errors.not_in_roster()
        return member

    def _send_to_conversation(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        activity = self.check_content("send_to_conversation", req.body)
        # To a channel: a new post (its own thread); to a thread's id: a reply in it; to a 1:1: a message.
        return 201, {"id": self.post(conv, activity, None)}

    def _reply_to_activity(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        activity = self.check_content("reply_to_activity", req.body)
        reply_to = req.activity_id or ""
        stored = self.t.activities.get(reply_to)
        if conv.kind == "channel" and stored is not None:  # a reply to any post of a thread lands in that thread
            reply_to = stored.conversation_id.rsplit("=", 1)[-1]
        elif conv.kind != "channel" and self.t.inbound.get(reply_to) != conv.id:
            self.t.find_activity(conv, reply_to)  # an answer to an invoke replies to the invoke's id: also fine
        return 201, {"id": self.post(conv, activity, reply_to)}

    def _update_activity(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        stored = self.t.find_activity(conv, req.activity_id or "")
        if not stored.from_bot:
            raise errors.not_own_activity()
        activity = self.check_content("update_activity", req.body)
        target = self.t.conversations[stored.conversation_id]
        data = self.t.stamp(activity, target, stored.id)
        data["timestamp"] = stored.data.get("timestamp")
        data["lastModified"] = self.t.stamp({}, target, stored.id)["timestamp"]
        if "replyToId" in stored.data:
            data["replyToId"] = stored.data["replyToId"]
        stored.history.append(stored.data)
        stored.data = data
        self.t.emit(self._event("message_updated", target, data))
        return 200, {"id": stored.id}

    def _delete_activity(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        stored = self.t.find_activity(conv, req.activity_id or "")
        if not stored.from_bot:
            raise errors.not_own_activity()
        stored.deleted = True
        self.t.emit(self._event("message_deleted", self.t.conversations[stored.conversation_id], stored.data))
        return 200, None

    def _get_conversation_members(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        return 200, [m.to_api(self.t.tenant_id) for m in self.t.conversation_members(conv)]

    def _get_conversation_member(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        key = (req.member_id or "").lower()
        for member in self.t.conversation_members(conv):
            if key in (member.id.lower(), member.aad_id.lower()):
                return 200, member.to_api(self.t.tenant_id)
        raise errors.member_not_found()

    def _get_conversation_paged_members(self, req: Request) -> tuple[int, Any]:
        conv = self.t.conversation(req.conversation_id or "")
        try:
            size = int(req.query.get("pageSize") or PAGE_DEFAULT)
            start = (
                int(base64.urlsafe_b64decode(req.query["continuationToken"]).decode())
                if req.query.get("continuationToken")
                else 0
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise errors.bad_argument("Invalid pageSize or continuationToken.") from exc
        size = min(max(size, PAGE_MIN), PAGE_MAX)  # Teams clamps the page size
        members = self.t.conversation_members(conv)
        page = members[start : start + size]
        answer: dict[str, Any] = {"members": [m.to_api(self.t.tenant_id) for m in page]}
        if start + size < len(members):
            answer["continuationToken"] = base64.urlsafe_b64encode(str(start + size).encode()).decode()
        return 200, answer

"""Errors the Bot Connector answers, in its documented body shape `{"error": {"code", "message"}}`."""

from __future__ import annotations

from typing import Any


class ConnectorError(Exception):
    """An HTTP error answer of the Bot Connector service."""

    def __init__(self, status: int, code: str, message: str, retry_after: int | None = None) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after  # seconds, sent as the Retry-After header (429)

    def body(self) -> dict[str, Any]:
        """Return the ErrorResponse body."""
        return {"error": {"code": self.code, "message": self.message}}


def bad_argument(message: str) -> ConnectorError:
    """400 BadArgument: the request is well-formed JSON but says something Teams refuses."""
    return ConnectorError(400, "BadArgument", message)


def bad_syntax(message: str) -> ConnectorError:
    """400 BadSyntax: the body is not a JSON object."""
    return ConnectorError(400, "BadSyntax", message)


def conversation_not_found() -> ConnectorError:
    """404: no such conversation (or one the bot cannot see)."""
    return ConnectorError(404, "ConversationNotFound", "Conversation not found.")


def activity_not_found() -> ConnectorError:
    """404: no such activity in that conversation."""
    return ConnectorError(404, "ActivityNotFoundInConversation", "The activity was not found in the conversation.")


def member_not_found() -> ConnectorError:
    """404: no such member in that conversation."""
    return ConnectorError(404, "MemberNotFoundInConversation", "The member was not found in the conversation.")


def not_in_roster() -> ConnectorError:
    """403: the bot is not installed where it tries to act."""
    return ConnectorError(403, "BotNotInConversationRoster", "The bot is not part of the conversation roster.")


def not_own_activity() -> ConnectorError:
    """403: a bot may only update or delete what it sent itself."""
    return ConnectorError(403, "Forbidden", "The bot can only update or delete activities it sent.")


def user_not_in_tenant() -> ConnectorError:
    """403: a 1:1 chat with someone outside the tenant (or unknown)."""
    return ConnectorError(403, "Forbidden", "The user is not part of the tenant or has not installed the app.")


def too_big(size: int, limit: int) -> ConnectorError:
    """413 (RequestEntityTooLarge) with code MessageSizeTooBig, as "Format your bot messages" says Teams answers."""
    return ConnectorError(413, "MessageSizeTooBig", f"Message size {size} bytes exceeds the limit of {limit} bytes.")


def unauthorized() -> ConnectorError:
    """401: no token, or one the emulator did not issue."""
    return ConnectorError(401, "Unauthorized", "Authorization has been denied for this request.")

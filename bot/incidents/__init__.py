"""The domain core: incidents, roles, drafts, approvals and the timeline. Imports nothing from Slack.

Every verb takes typed inputs and returns what happened, so each chat adapter renders the same outcome.
"""

from bot.incidents.desk import Desk, open_desk

__all__ = ["Desk", "open_desk"]

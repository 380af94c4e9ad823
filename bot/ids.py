"""The fixed vocabularies: the same strings in YAML, code, Slack action_ids and tests."""

from __future__ import annotations

from typing import Literal

ROLES: tuple[RoleId, ...] = (
    "crisis_lead",
    "social_media_manager",
    "legal",
    "communications",
    "tech_lead",
    "spokesperson",
)
RoleId = Literal["crisis_lead", "social_media_manager", "legal", "communications", "tech_lead", "spokesperson"]

NETWORKS: tuple[NetworkId, ...] = ("x", "facebook", "linkedin")
NetworkId = Literal["x", "facebook", "linkedin"]

# Per-network limits on the rendered public text (X counts every URL as 23 characters).
NETWORK_LIMITS: dict[str, int] = {"x": 280, "facebook": 63206, "linkedin": 3000}

LANGUAGES: tuple[str, ...] = ("en", "nl")
Language = Literal["en", "nl"]

DRAFT_KINDS: tuple[str, ...] = ("first_response", "status_update", "resolved")
DraftKind = Literal["first_response", "status_update", "resolved"]

LEVELS: tuple[int, ...] = (1, 2, 3)

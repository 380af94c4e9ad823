"""What a local Crisis Desk shares across platforms (bot/localdesk.py for Slack, bot/localteams.py for Teams): the
demo company's cast and a scratch database. A development tool like the emulators: never on the runtime path."""

from __future__ import annotations

import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Person:
    """Someone of the demo company: their Slack member id (`id`) and their Entra object id (`aad_id`, Teams)."""

    id: str
    name: str
    real_name: str
    role: str | None = None
    aad_id: str = ""


# Fixed Entra object ids, so the Teams demo's crisisbot.yaml (demo-crisisbot.teams.yaml) can name the owners.
CAST: list[Person] = [
    Person("U0ANNA", "anna", "Anna de Vries", "crisis_lead", "a0000000-0000-4000-8000-00000000a001"),
    Person("U0BRAM", "bram", "Bram Jansen", "social_media_manager", "a0000000-0000-4000-8000-00000000a002"),
    Person("U0CHEN", "chen", "Chen Wu", "legal", "a0000000-0000-4000-8000-00000000a003"),
    Person("U0DEWI", "dewi", "Dewi Bakker", "communications", "a0000000-0000-4000-8000-00000000a004"),
    Person("U0ELI", "eli", "Eli Visser", "tech_lead", "a0000000-0000-4000-8000-00000000a005"),
    Person("U0FLEUR", "fleur", "Fleur Smit", "spokesperson", "a0000000-0000-4000-8000-00000000a006"),
    Person("U0GIJS", "gijs", "Gijs Mulder", None, "a0000000-0000-4000-8000-00000000a007"),  # an intern: may not approve
]


def cast_locale(environ: dict[str, str] | None) -> str:
    """The cast speaks the workspace language, so per-user language picks the same one."""
    return {"nl": "nl-NL"}.get((environ or {}).get("CRISISBOT_LANGUAGE", ""), "en-GB")


def scratch_db(db_path: Path | None) -> tuple[Path, tempfile.TemporaryDirectory[str] | None]:
    """`db_path`, or a fresh SQLite file in a temporary folder the caller cleans up (the second value)."""
    if db_path is not None:
        return db_path, None
    tmp = tempfile.TemporaryDirectory(prefix="crisisbot-")
    return Path(tmp.name) / "crisisbot.db", tmp


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server that takes its port from the environment)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])

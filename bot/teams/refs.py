"""What the Teams port remembers in the store's `platform_refs` (the SDK keeps conversation references only in
memory, Blob or Cosmos storage).

Keys (platform "teams"):
- `service_url`: the last service URL an activity brought (Teams may move a tenant to another one);
- `person:<Entra object id>`: `{"id": "29:…", "name", "locale", "chat": 1:1 conversation id, "guest"}`, merged
  from inbound activities and member look-ups;
- `sent:<incident code>:<step>`: `{"room", "ref"}`, each tagged message right after Teams accepted it: the
  read-back, since bots get no conversation history (a kill between Teams' answer and this write re-sends once);
- `room:<name>`: the thread a `create_room` made under that name (for a create whose run died after Teams made it);
- `channel:<name>`: the dedicated channel Graph made under that name (channel mode), noted right after Graph's answer;
- `team_group`: the team's group id (Graph names a team by it; the Bot Connector's team details give it);
- `upload:<room>:<file name>`: the file tokens of a report shared there;
- `file:<token>`: a shared file (`{"name", "type", "data": base64, "expires"}`), served at `/api/files/<token>`.
"""

from __future__ import annotations

import base64
import secrets
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bot.store import Store

PLATFORM = "teams"
SERVICE_URL = "service_url"
FILE_DAYS = 30  # how long a report's download link works


class Refs:
    """The port's memory, on the store; person records cached in memory too (read on every mention)."""

    def __init__(self, store: Store, now: Callable[[], datetime]) -> None:
        self.store, self.now = store, now
        self._people: dict[str, dict[str, Any]] = {}
        self._lock = threading.RLock()  # a merge reads and writes under it: no field lost to a race

    def _get(self, key: str) -> Any:
        return self.store.platform_ref(PLATFORM, key)

    def _put(self, key: str, value: Any) -> None:
        self.store.put_platform_ref(PLATFORM, key, value, self.now())

    # ---- the service URL ----------------------------------------------------------------------------
    def service_url(self) -> str | None:
        found = self._get(SERVICE_URL)
        return str(found) if found else None

    def note_service_url(self, url: str) -> None:
        if url and url != self.service_url():
            self._put(SERVICE_URL, url)

    # ---- people ---------------------------------------------------------------------------------------
    def person(self, person: str) -> dict[str, Any]:
        """What is known of a person (by Entra object id, in any case): {} when nothing."""
        person = person.lower()
        with self._lock:
            if person not in self._people:
                found = self._get(f"person:{person}")
                self._people[person] = dict(found) if isinstance(found, dict) else {}
            return dict(self._people[person])

    def note_person(self, person: str, **fields: Any) -> None:
        """Merge what an activity or a look-up said about a person; written only when something changed."""
        person = person.lower()
        with self._lock:
            known = self.person(person)
            merged = {**known, **{k: v for k, v in fields.items() if v not in (None, "")}}
            if merged != known:
                self._people[person] = merged
                self._put(f"person:{person}", merged)

    def by_teams_id(self, teams_id: str) -> str | None:
        """The Entra object id of the person whose Teams id (29:…) this is, when known."""
        for key, known in self.store.platform_refs(PLATFORM, "person:").items():
            if isinstance(known, dict) and known.get("id") == teams_id:
                return key.removeprefix("person:")
        return None

    # ---- the sent ledger ------------------------------------------------------------------------------
    def sent(self, code: str, step: str) -> dict[str, str] | None:
        found = self._get(f"sent:{code}:{step}")
        return found if isinstance(found, dict) else None

    def note_sent(self, code: str, step: str, room: str, ref: str) -> None:
        self._put(f"sent:{code}:{step}", {"room": room, "ref": ref})

    def room(self, name: str) -> str | None:
        found = self._get(f"room:{name}")
        return str(found) if found else None

    def note_room(self, name: str, ref: str) -> None:
        self._put(f"room:{name}", ref)

    def channel(self, name: str) -> str | None:
        found = self._get(f"channel:{name}")
        return str(found) if found else None

    def note_channel(self, name: str, channel: str) -> None:
        self._put(f"channel:{name}", channel)

    def team_group(self) -> str | None:
        found = self._get("team_group")
        return str(found) if found else None

    def note_team_group(self, group: str) -> None:
        self._put("team_group", group)

    # ---- shared files ---------------------------------------------------------------------------------
    def keep_file(self, path: Path, name: str, kind: str) -> str:
        """Keep a file's bytes under a new unguessable token (the file itself is a temporary one)."""
        token = secrets.token_urlsafe(24)
        data = base64.b64encode(path.read_bytes()).decode()
        expires = (self.now() + timedelta(days=FILE_DAYS)).isoformat()
        self._put(f"file:{token}", {"name": name, "type": kind, "data": data, "expires": expires})
        return token

    def file(self, token: str) -> tuple[str, str, bytes] | None:
        """(name, content type, bytes) of a kept file, None when unknown or expired."""
        found = self._get(f"file:{token}") if token else None
        if not isinstance(found, dict) or datetime.fromisoformat(found["expires"]) < self.now():
            return None
        return str(found["name"]), str(found["type"]), base64.b64decode(found["data"])

    def upload(self, room: str, filename: str) -> str | None:
        found = self._get(f"upload:{room}:{filename}")
        return str(found) if found else None

    def note_upload(self, room: str, filename: str, refs: str) -> None:
        self._put(f"upload:{room}:{filename}", refs)

"""Who a person is, as the platform tells it: their language (remembered an hour), their account, their name.

A person reads the bot's answers in their own language where we speak it, else the workspace's. Their language
setting costs the platform a round trip, so it is looked up once and remembered (`LANGUAGE_CACHE_SECONDS`); the
process's one `Languages` holds what every request learnt, while each request brings its own port.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future

from bot.chat.port import Dialect, Port
from bot.chat.wording import Wording
from bot.errors import SlackLookupFailed
from bot.ids import LANGUAGES
from bot.incidents.desk import Desk
from bot.incidents.roles import Person

LANGUAGE_CACHE_SECONDS = 3600


class Languages:
    """Each person's language, looked up on the platform and remembered an hour; wording in it."""

    def __init__(self, desk: Desk, dialect: Dialect) -> None:
        self.desk, self.dialect = desk, dialect
        self._languages: dict[str, tuple[str, float]] = {}
        self._looking: dict[str, Future[str]] = {}  # look-ups in flight, joined instead of asked twice
        self._looking_lock = threading.Lock()

    def wording(self, language: str | None = None) -> Wording:
        """The wording in `language`, the workspace's when not given."""
        return Wording(self.desk.messages, language or self.desk.language, self.dialect)

    def wording_for(self, port: Port, person: str, wait: bool = False) -> Wording:
        """Wording in the person's own language where we speak it, else the workspace's.

        Before an ack there is no time for a look-up round trip: unless `wait`, an unknown person gets
        the workspace language this once while their locale is looked up in the background.
        """
        cached = self._languages.get(person)
        if cached and cached[1] > time.monotonic():
            return self.wording(cached[0])
        lookup = self._look_up(port, person)
        return self.wording(lookup.result()) if wait else self.wording()

    def _look_up(self, port: Port, person: str) -> Future[str]:
        """The person's language from the platform, on a thread of its own; a look-up already under way is joined."""
        with self._looking_lock:
            pending = self._looking.get(person)
            if pending is not None:
                return pending
            future: Future[str] = Future()
            self._looking[person] = future

        def look() -> None:
            try:
                future.set_result(self.language(port, person))
            except BaseException as exc:  # never leave a waiter hanging
                future.set_exception(exc)
            finally:
                with self._looking_lock:
                    self._looking.pop(person, None)

        threading.Thread(target=look, name="crisisbot-locale", daemon=True).start()
        return future

    def language(self, port: Port, person: str) -> str:
        """Look the person's locale up on the platform (and remember it for an hour)."""
        locale = port.locale(person) or ""  # no locale: the workspace language is a fine answer
        language = locale[:2] if locale[:2] in LANGUAGES else self.desk.language
        self._languages[person] = (language, time.monotonic() + LANGUAGE_CACHE_SECONDS)
        return language


def people(port: Port, users: list[str]) -> dict[str, Person]:
    """What the platform says about each account, for a verb that must know who it is dealing with.

    An account the platform does not know is an answer; the platform not answering raises, for the person asking
    to retry.
    """
    found: dict[str, Person] = {}
    for user in dict.fromkeys(users):
        person = port.person(user)
        if person is None:
            raise SlackLookupFailed("error.roles_set_check_failed", person=user)
        found[user] = person
    return found

"""Garbage into the intake, signed and unsigned: never a 5xx, never a traceback or an internal name in the answer,
and a card for every accepted alert is valid Block Kit (the emulator validates it)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import GENERAL_ID, INTAKE_CONFIG, INTAKE_SECRET, Crisis, staffed_desk
from hypothesis import given
from hypothesis import strategies as st
from test_fuzz import LEAKS, examples

from bot.sandbox.monitor import Monitor

scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=300)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
FIELDS = [
    "alert_key",
    "title",
    "text",
    "url",
    "network",
    "author",
    "reach",
    "sentiment",
    "matched_keywords",
    "detected_at",
]
alerts = st.dictionaries(st.sampled_from(FIELDS) | st.text(max_size=10), values, max_size=12)


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crisis]:
    folder: Path = tmp_path_factory.mktemp("intake-fuzz")
    config = folder / "crisisbot.yaml"
    config.write_text(INTAKE_CONFIG.format(secret=INTAKE_SECRET), encoding="utf-8")
    with staffed_desk(folder, {"CRISISBOT_CONFIG": str(config), "SLACK_WATCH_CHANNEL": GENERAL_ID}) as crisis:
        yield crisis
        crisis.local.tick()
        assert crisis.emu.problems == []


def answered_plainly(status: int, body: dict[str, Any]) -> None:
    assert status in (202, 400, 401, 413), (status, body)
    text = json.dumps(body)
    assert not any(leak in text for leak in LEAKS), text


def test_any_signed_json_is_accepted_or_refused_plainly(desk: Crisis, full: bool) -> None:
    @examples(full, default=60)
    @given(alert=alerts, source=st.sampled_from(["coosto", "meltwater", "brandwatch"]))
    def send(alert: dict[str, Any], source: str) -> None:
        secret = INTAKE_SECRET if source == "coosto" else f"{INTAKE_SECRET}-{source}"
        payload = alert if source == "coosto" else {"documents": [alert], "mentions": [{"mention": alert}]}
        sent = Monitor(desk.local.intake_url, source, secret).send(payload)
        answered_plainly(sent.status, sent.body)

    send()


def test_any_bytes_with_any_headers_are_refused_plainly(desk: Crisis, full: bool) -> None:
    @examples(full, default=60)
    @given(body=st.binary(max_size=500), stamp=st.text(max_size=20), signature=st.text(max_size=80))
    def send(body: bytes, stamp: str, signature: str) -> None:
        headers = {"X-Crisis-Timestamp": header(stamp, "0"), "X-Crisis-Signature": header(signature, "v0=00")}
        sent = Monitor(desk.local.intake_url, "coosto", INTAKE_SECRET).send(body, headers=headers)
        answered_plainly(sent.status, sent.body)
        assert sent.status != 202

    send()


def header(text: str, empty: str) -> str:
    """What an HTTP header can carry (latin-1, no line breaks)."""
    value = "".join(c for c in text if c.isprintable() and ord(c) < 256).strip()
    return value or empty

"""Logging set-up, and the guarantee that no Slack token reaches a log line."""

from __future__ import annotations

import logging
import re

QUIET_AT_INFO = ("microsoft_agents", "apscheduler")
TOKEN = re.compile(r"\b(xox[abposr]|xapp)-[A-Za-z0-9-]+")


class RedactTokens(logging.Filter):
    """Replace anything shaped like a Slack token with a marker, whatever logger wrote it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if TOKEN.search(message):
            record.msg, record.args = TOKEN.sub(r"\1-…redacted", message), None
        return True


def setup_logging(level: int = logging.INFO) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactTokens())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    logging.getLogger("slack_sdk").setLevel(logging.WARNING)  # its DEBUG lines echo request headers
    # A line per Bot Connector call and per timer tick at INFO: the log would be mostly theirs, and on a Teams
    # declare's rounds each line is written from the one loop thread that sends every call. Their warnings stay.
    for chatty in QUIET_AT_INFO:
        logging.getLogger(chatty).setLevel(logging.WARNING)

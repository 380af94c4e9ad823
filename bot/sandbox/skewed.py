"""`python -m bot.sandbox.skewed SECONDS serve …`: crisisbot with its wall clock SECONDS ahead of this machine's
(negative: behind), as on a server whose clock drifted from Slack's.

The emulator on this machine stands for Slack, so its clock is Slack's; the bot's `time.time()` — what its
clock, the request-signature check and its bookkeeping read — is shifted before any of the bot is imported.
The restart tests use it to show that nothing the bot does after a crash depends on the two clocks agreeing
(within the five minutes a request signature allows, beyond which Slack's requests are refused anyway).
"""

from __future__ import annotations

import sys
import time


def skew(seconds: float) -> None:
    """Shift `time.time` by `seconds` for this whole process."""
    real = time.time
    time.time = lambda: real() + seconds


def main() -> None:
    seconds = float(sys.argv[1])
    del sys.argv[1]
    skew(seconds)
    from bot.cli import main as crisisbot  # imported only now: `from time import time` sees the shifted clock

    crisisbot()


if __name__ == "__main__":
    main()

"""The ``check`` and ``setup`` subcommands of ``sora-bot`` (registered in :mod:`bot.cli`)."""

from __future__ import annotations

import logging


def run(command: str) -> int:
    """Run ``sora-bot check`` or ``sora-bot setup``; returns the exit status."""
    # Library warnings would only clutter the one-line-per-check output.
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    if command == "check":
        from bot.onboarding.checks import main as check

        return check()
    from bot.onboarding.wizard import main as setup

    return setup()

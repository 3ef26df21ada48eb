"""Every error whose message a member or an operator may read.

Raise these anywhere below the cogs; the command tree's error handler (and one
helper for buttons and background jobs) turns them into an ephemeral reply.
"""

from __future__ import annotations


class UserError(Exception):
    """A problem with what the member asked for; the message is shown to them as is."""


class Refusal(UserError):
    """A job refused by a rule; ``reason`` is a short label for metrics and logs."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason

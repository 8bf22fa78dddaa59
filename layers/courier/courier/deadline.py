"""Wall-clock deadlines: how long a message, a reply or an invocation may still take.

A socket timeout bounds one ``recv``; a server that drips its reply a byte at a time, each byte
inside the timeout, is not bounded by it at all. Every SMTP read and write is therefore bounded
by a :class:`Deadline` instead: the sooner of "this reply within ``SmtpTimeoutSeconds``" and
"this message before the invocation must stop".

The invocation keeps :data:`RESERVE_SECONDS` after the last SMTP byte to record outcomes (the
idempotency record, DLQ writes, visibility changes). A message starts only when it
:func:`fits`: the invocation can still wait one full ``SmtpTimeoutSeconds`` for a reply and
keep the reserve.

Example
-------
>>> deadline = Deadline.after(5.0)
>>> 4.9 < deadline.remaining() <= 5.0
True
>>> fits(remaining_seconds=12.0, smtp_timeout=10.0)
False
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

__all__ = ["RESERVE_SECONDS", "Deadline", "fits", "seconds_needed"]

RESERVE_SECONDS = 3.0
"""Seconds an invocation keeps, after its last SMTP byte, to record every message's outcome."""


@dataclass(frozen=True)
class Deadline:
    """A point in time (``time.monotonic()`` seconds) by which something must be done."""

    at: float

    @classmethod
    def after(cls, seconds: float) -> Deadline:
        """The deadline ``seconds`` from now."""
        return cls(time.monotonic() + seconds)

    @classmethod
    def never(cls) -> Deadline:
        """No deadline: only the socket timeouts bound the session."""
        return cls(math.inf)

    def remaining(self) -> float:
        """Seconds left (negative once passed)."""
        return self.at - time.monotonic()

    def expired(self) -> bool:
        return self.remaining() <= 0

    def sooner(self, seconds: float) -> Deadline:
        """This deadline, or ``seconds`` from now if that comes first."""
        return Deadline(min(self.at, time.monotonic() + seconds))


def seconds_needed(smtp_timeout: float) -> float:
    """What an invocation must have left to start a message: one reply's wait and the reserve."""
    return smtp_timeout + RESERVE_SECONDS


def fits(*, remaining_seconds: float, smtp_timeout: float) -> bool:
    """Whether a message can start with ``remaining_seconds`` left in the invocation."""
    return remaining_seconds >= seconds_needed(smtp_timeout)

"""Values made on first use, once, whichever thread asks first: the functions' AWS clients.

A cold start pays for what its import makes before the first invocation can begin. The clients
a function needs (a boto3 client costs milliseconds of CPU to make) are made where they are
first used instead: the DynamoDB client by the first idempotency claim or status write, which run
while the batch's SMTP sessions are opening, so its cost is spent while the sender waits for the
network. boto3's sessions are not thread-safe, so a value is made under a lock: threads that ask
while it is being made wait for it.

Example
-------
>>> made = []
>>> client = Lazy(lambda: made.append("client") or "the client")
>>> made
[]
>>> client(), client(), made
('the client', 'the client', ['client'])
>>> on_first_use("a value")()
'a value'
>>> on_first_use(client) is client
True
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["Lazy", "made", "on_first_use"]

_T = TypeVar("_T")


class Lazy(Generic[_T]):
    """``make()``'s value, made by the first call (in whichever thread), returned by every call.

    If ``make`` raises, the call raises and the next call tries again.
    """

    def __init__(self, make: Callable[[], _T]) -> None:
        self._make = make
        self._lock = threading.Lock()
        self._made = False
        self._value: _T | None = None

    def __call__(self) -> _T:
        if not self._made:
            with self._lock:
                if not self._made:
                    self._value = self._make()
                    self._made = True
        return self._value  # type: ignore[return-value]  # made: a _T (None only if _T is)


def made(value: _T | Callable[[], _T]) -> _T:
    """``value()`` if ``value`` is how to make the value, else ``value`` itself.

    The parameters of courier's classes that take a client (or the idempotency store) take
    either: a test passes the client, the functions pass how to make it.
    """
    return value() if callable(value) else value


def on_first_use(value: _T | Callable[[], _T]) -> Lazy[_T]:
    """``value``, made (:func:`made`) by the first call; a :class:`Lazy` already is that (the
    functions' clients, from :class:`courier.aws_session.Clients`), and is returned as it is."""
    if isinstance(value, Lazy):
        return value
    return Lazy(lambda: made(value))

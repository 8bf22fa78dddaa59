"""Every AWS API call of this process, counted and timed by service and operation.

:meth:`AwsCalls.install` adds botocore ``before-call`` and ``after-call`` handlers to its
built-in handlers, the way moto installs its own: every session made afterwards has them, so
the handler's clients need no change. A call's time runs from ``before-call`` (its request
serialized) to ``after-call`` (its answer parsed): signing, the HTTP exchange and parsing.
Calls made side by side (the sender's threads) are summed, and also counted once in the time
during which at least one call of the service was in flight.
"""

from __future__ import annotations

import threading
import time
from collections import Counter, defaultdict
from typing import Any

__all__ = ["AwsCalls"]

_clock = time.perf_counter


class AwsCalls:
    """The calls since the last :meth:`clear`."""

    def __init__(self) -> None:
        self.calls: Counter[tuple[str, str]] = Counter()
        self.seconds: defaultdict[str, float] = defaultdict(float)
        """Each service's calls' times, summed."""
        self.in_flight: defaultdict[str, float] = defaultdict(float)
        """Seconds during which at least one call of each service was in flight."""
        self._lock = threading.Lock()
        self._active: Counter[str] = Counter()
        self._since: dict[str, float] = {}

    def install(self) -> None:
        """Count from now on, in every botocore session made after this call."""
        from botocore.handlers import BUILTIN_HANDLERS

        BUILTIN_HANDLERS.append(("before-call", self._before))
        BUILTIN_HANDLERS.append(("after-call", self._after))
        BUILTIN_HANDLERS.append(("after-call-error", self._after))

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()
            self.seconds.clear()
            self.in_flight.clear()

    def snapshot(self) -> dict[str, Any]:
        """``calls`` (service → operation → n), ``aws_seconds`` and ``aws_in_flight`` (service
        → seconds)."""
        with self._lock:
            by_service: dict[str, dict[str, int]] = {}
            for (service, operation), number in sorted(self.calls.items()):
                by_service.setdefault(service, {})[operation] = number
            return {
                "calls": by_service,
                "aws_seconds": dict(self.seconds),
                "aws_in_flight": dict(self.in_flight),
            }

    def _before(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        service = model.service_model.service_name
        now = _clock()
        context["bench_started"] = now  # the request's context: the same dict after it
        with self._lock:
            self.calls[(service, model.name)] += 1
            if not self._active[service]:
                self._since[service] = now
            self._active[service] += 1

    def _after(self, model: Any, context: dict[str, Any], **_: Any) -> None:
        started = context.pop("bench_started", None)
        if started is None:
            return
        service = model.service_model.service_name
        now = _clock()
        with self._lock:
            self.seconds[service] += now - started
            self._active[service] -= 1
            if not self._active[service]:
                self.in_flight[service] += now - self._since.pop(service)

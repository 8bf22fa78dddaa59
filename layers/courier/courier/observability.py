"""The Powertools logger, metrics and tracer of courier's functions (docs/design.md §6).

Logs are JSON with the message's idempotency key as correlation id, and name a message's
recipient only masked (:func:`mask_recipient`: full addresses are kept in the status table
only); metrics are EMF counts of each outcome, of failures by error code, and of status items
that could not be written. The service name and the metrics namespace come
from ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` (``template.yaml`` sets
them), as Powertools does; the defaults serve runs outside Lambda.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, overload

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from courier.lazy import Lazy
from courier.outcomes import Cause, Outcome

if TYPE_CHECKING:
    from aws_lambda_powertools import Tracer

__all__ = [
    "SERVICE",
    "count_outcome",
    "count_status_write_failure",
    "logger",
    "mask_recipient",
    "masked",
    "metrics",
    "traced",
]

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "courier-sender"
"""The service every log line, trace and metric of the sender names."""

# Powertools names the stdlib logger after the service; it is named "courier" so that the
# courier.* modules' own loggers log through it, and the lines say the real service.
logger = Logger(service="courier")
logger.append_keys(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Courier")
_Handler = TypeVar("_Handler", bound=Callable[..., Any])


@overload
def traced(handler: _Handler, *, service: str = ...) -> _Handler: ...
@overload
def traced(handler: None = None, *, service: str = ...) -> Callable[[_Handler], _Handler]: ...
def traced(
    handler: _Handler | None = None, *, service: str = SERVICE
) -> _Handler | Callable[[_Handler], _Handler]:
    """``handler`` under Powertools' tracer (``capture_lambda_handler``), as ``service``;
    ``@traced`` or ``@traced(service=...)``.

    The tracer is made, and botocore patched, by the first invocation, not at import: the X-Ray
    SDK imports asyncio and wrapt, about 16 ms of a cold start's import. Only botocore's calls
    are traced: patching every supported module imports requests, sqlite3 and more, for
    clients courier does not use.
    """
    if handler is None:
        return functools.partial(traced, service=service)

    def trace() -> Any:
        from aws_lambda_powertools import Tracer

        tracer: Tracer = Tracer(service=service, patch_modules=("botocore",))
        return tracer.capture_lambda_handler(handler)

    traced_handler = Lazy(trace)

    @functools.wraps(handler)
    def invoke(*args: Any, **kwargs: Any) -> Any:
        return traced_handler()(*args, **kwargs)

    return invoke


_METRIC_NAMES = {
    Outcome.DELIVERED: "Delivered",
    Outcome.DUPLICATE: "DuplicatesSuppressed",
    Outcome.RETRIED: "Retried",
    Outcome.DEAD_LETTERED: "DeadLettered",
}


def count_outcome(outcome: Outcome, cause: Cause | None = None) -> None:
    """Count one message's outcome; for a failure also count its error code."""
    metrics.add_metric(name=_METRIC_NAMES[outcome], unit=MetricUnit.Count, value=1)
    if cause is not None:
        with single_metric(
            name="Failures", unit=MetricUnit.Count, value=1, namespace=metrics.namespace
        ) as metric:
            metric.add_dimension(name="error_code", value=cause.code)


def count_status_write_failure(items: int = 1) -> None:
    """Count status items (or heads) the status table did not take: ``StatusWriteFailures``."""
    metrics.add_metric(name="StatusWriteFailures", unit=MetricUnit.Count, value=items)


def mask_recipient(address: str | None) -> str | None:
    """``address`` as logs show it: its first character, ``***`` and its domain.

    Example
    -------
    >>> mask_recipient("ada@example.org"), mask_recipient("not an address"), mask_recipient(None)
    ('a***@example.org', 'n***', None)
    """
    if address is None:
        return None
    local, at, domain = address.rpartition("@")
    if not at:
        local, domain = address, ""
    return f"{local[:1]}***{at}{domain}"


def masked(text: str, address: str | None) -> str:
    """``text`` with every occurrence of ``address`` masked (servers echo it in replies).

    Example
    -------
    >>> masked("550 5.1.1 <ada@example.org>: no such user", "ada@example.org")
    '550 5.1.1 <a***@example.org>: no such user'
    """
    if not address:
        return text
    mask = str(mask_recipient(address))
    return re.sub(re.escape(address), lambda _: mask, text, flags=re.IGNORECASE)

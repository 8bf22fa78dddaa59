"""The Powertools logger, metrics and tracer of courier's functions (docs/design.md §6).

Logs are JSON with the message's idempotency key as correlation id; metrics are EMF counts of
each outcome, and of failures by error code. The service name and the metrics namespace come
from ``POWERTOOLS_SERVICE_NAME`` and ``POWERTOOLS_METRICS_NAMESPACE`` (``template.yaml`` sets
them), as Powertools does; the defaults serve runs outside Lambda.
"""

from __future__ import annotations

import os

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.metrics import MetricUnit, single_metric

from courier.outcomes import Cause, Outcome

__all__ = ["SERVICE", "count_outcome", "logger", "metrics", "tracer"]

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "courier-sender"
"""The service every log line, trace and metric of the sender names."""

# Powertools names the stdlib logger after the service; it is named "courier" so that the
# courier.* modules' own loggers log through it, and the lines say the real service.
logger = Logger(service="courier")
logger.append_keys(service=SERVICE)
metrics = Metrics(namespace=os.environ.get("POWERTOOLS_METRICS_NAMESPACE") or "Courier")
# Only botocore's calls are traced: patching every supported module imports requests, sqlite3
# and more at each cold start, for clients courier does not use.
tracer = Tracer(service=SERVICE, patch_modules=("botocore",))

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

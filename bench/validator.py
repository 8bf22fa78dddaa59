"""The config validator's answer to a patch with 50 bad settings, against one with 50 good ones.

Both requests go through :class:`courier.validation.api.ValidatorApi`, as the Lambda handler
calls it: the project's parameters are read from SSM (moto, in this process), the patch is
applied, every rule of :mod:`courier.config_rules` runs once, and the response is built (a dry
run: nothing is written). The bad patch sets 48 headers whose values hold a CR/LF, a
``from_name`` with U+2028 and a ``message_retries`` of 99; the good one sets 50 valid headers.
Both are timed alternately, after a warm-up; the figure is the bad patch's median time, and the
ratio of the two medians shows what finding the errors costs on top of reading the patch.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

import boto3
from moto import mock_aws

from bench.report import Figure, median
from local.lambda_context import LocalLambdaContext

__all__ = ["ValidatorTimes", "measure", "summarize"]

_PROJECT = "bench"
_HEADERS = 48
_PREFIX = "/services/identity/config/courier/smtp"


@dataclass(frozen=True)
class ValidatorTimes:
    """Seconds per request of each kind, in run order."""

    bad: list[float]
    good: list[float]
    errors: int


def _request(*, bad: bool) -> dict[str, Any]:
    value = '"v\\r\\nBcc: victim@example.com"' if bad else '"v"'
    add = [f"{_PREFIX}/headers/X-Bench-{index}={value}" for index in range(_HEADERS)]
    from_name = '"Acme\\u2028Bcc: x@example.com"' if bad else '"Acme"'
    add += [f"{_PREFIX}/from_name={from_name}"]
    retries = 99 if bad else 5
    add += [f"/services/identity/config/courier/message_retries={retries}"]
    return {"project_id": _PROJECT, "add": add, "dry_run": True}


def measure(*, runs: int) -> ValidatorTimes:
    """Time ``runs`` requests of each kind, alternating, after one of each as a warm-up."""

    logging.disable(logging.INFO)  # the validator logs every answer
    try:
        return _measure(runs)
    finally:
        logging.disable(logging.NOTSET)


def _measure(runs: int) -> ValidatorTimes:
    from courier.stack import StackSettings
    from courier.validation.api import ValidatorApi
    from courier.validation.store import SsmConfigStore
    from courier.validation.validator import ConfigValidator

    with mock_aws():
        ssm = boto3.client("ssm", region_name="us-east-1")
        ssm.put_parameter(
            Name=f"/courier/{_PROJECT}/smtp/connection_uri",
            Value="smtps://mailer:bench-pw-1234@192.0.32.10:465/",  # an address: no DNS
            Type="SecureString",
        )
        settings = StackSettings.from_environment({})
        store = SsmConfigStore(settings=settings, boto3_client=ssm)
        api = ValidatorApi(ConfigValidator(settings=settings, store=store))
        context = LocalLambdaContext("ConfigValidatorFunction")
        requests = {"bad": _request(bad=True), "good": _request(bad=False)}
        errors = len(api.handle(requests["bad"], context)["errors"])
        if api.handle(requests["good"], context)["errors"]:
            raise SystemExit("the good patch has errors: the baseline is not a valid patch")
        times: dict[str, list[float]] = {"bad": [], "good": []}
        for _ in range(runs):
            for kind, request in requests.items():
                start = time.perf_counter()
                api.handle(request, context)
                times[kind].append(time.perf_counter() - start)
    return ValidatorTimes(bad=times["bad"], good=times["good"], errors=errors)


def summarize(times: ValidatorTimes) -> tuple[list[Figure], list[str]]:
    """``validator_ms_50_errors`` and the ratio to the good patch, with min/median/max notes."""
    bad, good = median(times.bad), median(times.good)
    figures = [
        Figure(
            "validator_ms_50_errors",
            bad * 1000,
            digits=1,
            low=min(times.bad) * 1000,
            high=max(times.bad) * 1000,
        ),
        Figure("validator_errors_vs_valid_ratio", bad / good),
    ]

    def spread(values: list[float]) -> str:
        return "/".join(f"{v * 1000:.1f}" for v in (min(values), median(values), max(values)))

    notes = [
        f"validator: {times.errors} errors in one answer; ms min/median/max over "
        f"{len(times.bad)} runs: 50 bad settings {spread(times.bad)}, 50 good {spread(times.good)}"
    ]
    return figures, notes

"""The validator's stack settings, read from the environment as the sender reads them.

``template.yaml`` gives both functions the same ``COURIER_*`` variables, so the validator
judges a configuration with the sender's prefix, default sender, SSRF guard and timeout. The
validator is also told the sender function's own timeout (``COURIER_SENDER_TIMEOUT_SECONDS``),
so that :func:`check_stack` can warn when no message could ever start
(:func:`courier.deadline.fits`): a stack-wide problem, reported with every response.

Example
-------
>>> settings = ValidatorSettings.from_environment({"COURIER_SSM_PREFIX": "/mail"})
>>> settings.default_connection_uri_parameter, settings.allow_private_hosts
('/mail/default/smtp/connection_uri', False)
>>> [f.code for f in check_stack(ValidatorSettings(smtp_timeout=58, sender_timeout=60))]
['smtp_timeout_exceeds_function_timeout']
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from courier.config import DEFAULT_FROM_ADDRESS, DEFAULT_PREFIX, DEFAULT_PROJECT
from courier.config_provider import (
    ENV_DEFAULT_CONNECTION_URI_PARAMETER,
    ENV_DEFAULT_FROM_ADDRESS,
    ENV_DEFAULT_PROJECT,
    ENV_SSM_PREFIX,
)
from courier.deadline import RESERVE_SECONDS, fits, seconds_needed
from courier.validation.types import Finding

__all__ = [
    "ENV_ALLOW_PRIVATE_SMTP_HOSTS",
    "ENV_SENDER_TIMEOUT_SECONDS",
    "ENV_SMTP_TIMEOUT_SECONDS",
    "STACK_POINTER",
    "ValidatorSettings",
    "check_stack",
]

ENV_ALLOW_PRIVATE_SMTP_HOSTS = "COURIER_ALLOW_PRIVATE_SMTP_HOSTS"
ENV_SMTP_TIMEOUT_SECONDS = "COURIER_SMTP_TIMEOUT_SECONDS"
ENV_SENDER_TIMEOUT_SECONDS = "COURIER_SENDER_TIMEOUT_SECONDS"
"""The sender function's ``Timeout`` (``template.yaml`` keeps the two equal)."""
STACK_POINTER = ""
"""Where a stack-wide finding points: the whole request (no place in it, nor in the config, is
at fault), as for ``config_unavailable``."""


@dataclass(frozen=True, kw_only=True)
class ValidatorSettings:
    """The stack's settings, as the sender reads them (``template.yaml`` sets both alike)."""

    prefix: str = DEFAULT_PREFIX
    default_connection_uri_parameter: str | None = None
    default_from_address: str = DEFAULT_FROM_ADDRESS
    default_project: str = DEFAULT_PROJECT
    allow_private_hosts: bool = False
    smtp_timeout: float = 10.0
    sender_timeout: float | None = None
    """The sender function's timeout in seconds; ``None``: not known (not checked)."""

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ValidatorSettings:
        """The settings from ``COURIER_*`` variables; unset or empty ones take the defaults."""
        prefix = (environ.get(ENV_SSM_PREFIX) or DEFAULT_PREFIX).rstrip("/")
        sender_timeout = environ.get(ENV_SENDER_TIMEOUT_SECONDS)
        return cls(
            prefix=prefix,
            default_connection_uri_parameter=environ.get(ENV_DEFAULT_CONNECTION_URI_PARAMETER)
            or f"{prefix}/default/smtp/connection_uri",
            default_from_address=environ.get(ENV_DEFAULT_FROM_ADDRESS) or DEFAULT_FROM_ADDRESS,
            default_project=environ.get(ENV_DEFAULT_PROJECT) or DEFAULT_PROJECT,
            allow_private_hosts=environ.get(ENV_ALLOW_PRIVATE_SMTP_HOSTS, "").lower() == "true",
            smtp_timeout=float(environ.get(ENV_SMTP_TIMEOUT_SECONDS) or 10),
            sender_timeout=float(sender_timeout) if sender_timeout else None,
        )


def check_stack(settings: ValidatorSettings) -> list[Finding]:
    """What is wrong with the stack itself, whatever the project and the patch.

    Parameters
    ----------
    settings:
        The stack's settings.

    Returns
    -------
    list[Finding]
        The warning ``smtp_timeout_exceeds_function_timeout`` (on :data:`STACK_POINTER`) when
        the sender function's timeout cannot :func:`~courier.deadline.fits` one message: then
        the sender starts none, and every message ends in the dead-letter queue.
    """
    sender_timeout, smtp_timeout = settings.sender_timeout, settings.smtp_timeout
    if sender_timeout is None or fits(remaining_seconds=sender_timeout, smtp_timeout=smtp_timeout):
        return []
    return [
        Finding.warning(
            STACK_POINTER,
            "smtp_timeout_exceeds_function_timeout",
            "the stack cannot send any mail: a message starts only while the sender's "
            f"invocation has {seconds_needed(smtp_timeout):g}s left (SmtpTimeoutSeconds, "
            f"{smtp_timeout:g}s, plus {RESERVE_SECONDS:g}s kept to record outcomes), more than "
            f"the sender function's whole Timeout ({sender_timeout:g}s). Every message of every "
            "project is handed back and finally dead-lettered with out_of_time: lower the stack "
            "parameter SmtpTimeoutSeconds or raise the sender function's Timeout",
        )
    ]

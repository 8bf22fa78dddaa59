"""The validator's stack settings, read from the environment as the sender reads them.

``template.yaml`` gives both functions the same ``COURIER_*`` variables, so the validator
judges a configuration with the sender's prefix, default sender, SSRF guard and timeout.

Example
-------
>>> settings = ValidatorSettings.from_environment({"COURIER_SSM_PREFIX": "/mail"})
>>> settings.default_connection_uri_parameter, settings.allow_private_hosts
('/mail/default/smtp/connection_uri', False)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from courier.config import DEFAULT_FROM_ADDRESS, DEFAULT_PREFIX
from courier.config_provider import (
    ENV_DEFAULT_CONNECTION_URI_PARAMETER,
    ENV_DEFAULT_FROM_ADDRESS,
    ENV_SSM_PREFIX,
)

__all__ = ["ENV_ALLOW_PRIVATE_SMTP_HOSTS", "ENV_SMTP_TIMEOUT_SECONDS", "ValidatorSettings"]

ENV_ALLOW_PRIVATE_SMTP_HOSTS = "COURIER_ALLOW_PRIVATE_SMTP_HOSTS"
ENV_SMTP_TIMEOUT_SECONDS = "COURIER_SMTP_TIMEOUT_SECONDS"


@dataclass(frozen=True, kw_only=True)
class ValidatorSettings:
    """The stack's settings, as the sender reads them (``template.yaml`` sets both alike)."""

    prefix: str = DEFAULT_PREFIX
    default_connection_uri_parameter: str | None = None
    default_from_address: str = DEFAULT_FROM_ADDRESS
    allow_private_hosts: bool = False
    smtp_timeout: float = 10.0

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> ValidatorSettings:
        """The settings from ``COURIER_*`` variables; unset or empty ones take the defaults."""
        prefix = (environ.get(ENV_SSM_PREFIX) or DEFAULT_PREFIX).rstrip("/")
        return cls(
            prefix=prefix,
            default_connection_uri_parameter=environ.get(ENV_DEFAULT_CONNECTION_URI_PARAMETER)
            or f"{prefix}/default/smtp/connection_uri",
            default_from_address=environ.get(ENV_DEFAULT_FROM_ADDRESS) or DEFAULT_FROM_ADDRESS,
            allow_private_hosts=environ.get(ENV_ALLOW_PRIVATE_SMTP_HOSTS, "").lower() == "true",
            smtp_timeout=float(environ.get(ENV_SMTP_TIMEOUT_SECONDS) or 10),
        )

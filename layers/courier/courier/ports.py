"""The SMTP ports courier knows, in one place: each scheme's default, the providers' TLS
conventions, and the port AWS Lambda blocks.

The parser (:mod:`courier.uri`), the validator's port checks
(:mod:`courier.validation.uri_checks`), the transport's hints (:mod:`courier.transport`,
:mod:`courier.smtp_failures`) and every message that names a port take their numbers from here.

Example
-------
>>> DEFAULT_PORTS["smtps"], port_list(IMPLICIT_TLS_PORTS)
(465, '465, 2465')
>>> scheme_ports_hint()
'port 587 with smtp:// (STARTTLS) or port 465 with smtps:// (implicit TLS)'
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from types import MappingProxyType

__all__ = [
    "BLOCKED_PORT",
    "DEFAULT_PORTS",
    "IMPLICIT_TLS_PORTS",
    "STARTTLS_PORTS",
    "port_list",
    "scheme_ports_hint",
]

SUBMISSION_PORT = 587
"""RFC 6409 message submission: a cleartext greeting, then STARTTLS (``smtp://``)."""
SUBMISSIONS_PORT = 465
"""RFC 8314 submission over implicit TLS (``smtps://``)."""
BLOCKED_PORT = 25
"""AWS Lambda cannot open outbound connections to port 25."""

DEFAULT_PORTS: Mapping[str, int] = MappingProxyType(
    {"smtp": SUBMISSION_PORT, "smtps": SUBMISSIONS_PORT}
)
"""The port of each supported scheme when the URI gives none."""
IMPLICIT_TLS_PORTS = frozenset({SUBMISSIONS_PORT, 2465})
"""Ports where providers expect TLS from the first byte (SES also 2465): ``smtps://``."""
STARTTLS_PORTS = frozenset({BLOCKED_PORT, SUBMISSION_PORT, 2525, 2587})
"""Ports where providers greet in cleartext and offer STARTTLS (Mailgun and Postmark 2525, SES
2587): ``smtp://``."""


def port_list(ports: Iterable[int]) -> str:
    """``ports`` in ascending order, for a message: ``"465, 2465"``."""
    return ", ".join(str(port) for port in sorted(ports))


def scheme_ports_hint() -> str:
    """Which port goes with which scheme, for a message that suggests one."""
    return (
        f"port {DEFAULT_PORTS['smtp']} with smtp:// (STARTTLS) or port "
        f"{DEFAULT_PORTS['smtps']} with smtps:// (implicit TLS)"
    )

"""Where an SMTP host may be: the SSRF guard of a multi-project sender.

Each project names its own SMTP host, so without a guard a project could make the sender open
connections into the AWS network it runs in (the instance metadata address, a VPC database).
By default a host must resolve only to public addresses; the stack parameter
``AllowPrivateSmtpHosts`` turns the guard off for local use and single-project stacks.

The transport connects to the addresses checked here, not to the name again, so a DNS answer
that changes between the check and the connection cannot slip a private address through.
"""

from __future__ import annotations

import ipaddress
import socket

from courier.errors import ConfigError, SmtpConnectError

__all__ = ["resolve_smtp_host"]


def resolve_smtp_host(
    host: str, port: int, *, allow_private: bool, endpoint: str
) -> list[tuple[str, int]]:
    """Resolve ``host`` to the socket addresses to try, in the resolver's order.

    Parameters
    ----------
    host, port:
        The SMTP server.
    allow_private:
        Accept private, loopback, link-local and other non-public addresses.
    endpoint:
        The redacted URI, for error messages.

    Raises
    ------
    ConfigError
        ``allow_private`` is false and the host resolves to a non-public address.
    SmtpConnectError
        The name does not resolve (transient: DNS can recover).

    Example
    -------
    >>> resolve_smtp_host("127.0.0.1", 2525, allow_private=True, endpoint="smtp://127.0.0.1:2525/")
    [('127.0.0.1', 2525)]
    """
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise SmtpConnectError(
            f"cannot resolve {host} ({exc.strerror or exc})", endpoint=endpoint
        ) from exc
    addresses = list(dict.fromkeys((str(info[4][0]), port) for info in answers))
    if not allow_private:
        for address, _ in addresses:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
            if not ip.is_global:
                raise ConfigError(
                    "connection_uri.host",
                    "smtp_host_not_public",
                    f"{host} resolves to {ip}, a private, loopback or link-local address; "
                    "courier only connects to public SMTP servers unless the stack parameter "
                    "AllowPrivateSmtpHosts is true",
                )
    return addresses

"""Where an SMTP host may be: the SSRF guard of a multi-project sender.

Each project names its own SMTP host, so without a guard a project could make the sender open
connections into the AWS network it runs in (the instance metadata address, a VPC database).
By default a host must resolve only to globally routable unicast addresses
(:func:`is_public_unicast`); the stack parameter ``AllowPrivateSmtpHosts`` turns the guard off
for local use and single-project stacks.

The transport connects to the addresses checked here, not to the name again, so a DNS answer
that changes between the check and the connection cannot slip a private address through.

IPv6 forms that carry an IPv4 address (NAT64, 6to4, Teredo, IPv4-mapped, IPv4-compatible) are
refused whatever they carry. A private IPv4 inside one is the obvious bypass; a public one is
refused too, because the host such an address reaches is picked by a translator or tunnel
relay under routes the guard cannot see. In AWS, NAT64 is done by a NAT gateway whose own route
table (a private NAT gateway's leads to a transit gateway, peered VPCs, on-premises networks)
may send a public-looking IPv4 address somewhere the function's own routes would not. The cost
is small: a Lambda function with IPv6 is in a dual-stack subnet and reaches IPv4 directly.
"""

from __future__ import annotations

import ipaddress
import socket

from courier.errors import ConfigError, SmtpConnectError

__all__ = [
    "first_not_public",
    "is_public_unicast",
    "resolve_addresses",
    "resolve_smtp_host",
    "why_not_public",
]

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LOW_32_BITS = 0xFFFFFFFF
_NAT64_WELL_KNOWN = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052
_NAT64_LOCAL_USE = ipaddress.IPv6Network("64:ff9b:1::/48")  # RFC 8215
_IPV4_COMPATIBLE = ipaddress.IPv6Network("::/96")  # RFC 4291, deprecated

#: Refused ranges that ipaddress has no property for, named for the error message. Most are
#: also outside ``is_global``; 192.0.0.0/24 and 3fff::/20 are not on every Python version.
_NAMED_RANGES: tuple[tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, str], ...] = (
    (ipaddress.IPv4Network("100.64.0.0/10"), "shared (carrier-grade NAT)"),  # RFC 6598
    (ipaddress.IPv4Network("192.0.0.0/24"), "IETF protocol assignment"),  # RFC 6890
    (ipaddress.IPv4Network("198.18.0.0/15"), "benchmarking"),  # RFC 2544
    (ipaddress.IPv6Network("2001:2::/48"), "benchmarking"),  # RFC 5180
    (ipaddress.IPv4Network("192.0.2.0/24"), "documentation"),  # RFC 5737
    (ipaddress.IPv4Network("198.51.100.0/24"), "documentation"),
    (ipaddress.IPv4Network("203.0.113.0/24"), "documentation"),
    (ipaddress.IPv6Network("2001:db8::/32"), "documentation"),  # RFC 3849
    (ipaddress.IPv6Network("3fff::/20"), "documentation"),  # RFC 9637
    (ipaddress.IPv6Network("fc00::/7"), "unique local (ULA)"),  # RFC 4193
)

_NAT64_PUBLIC = (
    "a NAT64 translator, under routes courier cannot check, picks the host it reaches; name "
    "{inner} itself (if DNS64 made this answer, turn DNS64 off on the function's subnets)"
)
_NOTATION_PUBLIC = (
    "courier does not accept an IPv4 address written in IPv6 form; name {inner} itself"
)
#: Why each IPv4-in-IPv6 form is refused even when the IPv4 address it carries is public
#: (a template for ``str.format`` with ``inner``, that address).
_WRAPPED_PUBLIC = {
    "NAT64": _NAT64_PUBLIC,
    "local-use NAT64": _NAT64_PUBLIC,
    "6to4": "a 6to4 relay, under routes courier cannot check, picks the host it reaches",
    "Teredo": "a Teredo relay, under routes courier cannot check, picks the host it reaches",
    "IPv4-mapped": _NOTATION_PUBLIC,
    "IPv4-compatible": _NOTATION_PUBLIC,
}


def is_public_unicast(ip: IPAddress) -> bool:
    """Whether courier may connect to ``ip``: a globally routable unicast address.

    Parameters
    ----------
    ip:
        The address (an IPv6 zone id, if any, is ignored).

    Returns
    -------
    bool
        ``True`` exactly when :func:`why_not_public` has no reason to refuse it.

    Examples
    --------
    >>> is_public_unicast(ipaddress.ip_address("192.0.32.10"))
    True
    >>> is_public_unicast(ipaddress.ip_address("64:ff9b::a00:1"))
    False
    """
    return why_not_public(ip) is None


def why_not_public(ip: IPAddress) -> str | None:
    """Say why ``ip`` is not a globally routable unicast address, or ``None`` if it is one.

    Refused: unspecified, loopback, link-local, multicast, site-local, shared (100.64.0.0/10),
    benchmarking, documentation, unique local, reserved, private and any other address
    :mod:`ipaddress` does not call global; and every IPv6 form that carries an IPv4 address
    (NAT64 ``64:ff9b::/96`` and ``64:ff9b:1::/48``, 6to4 ``2002::/16``, Teredo ``2001::/32``,
    IPv4-mapped ``::ffff:0:0/96``, IPv4-compatible ``::/96``), whatever the IPv4 address.

    Parameters
    ----------
    ip:
        The address (an IPv6 zone id, if any, is ignored).

    Returns
    -------
    str | None
        A noun phrase for an error message, such as ``"a NAT64 address wrapping the private
        address 10.0.0.1"``; ``None`` for a public unicast address.

    Examples
    --------
    >>> why_not_public(ipaddress.ip_address("169.254.169.254"))
    'a link-local address'
    >>> why_not_public(ipaddress.ip_address("2002:a00:1::1"))
    'a 6to4 address wrapping the private address 10.0.0.1'
    >>> why_not_public(ipaddress.ip_address("2606:4700::1111")) is None
    True
    """
    if isinstance(ip, ipaddress.IPv6Address):
        wrapped = _wrapped_ipv4(ip)
        if wrapped is not None:
            form, inner = wrapped
            kind = _kind(inner)
            if kind is not None:
                return f"{_article(form)} {form} address wrapping the {kind} address {inner}"
            return (
                f"{_article(form)} {form} address wrapping the public address {inner}, refused "
                f"all the same: {_WRAPPED_PUBLIC[form].format(inner=inner)}"
            )
    kind = _kind(ip)
    return None if kind is None else f"{_article(kind)} {kind} address"


def _wrapped_ipv4(ip: ipaddress.IPv6Address) -> tuple[str, ipaddress.IPv4Address] | None:
    """The IPv4-in-IPv6 form ``ip`` is in and the IPv4 address it carries (Teredo: the client)."""
    if ip.ipv4_mapped is not None:
        return "IPv4-mapped", ip.ipv4_mapped
    if ip.teredo is not None:
        return "Teredo", ip.teredo[1]
    if ip.sixtofour is not None:
        return "6to4", ip.sixtofour
    low = ipaddress.IPv4Address(int(ip) & _LOW_32_BITS)
    if ip in _NAT64_WELL_KNOWN:
        return "NAT64", low
    if ip in _NAT64_LOCAL_USE:
        return "local-use NAT64", low
    if ip in _IPV4_COMPATIBLE and not (ip.is_unspecified or ip.is_loopback):
        return "IPv4-compatible", low
    return None


def _kind(ip: IPAddress) -> str | None:
    """An adjective for what ``ip`` is if it is not globally routable unicast, else ``None``.

    The IPv4-in-IPv6 forms are :func:`why_not_public`'s business, not this function's.
    """
    if ip.is_unspecified:
        return "unspecified"
    if ip.is_loopback:
        return "loopback"
    if ip.is_link_local:
        return "link-local"
    if ip.is_multicast:
        return "multicast"
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "site-local"
    for network, kind in _NAMED_RANGES:
        if ip in network:
            return kind
    if ip.is_reserved:
        return "reserved"
    if ip.is_private:
        return "private"
    if not ip.is_global:
        return "non-global"
    return None


def _article(word: str) -> str:
    return "an" if word.startswith(("IETF", "IPv4", "unspecified")) else "a"


def resolve_smtp_host(
    host: str, port: int, *, allow_private: bool, endpoint: str
) -> list[tuple[str, int]]:
    """Resolve ``host`` to the socket addresses to try, in the resolver's order.

    Parameters
    ----------
    host, port:
        The SMTP server.
    allow_private:
        Accept every address, not only the globally routable unicast ones
        (:func:`is_public_unicast`).
    endpoint:
        The redacted URI, for error messages.

    Raises
    ------
    ConfigError
        ``allow_private`` is false and the host resolves to an address that is not globally
        routable unicast; the message names the address and says why.
    SmtpConnectError
        The name does not resolve (transient: DNS can recover).

    Example
    -------
    >>> resolve_smtp_host("127.0.0.1", 2525, allow_private=True, endpoint="smtp://127.0.0.1:2525/")
    [('127.0.0.1', 2525)]
    """
    try:
        addresses = resolve_addresses(host, port)
    except OSError as exc:
        raise SmtpConnectError(
            f"cannot resolve {host} ({exc.strerror or exc})", endpoint=endpoint
        ) from exc
    refused = None if allow_private else first_not_public(addresses)
    if refused is not None:
        ip, reason = refused
        raise ConfigError(
            "connection_uri.host",
            "smtp_host_not_public",
            f"{host} resolves to {ip}, {reason}; courier only connects to globally "
            "routable unicast addresses unless the stack parameter "
            "AllowPrivateSmtpHosts is true (for local use and single-project stacks)",
        )
    return [(address, port) for address in addresses]


def resolve_addresses(host: str, port: int) -> list[str]:
    """The addresses ``host`` resolves to for a TCP connection, in the resolver's order.

    Raises
    ------
    OSError
        The name does not resolve.
    """
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in answers))


def first_not_public(addresses: list[str]) -> tuple[IPAddress, str] | None:
    """The first of ``addresses`` the guard refuses and why (:func:`why_not_public`), or
    ``None`` when every one is globally routable unicast.

    Example
    -------
    >>> first_not_public(["192.0.32.10", "10.0.0.7"])[0]
    IPv4Address('10.0.0.7')
    """
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 scope id is not the address
        reason = why_not_public(ip)
        if reason is not None:
            return ip, reason
    return None

"""The SSRF guard: only globally routable unicast SMTP hosts unless the stack allows others.

Hosts are IP literals (``socket.getaddrinfo`` answers them without DNS) or ``localhost``;
where a test needs a DNS answer, it replaces ``getaddrinfo``. No test leaves loopback.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from courier.errors import ConfigError
from courier.network import is_public_unicast, resolve_smtp_host, why_not_public

ENDPOINT = "smtp://mail.example.com:587/"

#: Every refused range, with a sample address and the reason the error gives.
REFUSED = [
    pytest.param("0.0.0.0", "an unspecified address", id="unspecified-v4"),  # noqa: S104
    pytest.param("::", "an unspecified address", id="unspecified-v6"),
    pytest.param("127.0.0.1", "a loopback address", id="loopback-v4"),
    pytest.param("127.255.0.9", "a loopback address", id="loopback-v4-not-first"),
    pytest.param("::1", "a loopback address", id="loopback-v6"),
    pytest.param("169.254.169.254", "a link-local address", id="link-local-v4-metadata"),
    pytest.param("fe80::1", "a link-local address", id="link-local-v6"),
    pytest.param("224.0.1.0", "a multicast address", id="multicast-v4-global-scope"),
    pytest.param("239.255.255.250", "a multicast address", id="multicast-v4-admin-scope"),
    pytest.param("ff0e::1", "a multicast address", id="multicast-v6-global-scope"),
    pytest.param("ff02::1", "a multicast address", id="multicast-v6-link-scope"),
    pytest.param("240.0.0.1", "a reserved address", id="reserved-v4"),
    pytest.param("255.255.255.255", "a reserved address", id="reserved-v4-broadcast"),
    pytest.param("4000::1", "a reserved address", id="reserved-v6"),
    pytest.param("100::1", "a reserved address", id="reserved-v6-discard"),
    pytest.param("10.1.2.3", "a private address", id="private-10"),
    pytest.param("172.16.0.9", "a private address", id="private-172.16"),
    pytest.param("172.31.255.254", "a private address", id="private-172.31"),
    pytest.param("192.168.1.1", "a private address", id="private-192.168"),
    pytest.param("100.64.0.1", "a shared (carrier-grade NAT) address", id="shared-first"),
    pytest.param("100.127.255.254", "a shared (carrier-grade NAT) address", id="shared-last"),
    pytest.param("192.0.0.8", "an IETF protocol assignment address", id="ietf-protocol"),
    pytest.param("198.18.0.1", "a benchmarking address", id="benchmarking-v4"),
    pytest.param("198.19.255.254", "a benchmarking address", id="benchmarking-v4-last"),
    pytest.param("2001:2::1", "a benchmarking address", id="benchmarking-v6"),
    pytest.param("192.0.2.1", "a documentation address", id="documentation-test-net-1"),
    pytest.param("198.51.100.1", "a documentation address", id="documentation-test-net-2"),
    pytest.param("203.0.113.1", "a documentation address", id="documentation-test-net-3"),
    pytest.param("2001:db8::1", "a documentation address", id="documentation-v6"),
    pytest.param("3fff::1", "a documentation address", id="documentation-v6-3fff"),
    pytest.param("fec0::1", "a site-local address", id="site-local"),
    pytest.param("fc00::1", "a unique local (ULA) address", id="ula-fc"),
    pytest.param("fd00:ec2::254", "a unique local (ULA) address", id="ula-metadata-v6"),
    pytest.param(
        "64:ff9b::a00:1",
        "a NAT64 address wrapping the private address 10.0.0.1",
        id="nat64-private",
    ),
    pytest.param(
        "64:ff9b::a9fe:a9fe",
        "a NAT64 address wrapping the link-local address 169.254.169.254",
        id="nat64-metadata",
    ),
    pytest.param(
        "64:ff9b:1::a00:1",
        "a local-use NAT64 address wrapping the private address 10.0.0.1",
        id="nat64-local-use-private",
    ),
    pytest.param(
        "2002:a00:1::1", "a 6to4 address wrapping the private address 10.0.0.1", id="6to4-private"
    ),
    pytest.param(
        "2002:7f00:1::1",
        "a 6to4 address wrapping the loopback address 127.0.0.1",
        id="6to4-loopback",
    ),
    pytest.param(
        "::10.0.0.1",
        "an IPv4-compatible address wrapping the private address 10.0.0.1",
        id="ipv4-compatible-private",
    ),
    pytest.param(
        "::ffff:10.0.0.1",
        "an IPv4-mapped address wrapping the private address 10.0.0.1",
        id="ipv4-mapped-private",
    ),
    pytest.param(
        "::ffff:169.254.169.254",
        "an IPv4-mapped address wrapping the link-local address 169.254.169.254",
        id="ipv4-mapped-metadata",
    ),
    pytest.param(
        # the client 10.0.0.1 is stored inverted: f5ff:fffe
        "2001:0:4136:e378:8000:63bf:f5ff:fffe",
        "a Teredo address wrapping the private address 10.0.0.1",
        id="teredo-private-client",
    ),
    # The transition forms are refused even around a public IPv4 address.
    pytest.param(
        "64:ff9b::808:808",
        "a NAT64 address wrapping the public address 8.8.8.8, refused all the same",
        id="nat64-public",
    ),
    pytest.param(
        "64:ff9b:1::808:808",
        "a local-use NAT64 address wrapping the public address 8.8.8.8, refused all the same",
        id="nat64-local-use-public",
    ),
    pytest.param(
        "2002:808:808::1",
        "a 6to4 address wrapping the public address 8.8.8.8, refused all the same",
        id="6to4-public",
    ),
    pytest.param(
        "::8.8.8.8",
        "an IPv4-compatible address wrapping the public address 8.8.8.8, refused all the same",
        id="ipv4-compatible-public",
    ),
    pytest.param(
        "::ffff:8.8.8.8",
        "an IPv4-mapped address wrapping the public address 8.8.8.8, refused all the same",
        id="ipv4-mapped-public",
    ),
    pytest.param(
        "2001:0:4136:e378:8000:63bf:f7f7:f7f7",
        "a Teredo address wrapping the public address 8.8.8.8, refused all the same",
        id="teredo-public-client",
    ),
]

#: Globally routable unicast addresses, including the neighbours of refused ranges.
PUBLIC = [
    pytest.param("192.0.32.10", id="v4"),
    pytest.param("34.102.136.180", id="v4-aws"),
    pytest.param("100.63.255.255", id="v4-below-shared"),
    pytest.param("100.128.0.0", id="v4-above-shared"),
    pytest.param("172.32.0.1", id="v4-above-172.16/12"),
    pytest.param("198.20.0.1", id="v4-above-benchmarking"),
    pytest.param("223.255.255.254", id="v4-below-multicast"),
    pytest.param("2606:4700::1111", id="v6"),
    pytest.param("2001:4860:4860::8888", id="v6-google"),
    pytest.param("2a05:d018::1", id="v6-aws"),
    pytest.param("2001:db9::1", id="v6-above-documentation"),
    pytest.param("2003::1", id="v6-above-6to4"),
]


def refusal(host: str, **kwargs: Any) -> ConfigError:
    """The error ``resolve_smtp_host`` raises for ``host`` with the guard on."""
    with pytest.raises(ConfigError) as caught:
        resolve_smtp_host(host, 587, allow_private=False, endpoint=ENDPOINT, **kwargs)
    return caught.value


@pytest.mark.parametrize(("address", "reason"), REFUSED)
def test_every_address_that_is_not_public_unicast_is_refused_with_its_reason(
    address: str, reason: str
) -> None:
    # GIVEN an SMTP host that is an address in a refused range
    ip = ipaddress.ip_address(address)

    # WHEN the guard resolves it
    error = refusal(address)

    # THEN it refuses on the host field, naming the address, the reason and the fix
    assert error.field == "connection_uri.host"
    assert error.code == "smtp_host_not_public"
    assert f"resolves to {ip}, {reason}" in error.message
    assert "AllowPrivateSmtpHosts is true" in error.message
    # AND the named rule agrees
    assert is_public_unicast(ip) is False
    assert (why_not_public(ip) or "").startswith(reason)


@pytest.mark.parametrize("address", PUBLIC)
def test_public_unicast_addresses_pass(address: str) -> None:
    # GIVEN an SMTP host that is a globally routable unicast address
    ip = ipaddress.ip_address(address)

    # WHEN the guard resolves it
    resolved = resolve_smtp_host(address, 465, allow_private=False, endpoint=ENDPOINT)

    # THEN it passes unchanged, and the named rule agrees
    assert [(ipaddress.ip_address(a), port) for a, port in resolved] == [(ip, 465)]
    assert is_public_unicast(ip) is True
    assert why_not_public(ip) is None


@pytest.mark.parametrize(
    ("address", "fix"),
    [
        pytest.param("64:ff9b::808:808", "turn DNS64 off", id="nat64"),
        pytest.param("::ffff:8.8.8.8", "name 8.8.8.8 itself", id="ipv4-mapped"),
    ],
)
def test_a_transition_form_around_a_public_address_says_what_to_do(address: str, fix: str) -> None:
    # WHEN an IPv4-in-IPv6 address around a public IPv4 address is refused
    error = refusal(address)

    # THEN the message says how to reach the public host instead
    assert fix in error.message


def test_the_host_name_is_refused_when_it_resolves_to_a_non_public_address() -> None:
    # WHEN a name that resolves to loopback is checked
    error = refusal("localhost")

    # THEN the message names the host and the address it resolves to
    assert error.message.startswith("localhost resolves to ")
    assert "a loopback address" in error.message


def test_one_non_public_answer_among_public_ones_refuses_the_host(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # GIVEN a name whose DNS answer mixes a public IPv4 address and a DNS64-made NAT64 address
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.32.10", port)),
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("64:ff9b::a00:1", port, 0, 0)),
        ]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    # WHEN the guard resolves it
    error = refusal("smtp.example.com")

    # THEN it refuses, naming the NAT64 answer
    assert "smtp.example.com resolves to 64:ff9b::a00:1, a NAT64 address" in error.message


def test_a_zone_id_is_ignored(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a resolver that returns a link-local address with its zone id, as macOS does
    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        return [(socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("fe80::1%eth0", port, 0, 2))]

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    # WHEN the guard resolves it
    error = refusal("smtp.example.com")

    # THEN the address without its zone id is judged, and refused as link-local
    assert "resolves to fe80::1, a link-local address" in error.message


@pytest.mark.parametrize("address", ["10.1.2.3", "64:ff9b::a00:1", "::ffff:127.0.0.1"])
def test_non_public_addresses_pass_when_allowed(address: str) -> None:
    # WHEN the stack allows private hosts
    resolved = resolve_smtp_host(address, 2525, allow_private=True, endpoint=ENDPOINT)

    # THEN the guard is off
    assert [(ipaddress.ip_address(a), port) for a, port in resolved] == [
        (ipaddress.ip_address(address), 2525)
    ]

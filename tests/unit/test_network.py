"""The SSRF guard: only public SMTP hosts unless the stack allows private ones."""

from __future__ import annotations

import pytest

from courier.errors import ConfigError
from courier.network import resolve_smtp_host

ENDPOINT = "smtp://mail.example.com:587/"


@pytest.mark.parametrize(
    "host",
    ["127.0.0.1", "localhost", "10.1.2.3", "172.16.0.9", "192.168.1.1", "169.254.169.254", "::1"],
)
def test_non_public_addresses_are_refused(host: str) -> None:
    with pytest.raises(ConfigError) as caught:
        resolve_smtp_host(host, 587, allow_private=False, endpoint=ENDPOINT)

    assert caught.value.field == "connection_uri.host"
    assert caught.value.code == "smtp_host_not_public"


def test_private_addresses_pass_when_allowed() -> None:
    assert resolve_smtp_host("10.1.2.3", 2525, allow_private=True, endpoint=ENDPOINT) == [
        ("10.1.2.3", 2525)
    ]


def test_public_addresses_pass() -> None:
    assert resolve_smtp_host("192.0.32.10", 465, allow_private=False, endpoint=ENDPOINT) == [
        ("192.0.32.10", 465)
    ]

"""One set of port numbers: the parser, the validator and the transport's hints use it."""

from __future__ import annotations

import pytest

from courier import ports, uri
from courier.ports import (
    BLOCKED_PORT,
    DEFAULT_PORTS,
    IMPLICIT_TLS_PORTS,
    STARTTLS_PORTS,
    port_list,
    scheme_ports_hint,
)
from courier.uri import ConnectionUri
from courier.validation import uri_checks
from courier.validation.uri_checks import check_uri


def test_the_lists_are_the_same_objects_wherever_they_are_imported_from() -> None:
    assert uri.DEFAULT_PORTS is ports.DEFAULT_PORTS
    assert uri.IMPLICIT_TLS_PORTS is uri_checks.IMPLICIT_TLS_PORTS is ports.IMPLICIT_TLS_PORTS
    assert uri.STARTTLS_PORTS is uri_checks.STARTTLS_PORTS is ports.STARTTLS_PORTS
    assert uri_checks.BLOCKED_PORT is ports.BLOCKED_PORT


def test_the_lists_do_not_overlap_and_the_defaults_follow_them() -> None:
    assert not IMPLICIT_TLS_PORTS & STARTTLS_PORTS
    assert DEFAULT_PORTS["smtps"] in IMPLICIT_TLS_PORTS
    assert DEFAULT_PORTS["smtp"] in STARTTLS_PORTS
    assert BLOCKED_PORT in STARTTLS_PORTS
    with pytest.raises(TypeError):
        DEFAULT_PORTS["smtp"] = 25  # type: ignore[index]


@pytest.mark.parametrize("scheme", sorted(DEFAULT_PORTS))
def test_a_uri_without_a_port_gets_the_schemes_default(scheme: str) -> None:
    assert ConnectionUri.parse(f"{scheme}://mx.example.com/").port == DEFAULT_PORTS[scheme]


def test_the_blocked_port_finding_names_the_port_and_the_default_of_each_scheme() -> None:
    _, findings = check_uri(f"smtp://192.0.32.10:{BLOCKED_PORT}/", allow_private_hosts=False)
    [blocked] = [finding for finding in findings if finding.code == "smtp_port_blocked"]
    assert f"port {BLOCKED_PORT} cannot be used" in blocked.message
    assert scheme_ports_hint() in blocked.message
    for scheme, port in DEFAULT_PORTS.items():
        assert f"port {port} with {scheme}://" in scheme_ports_hint()


@pytest.mark.parametrize(
    ("scheme", "port_set", "code"),
    [
        ("smtp", IMPLICIT_TLS_PORTS - {BLOCKED_PORT}, "smtp_on_implicit_tls_port"),
        ("smtps", STARTTLS_PORTS - {BLOCKED_PORT}, "smtps_on_starttls_port"),
    ],
)
def test_every_port_of_the_other_convention_is_warned_about(
    scheme: str, port_set: frozenset[int], code: str
) -> None:
    for port in sorted(port_set):
        _, findings = check_uri(f"{scheme}://192.0.32.10:{port}/", allow_private_hosts=False)
        assert code in [finding.code for finding in findings], port


def test_port_list_is_sorted() -> None:
    assert port_list({2465, 465}) == "465, 2465"
    assert port_list(STARTTLS_PORTS) == ", ".join(map(str, sorted(STARTTLS_PORTS)))

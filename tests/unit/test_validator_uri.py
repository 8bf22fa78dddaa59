"""What the validator says about a connection URI: parse errors, ports, TLS options, the host.

DNS is replaced by a table (``dns``), so these tests need no network: a name in the table
resolves to its address, any other name fails as on a machine without DNS.
"""

from __future__ import annotations

import ipaddress
import socket
from typing import Any

import pytest

from courier.validation import ValidationResponse
from tests.unit.test_validator import URI, codes, run

PUBLIC = "192.0.32.10"
NAMES = {
    "localhost": "127.0.0.1",
    "smtp.mailgun.org": "34.102.136.180",
    "internal.corp.example": "10.20.30.40",
}


@pytest.fixture(autouse=True)
def dns(monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    real = socket.getaddrinfo
    table = dict(NAMES)

    def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            ipaddress.ip_address(host)
        except ValueError:
            if host not in table:
                raise socket.gaierror(socket.EAI_NONAME, "Name or service not known") from None
            host = table[host]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return table


def check(uri: str, **settings: Any) -> ValidationResponse:
    """Validate acme with ``uri`` as its connection URI."""
    return run({"project_id": "acme", "replace": [f'{URI}="{uri}"']}, **settings)


def findings(response: ValidationResponse) -> dict[str, list[str]]:
    return {
        kind: [code for _, code in codes(response, kind)]
        for kind in ("errors", "warnings", "notes")
    }


@pytest.mark.parametrize(
    "uri",
    [
        f"smtp://user:secret@{PUBLIC}:587/",
        f"smtps://user:secret@{PUBLIC}:465/",
        f"smtp://{PUBLIC}:2525/",
        "smtp://postmaster%40mg.example.org:secret@smtp.mailgun.org:587/",
    ],
)
def test_sound_uris_are_valid_without_remarks(uri: str) -> None:
    assert findings(check(uri)) == {"errors": [], "warnings": [], "notes": []}


@pytest.mark.parametrize(
    ("uri", "code"),
    [
        ("smtp://u:p@host.example:notaport/", "uri_bad_port"),
        ("smtp://u:p@host.example:0/", "uri_bad_port"),
        ("http://host.example/", "uri_bad_scheme"),
        ("smtp://u:p@/", "uri_missing_host"),
        ("smtp://u:p@host.example/?legacy_ssl=true", "uri_legacy_ssl"),
        ("smtp://u:p@host.example/?skip_ssl_verify=yes", "uri_bad_boolean"),
        ("smtp://u:p@host.example/?tls=true", "uri_unknown_parameter"),
        ("smtp://u:p@ss@host.example/", "uri_password_unencoded"),
        ("smtp://user@host.example/", "uri_missing_password"),
        ("smtp://u:p@host.example/mail", "uri_path"),
        ("", "uri_empty"),
    ],
)
def test_what_the_uri_parser_rejects_is_an_error_on_the_uris_path(uri: str, code: str) -> None:
    # WHEN a URI the parser rejects is validated
    response = check(uri)

    # THEN the parser's error is reported on the URI's path, with its fix, and the URI is hidden
    assert codes(response) == [(URI, code)]
    assert response["errors"][0]["message"]
    assert response["config"] is not None
    assert response["config"]["smtp"]["connection_uri"].startswith("(hidden")


def test_uri_that_is_not_a_string() -> None:
    response = run({"project_id": "acme", "replace": [f"{URI}=587"]})

    assert codes(response) == [(URI, "uri_not_a_string")]


def test_port_25_is_an_error_that_suggests_587_or_465() -> None:
    # WHEN a URI on port 25 is validated
    response = check(f"smtp://user:secret@{PUBLIC}:25/")

    # THEN the error says Lambda cannot use it, and what to use instead
    assert codes(response) == [(URI, "smtp_port_blocked")]
    message = response["errors"][0]["message"]
    assert "AWS Lambda cannot open outbound connections on port 25" in message
    assert "587" in message
    assert "465" in message


@pytest.mark.parametrize("port", [465, 2465])
def test_smtp_on_an_implicit_tls_port_suggests_smtps(port: int) -> None:
    response = check(f"smtp://user:secret@{PUBLIC}:{port}/")

    assert findings(response) == {
        "errors": [],
        "warnings": ["smtp_on_implicit_tls_port"],
        "notes": [],
    }
    assert "did you mean smtps://?" in response["warnings"][0]["message"]


@pytest.mark.parametrize("port", [587, 2525, 2587])
def test_smtps_on_a_starttls_port_suggests_smtp(port: int) -> None:
    response = check(f"smtps://user:secret@{PUBLIC}:{port}/")

    assert findings(response)["warnings"] == ["smtps_on_starttls_port"]
    assert "did you mean smtp://?" in response["warnings"][0]["message"]


def test_smtps_on_port_25_is_blocked_first() -> None:
    # Port 25 cannot work at all; the scheme hint would only distract.
    assert findings(check(f"smtps://u:p@{PUBLIC}:25/"))["errors"] == ["smtp_port_blocked"]


@pytest.mark.parametrize(("scheme", "port"), [("smtp", 587), ("smtps", 465)])
def test_missing_port_notes_the_default(scheme: str, port: int) -> None:
    response = check(f"{scheme}://user:secret@{PUBLIC}")

    assert findings(response) == {"errors": [], "warnings": [], "notes": ["port_default"]}
    assert response["notes"][0]["message"] == f"no port given: {scheme}:// uses port {port}"


@pytest.mark.parametrize("scheme", ["smtp", "smtps"])
def test_skip_ssl_verify_is_a_warning(scheme: str) -> None:
    port = 587 if scheme == "smtp" else 465
    response = check(f"{scheme}://user:secret@{PUBLIC}:{port}/?skip_ssl_verify=true")

    assert findings(response)["warnings"] == ["tls_verification_disabled"]
    assert "server_name=" in response["warnings"][0]["message"]


def test_credentials_with_disable_starttls_travel_in_cleartext() -> None:
    response = check(f"smtp://user:secret@{PUBLIC}:587/?disable_starttls=true")

    assert findings(response) == {
        "errors": [],
        "warnings": ["credentials_in_cleartext"],
        "notes": [],
    }
    assert "cleartext" in response["warnings"][0]["message"]
    assert response["valid"] is True


def test_cleartext_without_credentials_still_warns_about_the_mail() -> None:
    response = check(f"smtp://{PUBLIC}:587/?disable_starttls=true")

    assert findings(response)["warnings"] == ["cleartext_session"]


@pytest.mark.parametrize(
    ("query", "scheme", "option"),
    [
        ("disable_starttls=true", "smtps", "disable_starttls"),
        ("disable_starttls=true&skip_ssl_verify=true", "smtp", "skip_ssl_verify"),
        ("disable_starttls=true&server_name=mx.example.com", "smtp", "server_name"),
    ],
)
def test_options_without_effect_are_warnings(query: str, scheme: str, option: str) -> None:
    port = 465 if scheme == "smtps" else 587
    response = check(f"{scheme}://{PUBLIC}:{port}/?{query}")

    without_effect = [
        warning["message"]
        for warning in response["warnings"]
        if warning["code"] == "option_without_effect"
    ]
    assert len(without_effect) == 1
    assert without_effect[0].startswith(f"{option} has no effect here")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "10.1.2.3", "169.254.169.254", "internal.corp.example"]
)
def test_private_hosts_are_errors_unless_the_stack_allows_them(host: str) -> None:
    # WHEN a URI whose host is private, loopback or link-local is validated
    refused = check(f"smtp://u:p@{host}:587/")
    allowed = check(f"smtp://u:p@{host}:587/", allow_private_hosts=True)

    # THEN it is an error naming the stack parameter, unless that parameter allows it
    assert codes(refused) == [(URI, "smtp_host_not_public")]
    assert "AllowPrivateSmtpHosts" in refused["errors"][0]["message"]
    assert allowed["errors"] == []


def test_unresolvable_host_is_a_warning_not_an_error() -> None:
    # WHEN a host that does not resolve here is validated
    response = check("smtp://u:p@smtp.postmarkapp.com:587/")

    # THEN it stays valid, with a warning that names the host
    assert response["valid"] is True
    assert findings(response)["warnings"] == ["smtp_host_unresolved"]
    assert "smtp.postmarkapp.com" in response["warnings"][0]["message"]

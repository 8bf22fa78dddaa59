"""Properties of the connection URI parser: any text in, a ConnectionUri or a ConfigError out,
and never the password in the error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from courier.errors import ConfigError
from courier.uri import ConnectionUri, Security
from tests.conftest import CredentialGuard
from tests.property.support import (
    ANY_CHAR,
    ANY_TEXT,
    PASSWORDS,
    TAILS,
    VALID_PARTS,
    SecretUri,
    escape_delimiters,
    guarded,
    secret_forms,
    secret_uris,
    shown_secrets,
    valid_uri_text,
)


def parse(text: str) -> ConnectionUri | ConfigError:
    """The URI, or the ConfigError; any other exception fails the test."""
    try:
        return ConnectionUri.parse(text)
    except ConfigError as exc:
        return exc


def shown_password(uri: SecretUri) -> tuple[str, list[tuple[str, str]]]:
    """The error code (or ``"parsed"``) of ``uri``, and the forms of its password that its
    error, or the parsed URI's ``str()``, ``repr()`` and redacted form, show."""
    outcome = parse(uri.text)
    if isinstance(outcome, ConfigError):
        return outcome.code, shown_secrets(outcome, uri.secrets())
    if outcome.password is None:
        return "parsed", []
    secrets = secret_forms(outcome.password, outcome.password, inputs=[uri.text])
    texts = (str(outcome), repr(outcome), outcome.redacted())
    return "parsed", [(secret, text) for secret in secrets for text in texts if secret in text]


@given(text=st.one_of(ANY_TEXT, st.builds(lambda a, b: a + "://" + b, ANY_TEXT, ANY_TEXT)))
def test_any_text_is_a_uri_or_a_config_error(credential_guard: CredentialGuard, text: str) -> None:
    with guarded(credential_guard, inputs=[text]):
        parse(text)


@given(uri=st.one_of(secret_uris(), secret_uris(scheme="wrong")))
def test_near_valid_uris_are_a_uri_or_a_config_error(
    credential_guard: CredentialGuard, uri: SecretUri
) -> None:
    with guarded(credential_guard, inputs=[uri.text]):
        outcome = parse(uri.text)
    if isinstance(outcome, ConfigError):
        assert outcome.field.startswith("connection_uri")
        assert outcome.code.startswith("uri_")


@given(parts=VALID_PARTS)
def test_valid_uris_parse_to_their_parts(
    credential_guard: CredentialGuard, parts: dict[str, Any]
) -> None:
    text = valid_uri_text(parts)
    with guarded(credential_guard, inputs=[text]):
        uri = ConnectionUri.parse(text)
    assert (uri.scheme, uri.host, uri.username) == (parts["scheme"], parts["host"], parts["user"])
    assert uri.password == (parts["password"] if parts["user"] is not None else None)
    assert uri.port == (parts["port"] or {"smtp": 587, "smtps": 465}[parts["scheme"]])
    assert uri.port_is_default is (parts["port"] is None)
    assert uri.skip_ssl_verify is bool(parts["skip_ssl_verify"])
    assert uri.server_name == parts["server_name"]
    if parts["scheme"] == "smtps":
        assert uri.security is Security.IMPLICIT_TLS
    else:
        cleartext = bool(parts["disable_starttls"])
        assert uri.security is (Security.CLEARTEXT if cleartext else Security.STARTTLS)
    # The redacted form parses back to the same URI, but for the password.
    again = ConnectionUri.parse(uri.redacted())
    assert (again.scheme, again.host, again.port, again.username) == (
        uri.scheme,
        uri.host,
        uri.port,
        uri.username,
    )
    assert again.password == ("***" if uri.password else None)
    assert (again.security, again.server_name) == (uri.security, uri.server_name)
    secrets = secret_forms(parts["password"], parts["password"], inputs=[text])
    if parts["user"] is not None:
        for shown in (str(uri), repr(uri), uri.redacted()):
            assert not [secret for secret in secrets if secret in shown], shown


@given(uri=secret_uris())
def test_no_error_shows_the_password(credential_guard: CredentialGuard, uri: SecretUri) -> None:
    with guarded(credential_guard, inputs=[uri.text]):
        code, shown = shown_password(uri)
    assert not shown, f"{code} ({uri.layout}) shows {shown}"


@given(
    password=st.from_regex(r"[A-Za-z0-9._~-]{4,16}", fullmatch=True),
    bad=st.sampled_from(["%FF", "%C3", "%ED%A0%80", "%80", "%C3%28"]),
    at=st.integers(0, 16),
)
@example(password="hunter2-secret", bad="%FF", at=14)
def test_an_undecodable_password_leaves_no_trace_in_the_error(
    credential_guard: CredentialGuard, password: str, bad: str, at: int
) -> None:
    written = password[:at] + bad + password[at:]
    text = f"smtp://mailer:{written}@smtp.example.com/"
    uri = SecretUri(text, password, written, "user-password")
    with guarded(credential_guard, inputs=[text]):
        code, shown = shown_password(uri)
    assert code == "uri_password_encoding", f"{text!r}: {code}"
    assert not shown, f"{code} shows {shown}"


@given(uri=secret_uris(scheme="wrong"))
@example(uri=SecretUri("mailer:s3cret-pw@smtp://host", "s3cret-pw", "s3cret-pw", "before"))
def test_no_error_shows_the_password_when_the_scheme_is_wrong(
    credential_guard: CredentialGuard, uri: SecretUri
) -> None:
    with guarded(credential_guard, inputs=[uri.text]):
        code, shown = shown_password(uri)
    assert not shown, f"{code} ({uri.layout}) shows {shown}"


@given(password=PASSWORDS, tail=TAILS, scheme=st.sampled_from(["smtp", "smtps"]))
def test_a_password_with_raw_delimiters_is_never_guessed(
    credential_guard: CredentialGuard, password: str, tail: str, scheme: str
) -> None:
    """A raw delimiter in the password is an error (uri_password_unencoded), not a URI that
    means something else."""
    text = f"{scheme}://mailer:{password}@smtp.example.com{tail}"
    with guarded(credential_guard, inputs=[text]):
        outcome = parse(text)
    if any(char in password for char in "@/#?:") and isinstance(outcome, ConnectionUri):
        pytest.fail(f"{text!r} parsed as {outcome!r}")


def _utf8(text: str | None) -> None:
    if text is not None:
        text.encode("utf-8")


@given(
    raw=st.one_of(
        secret_uris().map(lambda uri: uri.text),
        st.builds(
            lambda user, password: f"smtp://{user}:{password}@smtp.example.com/",
            st.text(ANY_CHAR, min_size=1, max_size=8).map(escape_delimiters),
            st.text(ANY_CHAR, min_size=1, max_size=8).map(escape_delimiters),
        ),
        ANY_TEXT,
    )
)
@example(raw="smtp://u\ud800:pw@smtp.example.com/")
def test_a_parsed_uri_can_always_be_shown_and_sent(
    credential_guard: CredentialGuard, raw: str
) -> None:
    with guarded(credential_guard, inputs=[raw]):
        outcome = parse(raw)
    if isinstance(outcome, ConnectionUri):
        str(outcome), repr(outcome), outcome.redacted()
        for part in (outcome.username, outcome.password, outcome.host, outcome.server_name):
            _utf8(part)

"""The credential guard of tests/conftest.py catches a courier error that holds a credential."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from courier.errors import ConfigError, SmtpAuthError
from courier.uri import ConnectionUri
from local.smtpd import SmtpServer
from tests.conftest import (
    CredentialGuard,
    credential_pattern,
    exception_chain,
    find_credential_leaks,
)

PASSWORD = "hunter2-canary"
ENDPOINT = "smtp://acme-mailer:***@mail.example.com:587/"


def test_an_error_quoting_a_parsed_password_fails_the_test(
    credential_guard: CredentialGuard, request: pytest.FixtureRequest
) -> None:
    # GIVEN a connection URI with a password, parsed during the test
    ConnectionUri.parse(f"smtp://acme-mailer:{PASSWORD}@mail.example.com/")

    # WHEN an error quoting the password is built (not even raised)
    ConfigError("connection_uri", "uri_bad", f"the password {PASSWORD} is wrong")

    # THEN the check the guard runs at teardown fails the test, naming the test, the error,
    # the credential and its length
    try:
        with pytest.raises(pytest.fail.Exception) as caught:
            credential_guard.check(request.node.nodeid)
    finally:
        credential_guard.forget()  # or this test fails at teardown, as it should
    message = str(caught.value)
    assert request.node.nodeid in message
    assert "ConfigError built at tests/unit/test_credential_guard.py:" in message
    assert f"holds the password {PASSWORD!r} (14 chars)" in message


def test_the_guard_records_the_credentials_of_uris_and_servers(
    credential_guard: CredentialGuard,
) -> None:
    # GIVEN a URI that parses, a URI that does not (its port is not a number), and a server
    ConnectionUri.parse("smtp://acme-mailer:p%C3%A4ss-w%C3%B6rd@mail.example.com/")
    with pytest.raises(ConfigError):
        ConnectionUri.parse("smtp://other-user:bad-uri-pass@mail.example.com:x/")
    server = SmtpServer(listener="plain", username="srv-user", password="srv-pass-4242")
    server.stop()  # never started: frees its event loop

    # THEN their passwords (decoded) and users (but ordinary words) are in play, and the
    # error the bad URI raised holds none of them
    assert {"päss-wörd", "bad-uri-pass", "srv-pass-4242"} <= credential_guard.passwords
    assert {"acme-mailer", "other-user", "srv-user"} <= credential_guard.users
    assert "user" not in credential_guard.users
    assert credential_guard.leaks() == []


def test_a_credential_in_the_cause_or_context_chain_is_found() -> None:
    # GIVEN an AUTH error raised from an encoding error (which quotes the whole password),
    # while handling another error
    password = "pässwörd-ü€"
    try:
        try:
            raise RuntimeError("the first failure")
        except RuntimeError:
            try:
                password.encode("ascii")
            except UnicodeEncodeError as exc:
                raise SmtpAuthError("cannot log in", endpoint=ENDPOINT) from exc
    except SmtpAuthError as error:
        caught = error

    # WHEN the guard looks at it
    leaks = find_credential_leaks([(caught, "here")], [password])

    # THEN it finds the password in the repr of the cause, and nowhere else
    assert [(leak.path, leak.renderings) for leak in leaks] == [("__cause__", "repr()")]
    assert type(leaks[0].culprit) is UnicodeEncodeError
    paths = [path for path, _ in exception_chain(caught)]
    assert paths == ["", "__cause__", "__cause__.__context__"]  # the context is the cause


def test_a_context_suppressed_by_from_none_is_still_walked() -> None:
    # GIVEN an error raised "from None" while handling one that quotes the password
    try:
        try:
            raise ValueError(f"bad value {PASSWORD}")
        except ValueError:
            raise ConfigError("x", "bad", "is bad") from None
    except ConfigError as error:
        caught = error

    # WHEN the guard looks at it
    [leak] = find_credential_leaks([(caught, "here")], [PASSWORD])

    # THEN the hidden context is found: it is still attached to the error
    assert (leak.path, leak.renderings) == ("__context__(suppressed)", "str() and repr()")


def test_a_chain_that_loops_is_walked_once() -> None:
    # GIVEN two errors that are each other's context
    first = SmtpAuthError("first", endpoint=ENDPOINT)
    second = SmtpAuthError(f"second {PASSWORD}", endpoint=ENDPOINT)
    first.__context__, second.__context__ = second, first

    # WHEN the guard walks the chain
    chain = list(exception_chain(first))
    leaks = find_credential_leaks([(first, "here")], [PASSWORD])

    # THEN each error is seen once, and the password found in the second
    assert [error for _, error in chain] == [first, second]
    assert {leak.culprit for leak in leaks} == {second}


@pytest.mark.parametrize(
    ("text", "found"),
    [
        ("smtp://user:secret@host/", True),
        ("password 'secret' refused", True),
        ("secret", True),
        ("ask the secretary", False),
        ("top-secrets", False),
        ("SMTP AUTH failed at smtp://user:***@127.0.0.1:2525/", False),
    ],
)
def test_the_default_test_password_is_looked_for_as_a_word(text: str, found: bool) -> None:
    # "secret" (the test servers' password) inside another word is no leak
    assert bool(credential_pattern("secret").search(text)) is found


@pytest.mark.parametrize(
    "text",
    [
        "smtp://u:p%C3%A4ss-w%C3%B6rd@host/",  # as in the URI
        "b'\\x00u\\x00p\\xc3\\xa4ss-w\\xc3\\xb6rd'",  # in a bytes repr
        "UnicodeEncodeError('ascii', 'päss-wörd', 1, 2, 'ordinal not in range(128)')",
    ],
)
def test_a_non_ascii_password_is_found_in_each_form(text: str) -> None:
    assert credential_pattern("päss-wörd").search(text)


def test_short_credentials_and_users_in_redacted_uris_are_no_leak() -> None:
    # GIVEN errors quoting a short password, and showing a user in a redacted URI
    errors = [
        (ConfigError("x", "bad", "the password p@ss5 is wrong"), "here"),
        (SmtpAuthError("535 denied", endpoint=ENDPOINT), "here"),
    ]

    # WHEN the guard looks for them
    leaks = find_credential_leaks(errors, ["p@ss5"], ["acme-mailer"])

    # THEN neither counts
    assert leaks == []

    # BUT the same user outside a redacted URI does
    raw = ConfigError("x", "bad", "smtp://acme-mailer:pw@mail.example.com/ is bad")
    [leak] = find_credential_leaks([(raw, "here")], ["pw"], ["acme-mailer"])
    assert (leak.kind, leak.credential) == ("user", "acme-mailer")


def test_a_test_whose_error_holds_a_credential_fails_at_teardown(
    pytester: pytest.Pytester, credential_guard: CredentialGuard
) -> None:
    # GIVEN a test session with the guard, a test that leaks and one that does not
    pytester.makeconftest(
        "from tests.conftest import credential_guard, running_smtp_servers  # noqa: F401\n"
    )
    pytester.makepyfile(
        test_inner=f"""
        from courier.errors import ConfigError, SmtpAuthError
        from courier.uri import ConnectionUri

        def test_leaks():
            uri = ConnectionUri.parse("smtp://acme:{PASSWORD}@mail.example.com/")
            try:
                raise ValueError(f"cannot use {{uri.password}}")
            except ValueError as exc:
                try:
                    raise SmtpAuthError("denied", endpoint=str(uri)) from exc
                except SmtpAuthError:
                    pass

        def test_hides():
            uri = ConnectionUri.parse("smtp://acme:{PASSWORD}@mail.example.com/")
            ConfigError("connection_uri", "bad", f"{{uri}} is bad")
        """
    )

    # WHEN it runs
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider")
    credential_guard.forget()  # the inner tests' errors were recorded here too

    # THEN the leaking test errors at teardown, naming the error and where it was built
    result.assert_outcomes(passed=2, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*ERROR at teardown of test_leaks*",
            "*test_inner.py::test_leaks: 1 credential(s) in courier errors:",
            "*SmtpAuthError built at *test_inner.py:* (test_leaks): the str() and repr() of "
            f"its __cause__ (ValueError) holds the password '{PASSWORD}' (14 chars)*",
        ]
    )


@pytest.fixture(scope="module")
def module_server() -> Iterator[SmtpServer]:
    server = SmtpServer(listener="plain", password="module-pass-77")
    yield server
    server.stop()


def test_a_server_started_before_the_test_is_in_play(
    module_server: SmtpServer, credential_guard: CredentialGuard
) -> None:
    # GIVEN a server a module-scoped fixture built before this test's guard started
    # THEN its password is in play all the same
    assert module_server.password in credential_guard.passwords

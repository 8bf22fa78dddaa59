"""OAuth 2.0 token login (``auth=xoauth2``, ``auth=oauthbearer``) against real servers over
real TLS: aiosmtpd checking the token as Google and Microsoft do, and a scripted server that
echoes the AUTH command back."""

from __future__ import annotations

import base64
import logging
import secrets
import ssl
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote

import pytest
import trustme

from courier.errors import (
    ConfigError,
    CourierError,
    SmtpAuthError,
    SmtpError,
    SmtpProtocolError,
    SmtpTlsError,
    Step,
    TokenUnavailableError,
)
from courier.smtp_client import BoundedSMTP
from courier.transport import Transport
from courier.uri import ConnectionUri
from local.smtpd import Listener, OAuthRefusal, SmtpServer
from tests.conftest import (
    CERTIFICATE_NAMES,
    CredentialGuard,
    StartScripted,
    StartServer,
    exception_chain,
)
from tests.faults.scripted_smtpd import Action, Event, Reply

SENDER = "no-reply@example.com"
RECIPIENT = "ada@example.org"
MAILBOX = "courier-sender@example.com"
MECHANISMS = ("xoauth2", "oauthbearer")
TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}
CHALLENGE_ANSWERS = {"xoauth2": b"", "oauthbearer": b"\x01"}
"""What the client must answer to the error challenge (RFC 7628 §3.2.3; Google's XOAUTH2)."""


def new_token() -> str:
    """An access token as long as a real one (Google's and Microsoft's run to 1-2 KB)."""
    return "ya29." + secrets.token_urlsafe(1200)


def make_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "Your recovery code"
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content("Your code is 123456.\n")
    return message


@dataclass
class FakeTokenSource:
    """A :data:`~courier.transport.TokenSource`: ``current`` from the cache, ``fresh`` when
    asked for a new one; or it raises ``error``, at the call ``raise_on`` (``None``: never)."""

    current: str = field(default_factory=new_token)
    fresh: str = field(default_factory=new_token)
    error: CourierError | None = None
    raise_on: bool | None = None
    calls: list[bool] = field(default_factory=list)

    def __call__(self, refresh: bool) -> str:
        self.calls.append(refresh)
        if self.error is not None and refresh is self.raise_on:
            raise self.error
        return self.fresh if refresh else self.current

    @property
    def tokens(self) -> tuple[str, str]:
        return self.current, self.fresh


@dataclass
class Heard:
    """What an ``on_reply`` listener was told."""

    replies: list[tuple[Step, int, str]] = field(default_factory=list)

    def __call__(self, step: Step, code: int, text: str) -> None:
        self.replies.append((step, code, text))

    @property
    def auth(self) -> list[int]:
        return [code for step, code, _ in self.replies if step is Step.AUTH]


StartTokenServer = Callable[..., SmtpServer]


@pytest.fixture
def start_token_smtpd(
    ca: trustme.CA, trust_test_ca: None, credential_guard: CredentialGuard
) -> Iterator[StartTokenServer]:
    """Start aiosmtpd servers that take OAuth 2.0 tokens: ``start(tokens={mailbox: token},
    listener=..., **SmtpServer options)``; each token is a credential the guard looks for."""
    servers: list[SmtpServer] = []

    def start(
        *, tokens: dict[str, str], listener: Listener = "starttls", **options: Any
    ) -> SmtpServer:
        for token in tokens.values():
            credential_guard.add_password(token)
        certificate = ca.issue_cert(*CERTIFICATE_NAMES)
        server = SmtpServer(
            listener=listener, certificate=certificate, oauth_tokens=tokens, **options
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


def token_transport(
    port: int,
    mechanism: str,
    source: FakeTokenSource | None,
    *,
    scheme: str = "smtp",
    query: str = "",
    heard: Heard | None = None,
    guard: CredentialGuard | None = None,
) -> Transport:
    if guard is not None and source is not None:
        for token in source.tokens:
            guard.add_password(token)
    uri = ConnectionUri.parse(
        f"{scheme}://{quote(MAILBOX, safe='')}@127.0.0.1:{port}/?auth={mechanism}{query}"
    )
    return Transport(uri, timeout=5, allow_private_hosts=True, token_source=source, on_reply=heard)


def deliver(transport: Transport) -> None:
    with transport:
        transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)


def fail(transport: Transport) -> BaseException:
    with pytest.raises(CourierError) as caught:
        transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)
    transport.close()
    return caught.value


def record_connections(monkeypatch: pytest.MonkeyPatch) -> list[BoundedSMTP]:
    """Every connection the transports make from now on."""
    made: list[BoundedSMTP] = []
    new_connection = Transport._new_connection

    def recording(transport: Transport) -> BoundedSMTP:
        connection = new_connection(transport)
        made.append(connection)
        return connection

    monkeypatch.setattr(Transport, "_new_connection", recording)
    return made


# No token anywhere: in any form a text could hold it.


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def token_forms(token: str) -> set[str]:
    """``token``; its base64; the whole AUTH responses of both mechanisms in base64; and the
    token's base64 at each alignment it can have inside a longer base64 text, less a few
    characters at each end (which depend on its neighbours)."""
    raw = token.encode()
    xoauth2 = f"user={MAILBOX}\x01auth=Bearer {token}\x01\x01"
    oauthbearer = f"n,a={MAILBOX},\x01host=127.0.0.1\x01port=1\x01auth=Bearer {token}\x01\x01"
    forms = {token, _b64(raw), _b64(xoauth2.encode()), _b64(oauthbearer.encode())}
    forms |= {_b64(b"\0" * offset + raw)[4:-4] for offset in range(3)}
    return forms


def texts_of(error: BaseException) -> Iterator[tuple[str, str]]:
    """Every text of ``error`` and its chain: str(), repr(), and an SmtpError's parts."""
    for path, linked in exception_chain(error):
        yield f"str({path or 'error'})", str(linked)
        yield f"repr({path or 'error'})", repr(linked)
        if isinstance(linked, SmtpError):
            yield f"{path or 'error'}.reply", linked.reply
            yield f"{path or 'error'}.hint", linked.hint or ""


def log_texts(caplog: pytest.LogCaptureFixture) -> Iterator[tuple[str, str]]:
    for record in caplog.records:
        yield f"log {record.name}", record.getMessage()
        if record.exc_text:
            yield f"log {record.name} traceback", record.exc_text


def assert_no_token(tokens: Iterable[str], texts: Iterable[tuple[str, str]]) -> None:
    forms = {form for token in tokens for form in token_forms(token)}
    for where, text in texts:
        shown = [form[:12] for form in forms if form in text]
        assert not shown, f"{where} holds a token (forms starting {shown}): {text[:300]}"


# Delivery.


@pytest.mark.parametrize("listener", ["starttls", "smtps"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_token_login_delivers(
    start_token_smtpd: StartTokenServer,
    credential_guard: CredentialGuard,
    mechanism: str,
    listener: str,
) -> None:
    # GIVEN a server that takes the current token for the mailbox
    source = FakeTokenSource()
    server = start_token_smtpd(listener=listener, tokens={MAILBOX: source.current})
    heard = Heard()
    scheme = "smtps" if listener == "smtps" else "smtp"
    transport = token_transport(
        server.port, mechanism, source, scheme=scheme, heard=heard, guard=credential_guard
    )

    # WHEN one mail is sent
    deliver(transport)

    # THEN it arrived over TLS, logged in with the mechanism as the mailbox, with the cached
    # token only; the listener heard AUTH's 235 (and no token)
    [received] = server.messages
    assert (received.mail_from, received.rcpt_tos) == (SENDER, (RECIPIENT,))
    assert (received.auth_mechanism, received.auth_login) == (mechanism.upper(), MAILBOX)
    assert received.tls_version in TLS_VERSIONS
    [session] = server.client_sessions
    assert [tls for verb, tls in session.commands if verb == "AUTH"] == [received.tls_version]
    [attempt] = session.token_attempts
    assert (attempt.mechanism, attempt.mailbox, attempt.accepted) == (
        mechanism.upper(),
        MAILBOX,
        True,
    )
    if mechanism == "oauthbearer":  # RFC 7628's host and port, which XOAUTH2 does not send
        assert (attempt.host, attempt.port) == ("127.0.0.1", str(server.port))
    assert source.calls == [False]
    assert heard.auth == [235]
    assert_no_token(source.tokens, ((f"on_reply {r[0]}", r[2]) for r in heard.replies))


@pytest.mark.parametrize("refusal", ["google", "microsoft"])
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_rotated_token_is_refreshed_once(
    start_token_smtpd: StartTokenServer,
    credential_guard: CredentialGuard,
    mechanism: str,
    refusal: OAuthRefusal,
) -> None:
    # GIVEN a server that takes only the new token, and a source whose cached one is stale
    source = FakeTokenSource()
    server = start_token_smtpd(tokens={MAILBOX: source.fresh}, oauth_refusal=refusal)
    heard = Heard()
    transport = token_transport(server.port, mechanism, source, heard=heard, guard=credential_guard)

    # WHEN one mail is sent
    deliver(transport)

    # THEN the first AUTH was refused (its challenge answered as the mechanism says), a new
    # token was asked for once, the second AUTH passed, and the mail arrived
    assert source.calls == [False, True]
    [session] = server.client_sessions
    assert session.verbs.count("AUTH") == 2
    refused, accepted = session.token_attempts
    assert (refused.accepted, accepted.accepted) == (False, True)
    expected_answer = CHALLENGE_ANSWERS[mechanism] if refusal == "google" else None
    assert refused.challenge_answer == expected_answer
    [received] = server.messages
    assert (received.auth_mechanism, received.auth_login) == (mechanism.upper(), MAILBOX)
    # Only the reply that moved the session on is heard, as for a password.
    assert heard.auth == [235]


@pytest.mark.parametrize(
    ("refusal", "status", "said"),
    [
        ("google", "5.7.8", "status 401, schemes bearer, scope https://mail.google.com/"),
        ("microsoft", "5.7.3", None),
    ],
)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_token_refused_twice_is_an_auth_error_that_shows_neither(
    start_token_smtpd: StartTokenServer,
    credential_guard: CredentialGuard,
    caplog: pytest.LogCaptureFixture,
    mechanism: str,
    refusal: OAuthRefusal,
    status: str,
    said: str | None,
) -> None:
    caplog.set_level(logging.DEBUG)
    # GIVEN a server that takes neither the cached token nor the new one (the app lost consent)
    source = FakeTokenSource()
    server = start_token_smtpd(tokens={MAILBOX: new_token()}, oauth_refusal=refusal)
    heard = Heard()
    transport = token_transport(server.port, mechanism, source, heard=heard, guard=credential_guard)

    # WHEN a mail is sent
    error = fail(transport)

    # THEN AUTH fails with the server's reply (and what its challenge said), a hint of what to
    # check, after exactly one new token; nothing was sent
    assert isinstance(error, SmtpAuthError)
    assert (error.step, error.code, error.enhanced_status) == (Step.AUTH, 535, status)
    assert error.maybe_accepted is False
    if said is not None:
        assert f"(the server said: {said})" in error.reply
    else:
        assert "the server said" not in error.reply
    assert error.hint is not None
    assert all(word in error.hint for word in ("permission", "mailbox", "scope", "…/smtp/oauth2"))
    assert source.calls == [False, True]
    [session] = server.client_sessions
    assert session.verbs.count("AUTH") == 2
    assert "MAIL" not in session.verbs
    assert server.messages == []
    assert heard.auth == []
    # AND neither token, nor any base64 of it, is in the error, its chain, or any log line
    assert_no_token(source.tokens, texts_of(error))
    assert_no_token(source.tokens, log_texts(caplog))


@pytest.mark.parametrize(
    "error",
    [
        ConfigError("smtp.oauth2", "oauth_client_refused", "the token endpoint refused the app"),
        TokenUnavailableError("the token endpoint login.example.com answered 503"),
    ],
    ids=["config-error", "token-unavailable"],
)
@pytest.mark.parametrize("raise_on", [False, True], ids=["cached", "refresh"])
def test_a_failing_token_source_is_raised_as_it_is(
    start_token_smtpd: StartTokenServer,
    monkeypatch: pytest.MonkeyPatch,
    error: CourierError,
    raise_on: bool,
) -> None:
    # GIVEN a token source that raises (for the cached token, or for a new one after the
    # server refused the cached one)
    source = FakeTokenSource(error=error, raise_on=raise_on)
    server = start_token_smtpd(tokens={MAILBOX: new_token()})
    connections = record_connections(monkeypatch)
    transport = token_transport(server.port, "xoauth2", source)

    # WHEN the session opens
    with pytest.raises(CourierError) as caught:
        transport.open()

    # THEN the source's own error comes out; no (further) AUTH was sent, nor anything after
    # it, and the connection is closed
    assert caught.value is error
    assert source.calls == ([False, True] if raise_on else [False])
    [session] = server.client_sessions
    assert session.verbs == ["EHLO", "STARTTLS", "EHLO"] + ["AUTH"] * raise_on
    assert not transport.is_open
    assert [connection.sock for connection in connections] == [None]


# What the server offers, and TLS.


def test_a_server_without_token_login_fails_at_auth_naming_what_it_offers(
    start_smtpd: StartServer,
) -> None:
    # GIVEN a server that offers only password logins
    server = start_smtpd(listener="starttls")
    source = FakeTokenSource()

    # WHEN a token login is asked of it
    error = fail(token_transport(server.port, "xoauth2", source))

    # THEN AUTH fails before any token was asked for or sent, naming what the server offers
    assert isinstance(error, SmtpAuthError)
    assert error.code is None
    assert error.reply == "the server offers AUTH LOGIN PLAIN, not XOAUTH2 (auth=xoauth2)"
    assert error.hint is not None
    assert "remove auth=" in error.hint
    assert source.calls == []
    assert all("AUTH" not in session.verbs for session in server.sessions)


def test_a_server_with_the_other_mechanism_suggests_it(
    start_token_smtpd: StartTokenServer,
) -> None:
    # GIVEN a server that takes tokens by XOAUTH2 only (as Microsoft 365 does)
    source = FakeTokenSource()
    server = start_token_smtpd(tokens={MAILBOX: source.current}, oauth_mechanisms=["XOAUTH2"])

    # WHEN the URI asks for OAUTHBEARER
    error = fail(token_transport(server.port, "oauthbearer", source))

    # THEN AUTH fails naming what is offered, and the hint names the URI's fix
    assert isinstance(error, SmtpAuthError)
    assert "offers AUTH LOGIN PLAIN XOAUTH2, not OAUTHBEARER" in error.reply
    assert error.hint == "Use auth=xoauth2 in the connection URI, which this server offers"
    assert source.calls == []


def test_disable_starttls_sends_the_token_in_cleartext_as_it_would_a_password(
    start_token_smtpd: StartTokenServer,
) -> None:
    # GIVEN a server without TLS that offers AUTH in cleartext (mode 3, chosen on purpose)
    source = FakeTokenSource()
    server = start_token_smtpd(listener="plain", tokens={MAILBOX: source.current})

    # WHEN a token login goes with disable_starttls=true
    deliver(token_transport(server.port, "xoauth2", source, query="&disable_starttls=true"))

    # THEN AUTH went in cleartext, as a password's would have: the rule is the same
    [received] = server.messages
    assert (received.auth_mechanism, received.tls_version) == ("XOAUTH2", None)


def test_disable_starttls_against_a_server_that_takes_auth_only_over_tls(
    start_token_smtpd: StartTokenServer,
) -> None:
    # GIVEN a server that offers AUTH only after STARTTLS
    source = FakeTokenSource()
    server = start_token_smtpd(tokens={MAILBOX: source.current})

    # WHEN a cleartext session asks for a token login
    error = fail(token_transport(server.port, "xoauth2", source, query="&disable_starttls=true"))

    # THEN AUTH fails (the server offers none), and no token was asked for
    assert isinstance(error, SmtpAuthError)
    assert error.reply.startswith("the server offers no AUTH, not XOAUTH2")
    assert source.calls == []


def test_a_token_is_never_sent_before_tls_even_if_starttls_were_skipped(
    start_token_smtpd: StartTokenServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bug that skips STARTTLS, against a server that would take a token in cleartext
    source = FakeTokenSource()
    server = start_token_smtpd(listener="plain", tokens={MAILBOX: source.current})
    monkeypatch.setattr(Transport, "_starttls", lambda self, connection: None)

    # WHEN mode 1 opens with a token login
    error = fail(token_transport(server.port, "xoauth2", source))

    # THEN the last guard refuses to AUTH in cleartext, before any token was asked for
    assert isinstance(error, SmtpTlsError)
    assert "refusing to AUTH before TLS" in str(error)
    assert source.calls == []
    assert all("AUTH" not in session.verbs for session in server.sessions)


def test_a_uri_with_auth_needs_a_token_source() -> None:
    # GIVEN a URI that asks for a token login
    uri = ConnectionUri.parse(f"smtps://{quote(MAILBOX, safe='')}@smtp.gmail.com/?auth=xoauth2")

    # WHEN a transport is built without a token source
    with pytest.raises(ConfigError) as caught:
        Transport(uri, timeout=5)

    # THEN the error names the token settings' SecureString and the fix
    assert (caught.value.field, caught.value.code) == ("smtp.oauth2", "oauth2_settings_missing")
    assert "…/smtp/oauth2" in caught.value.message
    assert "remove auth=" in caught.value.message


@pytest.mark.parametrize(
    "token",
    ["", "two words", "ya29.ok\r\nMAIL FROM:<x@example.com>", "ya29.ok\x01auth=Bearer"],
    ids=["empty", "space", "crlf", "sasl-separator"],
)
def test_a_token_that_is_not_a_bearer_token_is_never_sent(
    start_token_smtpd: StartTokenServer, token: str
) -> None:
    # GIVEN a token source that gives something that is not an RFC 6750 token
    source = FakeTokenSource(current=token)
    server = start_token_smtpd(tokens={MAILBOX: new_token()})

    # WHEN the session opens
    error = fail(token_transport(server.port, "oauthbearer", source))

    # THEN it is refused before AUTH, without quoting it
    assert isinstance(error, TokenUnavailableError)
    assert "not a bearer token" in str(error)
    if token:
        assert token not in str(error)
    assert all("AUTH" not in session.verbs for session in server.sessions)


# A server that echoes the AUTH command: the scripted server, over implicit TLS.


def echoing_server(
    start_scripted: StartScripted, answer: Callable[[str], str], echoed: list[str]
) -> int:
    """A server that offers both token mechanisms and answers each AUTH ``answer(argument)``
    (its argument: the mechanism and the base64 response); ``echoed`` gets each argument."""

    def script(event: Event) -> Action | None:
        if event.point == "EHLO":
            return Reply("250-localhost Hello\n250-PIPELINING\n250 AUTH XOAUTH2 OAUTHBEARER")
        if event.point == "AUTH":
            echoed.append(event.argument)
            return Reply(answer(event.argument))
        return None

    return start_scripted(mode="smtps", script=script).port


ECHOES: dict[str, tuple[Callable[[str], str], type[SmtpError], int | None, list[bool]]] = {
    "535-whole-command": (
        lambda argument: f"535 5.7.8 Authentication failed: AUTH {argument}",
        SmtpAuthError,
        535,
        [False, True],
    ),
    "454-whole-command": (
        lambda argument: f"454 4.7.0 Temporary failure, try again: AUTH {argument}",
        SmtpAuthError,
        454,
        [False],
    ),
    "500-truncated": (
        lambda argument: f"500 5.5.2 Syntax error near '{argument[:200]}'",
        SmtpAuthError,
        500,
        [False],
    ),
    "not-smtp": (lambda argument: argument, SmtpProtocolError, None, [False]),
}


@pytest.mark.parametrize(("answer", "error_class", "code", "calls"), ECHOES.values(), ids=ECHOES)
@pytest.mark.parametrize("mechanism", MECHANISMS)
def test_a_server_that_echoes_the_auth_command_gets_no_token_shown(
    start_scripted: StartScripted,
    trust_test_ca: None,
    credential_guard: CredentialGuard,
    caplog: pytest.LogCaptureFixture,
    mechanism: str,
    answer: Callable[[str], str],
    error_class: type[SmtpError],
    code: int | None,
    calls: list[bool],
) -> None:
    caplog.set_level(logging.DEBUG)
    # GIVEN a server whose refusal quotes the AUTH command (the token, base64'd, in it)
    echoed: list[str] = []
    port = echoing_server(start_scripted, answer, echoed)
    source = FakeTokenSource()

    # WHEN a token login is refused
    error = fail(token_transport(port, mechanism, source, scheme="smtps", guard=credential_guard))

    # THEN the error is the usual one, a new token asked for only after a 535, and what the
    # server echoed is hidden: no token, no base64 of it, no part of the command
    assert isinstance(error, error_class)
    assert (error.step, error.code) == (Step.AUTH, code)
    assert "***" in error.reply
    assert source.calls == calls
    assert len(echoed) == len(calls)
    assert_no_token(source.tokens, texts_of(error))
    assert_no_token(source.tokens, log_texts(caplog))
    # (A part of the base64 that holds the token, whichever the mechanism.)
    fragments = [argument.partition(" ")[2][100:150] for argument in echoed]
    for where, text in [*texts_of(error), *log_texts(caplog)]:
        assert not any(fragment in text for fragment in fragments), where


def test_a_temporary_refusal_asks_for_no_new_token(
    start_scripted: StartScripted, trust_test_ca: None
) -> None:
    # GIVEN a server that answers AUTH with a temporary failure
    port = echoing_server(start_scripted, lambda _: "454 4.7.0 Temporary server error", [])
    source = FakeTokenSource()

    # WHEN a token login is tried
    error = fail(token_transport(port, "xoauth2", source, scheme="smtps"))

    # THEN it is the usual temporary AUTH error, and the cached token was not replaced
    assert isinstance(error, SmtpAuthError)
    assert (error.code, error.enhanced_status) == (454, "4.7.0")
    assert error.hint is None
    assert source.calls == [False]


def test_the_tls_context_is_the_uris_for_a_token_login() -> None:
    # A token login changes nothing of the TLS policy: verified, TLS 1.2 or newer.
    uri = ConnectionUri.parse(f"smtps://{quote(MAILBOX, safe='')}@smtp.gmail.com/?auth=xoauth2")
    context = Transport(uri, timeout=5, token_source=FakeTokenSource()).ssl_context
    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.minimum_version >= ssl.TLSVersion.TLSv1_2

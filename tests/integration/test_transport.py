"""The transport against real aiosmtpd servers speaking real TLS (certificates from trustme)."""

from __future__ import annotations

import logging
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Any
from urllib.parse import quote

import pytest

from courier.errors import (
    ConfigError,
    MessageError,
    SmtpAuthError,
    SmtpConnectError,
    SmtpDataError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpHeloError,
    SmtpRecipientRefusedError,
    SmtpSenderRefusedError,
    SmtpTimeoutError,
    SmtpTlsError,
    Step,
)
from courier.smtp_client import BoundedSMTP
from courier.transport import Transport, build_ssl_context
from courier.uri import ConnectionUri
from local.smtpd import Faults, SmtpServer, free_port
from tests.conftest import OTHER_NAME, StartServer

SENDER = "no-reply@example.com"
RECIPIENT = "ada@example.org"
# Every URI of a failing test carries this password; it must show up nowhere.
CANARY = "canary-pw-7f3a"
TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}


def make_message(subject: str = "Your recovery code") -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain="example.com")
    message.set_content("Your code is 123456.\n")
    return message


def transport_for(uri: str, *, timeout: float = 5) -> Transport:
    # The test servers are on loopback, which the SSRF guard refuses by default.
    return Transport(ConnectionUri.parse(uri), timeout=timeout, allow_private_hosts=True)


def deliver(uri: str, *, subject: str = "Your recovery code") -> None:
    with transport_for(uri) as transport:
        transport.send(make_message(subject), sender=SENDER, recipient=RECIPIENT)


def fail(uri: str, *, timeout: float = 5) -> SmtpError:
    transport = transport_for(uri, timeout=timeout)
    with pytest.raises(SmtpError) as caught:
        transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)
    transport.close()
    return caught.value


def assert_password_hidden(error: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    seen: BaseException | None = error
    while seen is not None:
        assert CANARY not in str(seen)
        assert CANARY not in repr(seen)
        seen = seen.__cause__ or seen.__context__
    ours = [record for record in caplog.records if not record.name.startswith("mail.")]
    assert all(CANARY not in record.getMessage() for record in ours)


# The six modes of docs/design.md §2: (listener, certificate, URI, encrypted).
MODES = {
    "1-starttls": ("starttls", "trusted", "smtp://user:secret@127.0.0.1:{port}/", True),
    "2-starttls-unverified": (
        "starttls",
        "untrusted",
        "smtp://user:secret@127.0.0.1:{port}/?skip_ssl_verify=true",
        True,
    ),
    "3-cleartext": (
        "plain",
        "trusted",
        "smtp://user:secret@127.0.0.1:{port}/?disable_starttls=true",
        False,
    ),
    "4-implicit-tls": ("smtps", "trusted", "smtps://user:secret@127.0.0.1:{port}/", True),
    "5-implicit-tls-unverified": (
        "smtps",
        "untrusted",
        "smtps://user:secret@127.0.0.1:{port}/?skip_ssl_verify=true",
        True,
    ),
    "6-implicit-tls-server-name": (
        "smtps",
        "other-name",
        f"smtps://user:secret@127.0.0.1:{{port}}/?server_name={OTHER_NAME}",
        True,
    ),
}


@pytest.mark.parametrize(("listener", "certificate", "uri", "encrypted"), MODES.values(), ids=MODES)
def test_each_mode_delivers_with_the_security_it_names(
    start_smtpd: StartServer, listener: str, certificate: str, uri: str, encrypted: bool
) -> None:
    # GIVEN a server for the mode
    server = start_smtpd(listener=listener, certificate=certificate)

    # WHEN one mail is sent through the mode's URI
    deliver(uri.format(port=server.port))

    # THEN it arrived, logged in, encrypted exactly when the mode says so
    [received] = server.messages
    assert (received.mail_from, received.rcpt_tos) == (SENDER, (RECIPIENT,))
    assert received.message["Subject"] == "Your recovery code"
    assert received.auth_login == "user"
    if encrypted:
        assert received.tls_version in TLS_VERSIONS
    else:
        assert received.tls_version is None
    [session] = server.client_sessions
    auth_tls = [tls for verb, tls in session.commands if verb == "AUTH"]
    assert auth_tls == [received.tls_version]


def test_server_name_is_sent_as_sni_while_tcp_goes_to_the_uri_host(
    start_smtpd: StartServer,
) -> None:
    # GIVEN an implicit-TLS server whose certificate names only mail.example.com
    server = start_smtpd(listener="smtps", certificate="other-name")

    # WHEN courier connects to 127.0.0.1 with server_name=mail.example.com
    deliver(f"smtps://user:secret@127.0.0.1:{server.port}/?server_name={OTHER_NAME}")

    # THEN the TLS handshake asked for mail.example.com
    assert server.server_names == [OTHER_NAME]
    assert len(server.messages) == 1


@pytest.mark.parametrize(
    ("listener", "scheme"), [("starttls", "smtp"), ("smtps", "smtps")], ids=["starttls", "smtps"]
)
def test_an_untrusted_certificate_fails_verified_modes(
    start_smtpd: StartServer,
    caplog: pytest.LogCaptureFixture,
    listener: str,
    scheme: str,
) -> None:
    # GIVEN a server whose certificate comes from a CA the client does not trust
    server = start_smtpd(listener=listener, certificate="untrusted")

    # WHEN a verified mode (1 or 4) connects
    error = fail(f"{scheme}://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN it fails at TLS, permanently, saying why and how to fix it, and nothing was sent
    assert isinstance(error, SmtpTlsError)
    assert error.step is Step.TLS
    assert (error.code, error.maybe_accepted) == (None, False)
    assert "not trusted" in str(error)
    assert "skip_ssl_verify=true" in str(error)
    assert server.messages == []
    assert all("AUTH" not in s.verbs and "MAIL" not in s.verbs for s in server.sessions)
    assert_password_hidden(error, caplog)


@pytest.mark.parametrize(
    ("listener", "scheme"), [("starttls", "smtp"), ("smtps", "smtps")], ids=["starttls", "smtps"]
)
def test_a_certificate_for_another_name_needs_server_name(
    start_smtpd: StartServer,
    caplog: pytest.LogCaptureFixture,
    listener: str,
    scheme: str,
) -> None:
    # GIVEN a trusted certificate issued for mail.example.com only
    server = start_smtpd(listener=listener, certificate="other-name")
    uri = f"{scheme}://user:{CANARY}@127.0.0.1:{server.port}/"

    # WHEN courier connects to 127.0.0.1 without server_name
    error = fail(uri)

    # THEN the name check fails and the error suggests server_name
    assert isinstance(error, SmtpTlsError)
    assert "server_name=" in str(error)
    assert_password_hidden(error, caplog)

    # AND with server_name naming the certificate, the mail goes through
    deliver(
        f"{scheme}://user:secret@127.0.0.1:{server.port}/?server_name={OTHER_NAME}",
    )
    assert len(server.messages) == 1


def test_starttls_mode_refuses_a_server_without_starttls(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a server that does not offer STARTTLS (and would take AUTH in cleartext)
    server = start_smtpd(listener="plain")

    # WHEN mode 1 connects with credentials
    error = fail(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN it fails at TLS before any AUTH, MAIL or message byte crossed in cleartext
    assert isinstance(error, SmtpTlsError)
    assert "does not offer STARTTLS" in str(error)
    assert "disable_starttls=true" in str(error)
    [session] = server.client_sessions
    assert session.verbs == ["EHLO"]
    assert server.messages == []
    assert_password_hidden(error, caplog)


def test_disable_starttls_never_upgrades_even_when_offered(start_smtpd: StartServer) -> None:
    # GIVEN a server that offers STARTTLS
    server = start_smtpd(listener="starttls")

    # WHEN mode 3 (no credentials: this server takes AUTH only after TLS) sends
    deliver(f"smtp://127.0.0.1:{server.port}/?disable_starttls=true")

    # THEN the session stayed in cleartext
    [received] = server.messages
    assert received.tls_version is None
    [session] = server.client_sessions
    assert "STARTTLS" not in session.verbs
    assert server.server_names == []


def test_smtps_against_a_starttls_port_suggests_smtp(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a STARTTLS server (cleartext greeting)
    server = start_smtpd(listener="starttls")

    # WHEN smtps:// connects to it
    error = fail(f"smtps://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN the handshake fails at once, suggesting smtp://
    assert isinstance(error, SmtpTlsError)
    assert "use smtp:// instead of smtps://" in str(error)
    assert server.messages == []
    assert_password_hidden(error, caplog)


def test_smtp_against_an_implicit_tls_port_times_out_suggesting_smtps(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN an implicit-TLS server (it waits for a TLS hello; no cleartext greeting comes)
    server = start_smtpd(listener="smtps")

    # WHEN smtp:// connects with a short timeout
    error = fail(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/", timeout=0.5)

    # THEN it gives up after the socket timeout (not the Lambda's), suggesting smtps://
    assert isinstance(error, SmtpTimeoutError)
    assert error.step is Step.CONNECT
    assert error.code is None
    assert "use smtps:// instead of smtp://" in str(error)
    assert_password_hidden(error, caplog)


@pytest.mark.parametrize("listener", ["starttls", "smtps"])
def test_a_wrong_password_is_a_permanent_auth_error(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture, listener: str
) -> None:
    # GIVEN a server whose account has another password
    server = start_smtpd(listener=listener)
    scheme = "smtps" if listener == "smtps" else "smtp"

    # WHEN courier logs in with the wrong one
    error = fail(f"{scheme}://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN AUTH fails with 535, permanently, and the password is nowhere in the error
    assert isinstance(error, SmtpAuthError)
    assert (error.step, error.code) == (Step.AUTH, 535)
    assert server.messages == []
    assert_password_hidden(error, caplog)


FAULTS = {
    "450-rcpt": (
        Faults(rcpt_reply="450 4.2.1 Mailbox busy, try later"),
        SmtpRecipientRefusedError,
        450,
        "4.2.1",
    ),
    "550-rcpt": (
        Faults(rcpt_reply="550 5.1.1 No such user"),
        SmtpRecipientRefusedError,
        550,
        "5.1.1",
    ),
    "451-mail": (
        Faults(mail_reply="451 4.3.0 Try again later"),
        SmtpSenderRefusedError,
        451,
        "4.3.0",
    ),
    "554-data": (
        Faults(data_reply="554 5.6.0 Message rejected"),
        SmtpDataError,
        554,
        "5.6.0",
    ),
}


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
@pytest.mark.parametrize(("faults", "error_class", "code", "status"), FAULTS.values(), ids=FAULTS)
def test_refusals_carry_step_code_and_status(
    start_smtpd: StartServer,
    caplog: pytest.LogCaptureFixture,
    faults: Faults,
    error_class: type[SmtpError],
    code: int,
    status: str,
    pipelining: bool,
) -> None:
    # GIVEN a server that refuses at one step (with and without PIPELINING)
    server = start_smtpd(listener="starttls", faults=faults, pipelining=pipelining)

    # WHEN a mail is sent
    error = fail(f"smtp://user:secret@127.0.0.1:{server.port}/")

    # THEN the error names the step and the reply, and the server cannot have kept the mail
    assert type(error) is error_class
    assert (error.code, error.enhanced_status, error.maybe_accepted) == (code, status, False)
    assert f"SMTP {error.step} failed" in str(error)
    assert server.messages == []


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_after_a_refusal_the_session_carries_the_next_message(
    start_smtpd: StartServer, pipelining: bool
) -> None:
    # GIVEN an open session to a server that refuses the first recipient only
    server = start_smtpd(
        listener="starttls",
        faults=Faults(rcpt_reply="550 5.1.1 No such user"),
        pipelining=pipelining,
    )
    with transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/") as transport:
        with pytest.raises(SmtpRecipientRefusedError):
            transport.send(make_message(), sender=SENDER, recipient="nobody@example.org")

        # WHEN the server accepts again and the next message goes over the same session
        server.faults = Faults()
        transport.send(make_message("second"), sender=SENDER, recipient=RECIPIENT)

    # THEN it arrived, in the one session, after a RSET
    assert [m.message["Subject"] for m in server.messages] == ["second"]
    [session] = server.client_sessions
    assert session.verbs.count("RSET") == 1


def test_a_connection_dropped_in_data_closes_the_session(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a server that hangs up when the message arrives
    server = start_smtpd(listener="starttls", faults=Faults(drop_in_data=True))
    transport = transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/")

    # WHEN a mail is sent
    with pytest.raises(SmtpDisconnectedError) as caught:
        transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)

    # THEN it fails at DATA after the whole message was sent (the server may have kept it),
    # and the transport knows it is closed
    assert (caught.value.step, caught.value.code) == (Step.DATA, None)
    assert caught.value.maybe_accepted
    assert not transport.is_open
    transport.close()


def test_a_closed_port_is_a_connect_error(caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN a port nobody listens on
    port = free_port()

    # WHEN courier connects
    error = fail(f"smtp://user:{CANARY}@127.0.0.1:{port}/")

    # THEN it is a connect error without a reply
    assert isinstance(error, SmtpConnectError)
    assert (error.step, error.code) == (Step.CONNECT, None)
    assert "refused" in str(error).lower()
    assert_password_hidden(error, caplog)


def test_many_messages_share_one_session_and_one_tls_handshake(start_smtpd: StartServer) -> None:
    # GIVEN a STARTTLS server
    server = start_smtpd(listener="starttls")

    # WHEN five mails are sent through one transport
    with transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/") as transport:
        for number in range(5):
            transport.send(make_message(f"mail {number}"), sender=SENDER, recipient=RECIPIENT)

    # THEN they arrived in order over one session with one handshake and one AUTH
    assert [m.message["Subject"] for m in server.messages] == [f"mail {n}" for n in range(5)]
    [session] = server.client_sessions
    assert session.verbs.count("STARTTLS") == 1
    assert session.verbs.count("AUTH") == 1
    assert len(server.server_names) == 1
    assert session.verbs[-1] == "QUIT"


def test_open_is_idempotent_and_close_is_safe(smtpd: SmtpServer) -> None:
    # GIVEN a transport (built without any I/O, even for a host that does not exist)
    Transport(ConnectionUri.parse("smtp://nowhere.invalid/"), timeout=1)
    transport = transport_for(f"smtp://user:secret@127.0.0.1:{smtpd.port}/")

    # WHEN it is opened twice and closed twice
    opened = [transport.open(), transport.open()]
    transport.close()
    transport.close()

    # THEN only the first open connected
    assert opened == [True, False]
    assert len(smtpd.client_sessions) == 1


def test_transport_does_not_log_the_password(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN everything logged at DEBUG
    caplog.set_level(logging.DEBUG)
    server = start_smtpd(listener="starttls")

    # WHEN a session fails at AUTH with the canary password
    error = fail(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN no log record of ours holds it
    assert_password_hidden(error, caplog)


def test_the_ssrf_guard_refuses_loopback_before_connecting(smtpd: SmtpServer) -> None:
    # GIVEN a transport with the guard on (the default) and a server on loopback
    uri = ConnectionUri.parse(f"smtp://user:{CANARY}@127.0.0.1:{smtpd.port}/")
    transport = Transport(uri, timeout=5)

    # WHEN it opens
    with pytest.raises(ConfigError) as caught:
        transport.open()

    # THEN it refuses, naming the stack parameter, and the server never saw a connection
    assert caught.value.code == "smtp_host_not_public"
    assert "AllowPrivateSmtpHosts" in str(caught.value)
    assert smtpd.sessions == []


@pytest.mark.parametrize(
    ("timeout", "local_hostname", "code"),
    [
        (0, "localhost", "timeout_not_positive"),
        (-1, "localhost", "timeout_not_positive"),
        (float("nan"), "localhost", "timeout_not_positive"),
        (5, "", "local_name_invalid"),
        (5, "mail host", "local_name_invalid"),
        (5, "host\r\nMAIL FROM:<x@y>", "local_name_invalid"),
    ],
)
def test_bad_settings_fail_before_any_io(timeout: float, local_hostname: str, code: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Transport(
            ConnectionUri.parse("smtp://mail.example.com/"),
            timeout=timeout,
            local_hostname=local_hostname,
        )

    assert caught.value.code == code


@pytest.mark.parametrize(
    ("uri", "verified"),
    [
        ("smtp://h/", True),
        ("smtp://h/?skip_ssl_verify=true", False),
        ("smtps://h/", True),
        ("smtps://h/?skip_ssl_verify=true", False),
        ("smtps://h/?server_name=example.com", True),
    ],
)
def test_tls_policy_is_tls_1_2_or_newer_and_verified_unless_skipped(
    uri: str, verified: bool
) -> None:
    context = build_ssl_context(ConnectionUri.parse(uri))

    assert context.minimum_version is ssl.TLSVersion.TLSv1_2
    assert context.check_hostname is verified
    assert context.verify_mode is (ssl.CERT_REQUIRED if verified else ssl.CERT_NONE)


def test_ehlo_gives_the_configured_local_name(smtpd: SmtpServer) -> None:
    # GIVEN a transport with a local name
    uri = ConnectionUri.parse(f"smtp://user:secret@127.0.0.1:{smtpd.port}/")
    transport = Transport(
        uri, timeout=5, local_hostname="courier.example", allow_private_hosts=True
    )

    # WHEN it opens
    transport.open()
    transport.close()

    # THEN both EHLOs (before and after STARTTLS) named it
    [session] = smtpd.client_sessions
    assert session.ehlo_names == ["courier.example", "courier.example"]


@pytest.mark.parametrize(
    "recipient", ["ada@example.org\r\nRCPT TO:<evil@example.org>", "ada@example.org\n", ""]
)
def test_an_envelope_with_line_breaks_is_refused_before_connecting(
    smtpd: SmtpServer, recipient: str
) -> None:
    transport = transport_for(f"smtp://user:secret@127.0.0.1:{smtpd.port}/")

    with pytest.raises(MessageError) as caught:
        transport.send(make_message(), sender=SENDER, recipient=recipient)

    assert caught.value.code == "envelope_address_invalid"
    assert smtpd.client_sessions == []


def test_a_non_ascii_mailbox_goes_with_smtputf8(smtpd: SmtpServer) -> None:
    with transport_for(f"smtp://user:secret@127.0.0.1:{smtpd.port}/") as transport:
        transport.send(make_message(), sender=SENDER, recipient="józef@example.org")

    [received] = smtpd.messages
    assert received.rcpt_tos == ("józef@example.org",)
    assert "SMTPUTF8" in received.mail_options


@pytest.mark.smtpd(smtputf8=False)
def test_a_non_ascii_mailbox_needs_smtputf8(smtpd: SmtpServer) -> None:
    # GIVEN a server that does not offer SMTPUTF8
    transport = transport_for(f"smtp://user:secret@127.0.0.1:{smtpd.port}/")

    # WHEN a mail goes to a non-ASCII mailbox
    with pytest.raises(MessageError) as caught:
        transport.send(make_message(), sender=SENDER, recipient="józef@example.org")
    transport.close()

    # THEN it is refused before MAIL
    assert caught.value.code == "envelope_needs_smtputf8"
    assert all("MAIL" not in session.verbs for session in smtpd.client_sessions)


def test_an_8bit_body_is_announced_with_8bitmime(smtpd: SmtpServer) -> None:
    # GIVEN a message whose body is 8-bit
    message = make_message()
    message.set_content("Grüße: 123456\n", cte="8bit")

    # WHEN it is sent to a server that offers 8BITMIME
    with transport_for(f"smtp://user:secret@127.0.0.1:{smtpd.port}/") as transport:
        transport.send(message, sender=SENDER, recipient=RECIPIENT)

    # THEN MAIL FROM said BODY=8BITMIME and the text arrived intact
    [received] = smtpd.messages
    assert "BODY=8BITMIME" in received.mail_options
    assert received.message.get_content().rstrip() == "Grüße: 123456"


def test_credentials_without_auth_offered_fail_at_auth(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture
) -> None:
    # GIVEN a server that offers AUTH only after STARTTLS, and a cleartext URI with a user
    server = start_smtpd(listener="starttls")

    # WHEN mode 3 opens with credentials
    error = fail(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/?disable_starttls=true")

    # THEN AUTH fails permanently, saying the server offers none, and nothing was sent
    assert isinstance(error, SmtpAuthError)
    assert (error.code, error.maybe_accepted) == (None, False)
    assert "offers no AUTH" in str(error)
    assert all("AUTH" not in s.verbs and "MAIL" not in s.verbs for s in server.sessions)
    assert_password_hidden(error, caplog)


def test_a_refused_ehlo_is_a_permanent_ehlo_error(start_smtpd: StartServer) -> None:
    server = start_smtpd(listener="starttls", faults=Faults(ehlo_reply="554 5.7.1 Go away"))

    error = fail(f"smtp://user:secret@127.0.0.1:{server.port}/")

    assert isinstance(error, SmtpHeloError)
    assert (error.step, error.code) == (Step.EHLO, 554)


def test_auth_is_never_sent_before_tls_even_if_starttls_were_skipped(
    start_smtpd: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a bug that skips STARTTLS, against a server that would take AUTH in cleartext
    server = start_smtpd(listener="plain")
    monkeypatch.setattr(Transport, "_starttls", lambda self, connection: None)

    # WHEN mode 1 opens with credentials
    error = fail(f"smtp://user:{CANARY}@127.0.0.1:{server.port}/")

    # THEN the last guard refuses to AUTH in cleartext
    assert isinstance(error, SmtpTlsError)
    assert "refusing to AUTH before TLS" in str(error)
    assert all("AUTH" not in session.verbs for session in server.sessions)


def test_close_after_the_server_went_away_does_not_raise(start_smtpd: StartServer) -> None:
    server = start_smtpd(listener="starttls")
    transport = transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/")
    transport.open()
    server.stop()

    transport.close()

    assert not transport.is_open


@pytest.mark.parametrize("pipelining", [True, False], ids=["offered", "not-offered"])
def test_mail_rcpt_and_data_are_pipelined_when_the_server_offers_it(
    start_smtpd: StartServer, pipelining: bool
) -> None:
    # GIVEN a server that does (or does not) offer PIPELINING
    server = start_smtpd(listener="starttls", pipelining=pipelining)

    # WHEN three mails go over one session
    with transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/") as transport:
        for number in range(3):
            transport.send(make_message(f"mail {number}"), sender=SENDER, recipient=RECIPIENT)

    # THEN RCPT and DATA followed MAIL without waiting for its reply exactly when offered
    [session] = server.client_sessions
    assert session.pipelined == [pipelining] * 3
    assert [m.message["Subject"] for m in server.messages] == ["mail 0", "mail 1", "mail 2"]


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
def test_lines_starting_with_a_dot_arrive_intact(
    start_smtpd: StartServer, pipelining: bool
) -> None:
    # GIVEN a body with lines that would end or change the DATA section if sent as they are
    message = make_message()
    body = ".hidden line\n.\n..two dots\nlast line without newline"
    message.set_content(body)
    server = start_smtpd(listener="starttls", pipelining=pipelining)

    # WHEN it is sent
    with transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/") as transport:
        transport.send(message, sender=SENDER, recipient=RECIPIENT)

    # THEN the server got the same lines
    [received] = server.messages
    assert received.message.get_content().splitlines() == body.splitlines()


# Non-ASCII credentials through AUTH: courier sends them as UTF-8 (RFC 4616 for PLAIN, the same
# bytes for LOGIN), and aiosmtpd's test server decodes them as UTF-8.

NON_ASCII_USER = "jörg-ñúñez"
NON_ASCII_PASSWORD = "pässwörd-ü€"
# Wrong, and with a non-ASCII character in every four: no part of it is ordinary text.
WRONG_NON_ASCII_PASSWORD = "ŵrøñg-päss-wörd-€"
# (offered by the server, used by courier); smtplib prefers PLAIN to LOGIN.
AUTH_MECHANISMS = {
    "both-offered": (None, "PLAIN"),
    "plain-only": (("PLAIN",), "PLAIN"),
    "login-only": (("LOGIN",), "LOGIN"),
}


def uri_with(user: str, password: str, port: int) -> str:
    """A STARTTLS URI with the user and password percent-encoded (UTF-8), as uri.py expects."""
    return f"smtp://{quote(user, safe='')}:{quote(password, safe='')}@127.0.0.1:{port}/"


def record_auth_mechanisms(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The AUTH mechanisms courier tries, in order, and the ones the server offered."""
    used: list[str] = []
    auth = BoundedSMTP.auth

    def recording_auth(
        connection: BoundedSMTP, mechanism: str, authobject: Any, **kwargs: Any
    ) -> tuple[int, bytes]:
        used.append(mechanism)
        return auth(connection, mechanism, authobject, **kwargs)

    monkeypatch.setattr(BoundedSMTP, "auth", recording_auth)
    return used


def offered_auth(transport: Transport) -> list[str]:
    assert transport.connection is not None
    return transport.connection.esmtp_features["auth"].upper().split()


@pytest.mark.parametrize(("offered", "used"), AUTH_MECHANISMS.values(), ids=AUTH_MECHANISMS)
def test_a_non_ascii_password_logs_in_over_starttls(
    start_smtpd: StartServer,
    monkeypatch: pytest.MonkeyPatch,
    offered: tuple[str, ...] | None,
    used: str,
) -> None:
    # GIVEN a STARTTLS server whose account has a non-ASCII password
    server = start_smtpd(listener="starttls", password=NON_ASCII_PASSWORD, auth_mechanisms=offered)
    mechanisms = record_auth_mechanisms(monkeypatch)

    # WHEN a mail is sent through a URI with the password percent-encoded
    with transport_for(uri_with("user", NON_ASCII_PASSWORD, server.port)) as transport:
        assert offered_auth(transport) == sorted(offered or ("LOGIN", "PLAIN"))
        transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)

    # THEN courier logged in at the first try with the expected mechanism, after TLS, and the
    # mail arrived
    assert mechanisms == [used]
    [received] = server.messages
    assert (received.auth_login, received.auth_mechanism) == ("user", used)
    assert received.tls_version in TLS_VERSIONS
    [session] = server.client_sessions
    assert [tls for verb, tls in session.commands if verb == "AUTH"] == [received.tls_version]
    assert (session.auth_login, session.auth_mechanism) == ("user", used)


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_non_ascii_user_logs_in(
    start_smtpd: StartServer, monkeypatch: pytest.MonkeyPatch, mechanism: str
) -> None:
    # GIVEN a STARTTLS server whose account has a non-ASCII user, offering one mechanism
    server = start_smtpd(listener="starttls", username=NON_ASCII_USER, auth_mechanisms=(mechanism,))
    mechanisms = record_auth_mechanisms(monkeypatch)

    # WHEN a mail is sent through a URI with the user percent-encoded
    deliver(uri_with(NON_ASCII_USER, "secret", server.port))

    # THEN the server saw that user log in, and the mail arrived
    assert mechanisms == [mechanism]
    [received] = server.messages
    assert received.auth_login == NON_ASCII_USER
    assert (received.mail_from, received.rcpt_tos) == (SENDER, (RECIPIENT,))


def linked_exceptions(error: BaseException) -> list[BaseException]:
    """``error`` and every exception of its ``__cause__``/``__context__`` chain, each once."""
    found: list[BaseException] = []
    pending: list[BaseException] = [error]
    while pending:
        current = pending.pop()
        if all(current is not seen for seen in found):
            found.append(current)
            pending += [e for e in (current.__cause__, current.__context__) if e is not None]
    return found


def assert_no_part_of_password(
    password: str, error: BaseException, caplog: pytest.LogCaptureFixture
) -> None:
    """Neither ``password``, nor any 4 characters of it, nor its encoded forms are in the text
    of ``error``, of its ``__cause__``/``__context__`` chain, or of courier's log records."""
    parts = {password[i : i + 4] for i in range(len(password) - 3)}
    parts |= {quote(password, safe=""), repr(password.encode())[2:-1]}
    texts = [text for e in linked_exceptions(error) for text in (str(e), repr(e))]
    texts += [r.getMessage() for r in caplog.records if not r.name.startswith("mail.")]
    assert [(part, text) for text in texts for part in parts if part in text] == []


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_a_wrong_non_ascii_password_is_an_auth_error_that_shows_none_of_it(
    start_smtpd: StartServer, caplog: pytest.LogCaptureFixture, mechanism: str
) -> None:
    # GIVEN a STARTTLS server whose account has another non-ASCII password
    caplog.set_level(logging.DEBUG)
    server = start_smtpd(
        listener="starttls", password=NON_ASCII_PASSWORD, auth_mechanisms=(mechanism,)
    )

    # WHEN courier logs in with a wrong non-ASCII one
    error = fail(uri_with("user", WRONG_NON_ASCII_PASSWORD, server.port))

    # THEN AUTH fails with 535 (the server refused it: it was sent, encoded), and no part of
    # the password, nor an encoding error, is anywhere in the error, its chain or the logs
    assert isinstance(error, SmtpAuthError)
    assert (error.step, error.code, error.maybe_accepted) == (Step.AUTH, 535, False)
    assert server.messages == []
    [session] = server.client_sessions
    assert session.verbs.count("AUTH") == 1
    assert not [e for e in linked_exceptions(error) if isinstance(e, UnicodeError)]
    assert_no_part_of_password(WRONG_NON_ASCII_PASSWORD, error, caplog)

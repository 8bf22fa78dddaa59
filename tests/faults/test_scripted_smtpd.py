"""The scripted fault server, with the standard library's smtplib (and raw sockets) as client."""

from __future__ import annotations

import base64
import smtplib
import socket
import ssl
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from types import TracebackType
from typing import Self

import pytest
import trustme

from tests.faults.scripted_smtpd import (
    Action,
    Drip,
    Drop,
    Event,
    Hang,
    Mode,
    Reply,
    ScriptedSmtpServer,
)

StartServer = Callable[..., ScriptedSmtpServer]


@pytest.fixture
def start_server(start_scripted: StartServer) -> StartServer:
    """Start servers (with a certificate for TLS modes); a test fails if a script or the
    server raised in a connection thread."""
    return start_scripted


@pytest.fixture
def client_context(ca: trustme.CA) -> ssl.SSLContext:
    context = ssl.create_default_context()
    ca.configure_trust(context)
    return context


def at(point: str, action: Action) -> Callable[[Event], Action | None]:
    """A script that does ``action`` at ``point`` and behaves normally elsewhere."""
    return lambda event: action if event.point == point else None


def a_message(number: int = 0) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "sender@example.com"
    message["To"] = "rcpt@example.com"
    message["Subject"] = f"Message {number}"
    message["Message-ID"] = f"<{number}@example.com>"
    message.set_content(f"Hello {number}.\n.a line that starts with a dot\n")
    return message


class RawClient:
    """A line-oriented SMTP client on a plain socket, for what smtplib will not do."""

    def __init__(self, server: ScriptedSmtpServer, timeout: float = 5.0) -> None:
        self.sock = socket.create_connection((server.host, server.port), timeout=timeout)
        self.file = self.sock.makefile("rb")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.file.close()
        self.sock.close()

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def reply(self) -> list[bytes]:
        """The lines of one (possibly multi-line) reply, without CRLF."""
        lines: list[bytes] = []
        while True:
            line = self.file.readline()
            assert line.endswith(b"\r\n"), f"incomplete reply line {line!r}"
            lines.append(line[:-2])
            if line[3:4] != b"-":
                return lines

    def code(self) -> int:
        return int(self.reply()[-1][:3])


# Normal operation.


@pytest.mark.parametrize("mode", ["plain", "starttls", "smtps"])
def test_delivers_in_each_mode(
    start_server: StartServer, client_context: ssl.SSLContext, mode: Mode
) -> None:
    server = start_server(mode=mode)
    smtp: smtplib.SMTP
    if mode == "smtps":
        smtp = smtplib.SMTP_SSL(server.host, server.port, context=client_context, timeout=5)
    else:
        smtp = smtplib.SMTP(server.host, server.port, timeout=5)
    with smtp:
        smtp.ehlo()
        assert smtp.has_extn("starttls") == (mode == "starttls")
        assert smtp.has_extn("auth") == (mode != "starttls")
        assert smtp.has_extn("pipelining")
        assert smtp.has_extn("smtputf8")
        assert smtp.has_extn("8bitmime")
        if mode == "starttls":
            smtp.starttls(context=client_context)
            smtp.ehlo()
            assert not smtp.has_extn("starttls")
            assert smtp.has_extn("auth")
        smtp.login("user", "secret")
        smtp.send_message(a_message(), to_addrs=["rcpt@example.com", "other@example.com"])
        tls_version = smtp.sock.version() if isinstance(smtp.sock, ssl.SSLSocket) else None
    assert (tls_version is None) == (mode == "plain")

    [delivery] = server.mailbox
    assert delivery.mail_from == "sender@example.com"
    assert delivery.rcpt_tos == ("rcpt@example.com", "other@example.com")
    assert delivery.message_id == "<0@example.com>"
    assert delivery.tls_version == tls_version
    assert delivery.auth_user == "user"
    assert delivery.session == 0
    assert b"\r\n.a line that starts with a dot\r\n" in delivery.content  # un-dot-stuffed
    assert delivery.message["Subject"] == "Message 0"

    [session] = server.sessions
    after_tls = ["EHLO", "AUTH", "MAIL", "RCPT", "RCPT", "DATA", "QUIT"]
    if mode == "starttls":
        assert session.commands == [("EHLO", None), ("STARTTLS", None)] + [
            (verb, tls_version) for verb in after_tls
        ]
    else:
        assert session.commands == [(verb, tls_version) for verb in after_tls]
    assert session.auth_users == ["user"]
    assert server.connections == 1


def test_starttls_resets_the_session(
    start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server(mode="starttls")
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.docmd("AUTH", "PLAIN AHVzZXIAc2VjcmV0")[0] == 530
        smtp.starttls(context=client_context)
        assert smtp.docmd("MAIL", "FROM:<sender@example.com>")[0] == 503


def test_pipelined_commands_in_one_write(start_server: StartServer) -> None:
    server = start_server()
    with RawClient(server) as client:
        assert client.code() == 220
        client.send(b"EHLO client.example.com\r\n")
        assert b"250-PIPELINING" in client.reply()
        client.send(
            b"MAIL FROM:<sender@example.com>\r\n"
            b"RCPT TO:<one@example.com>\r\n"
            b"RCPT TO:<two@example.com>\r\n"
            b"DATA\r\n"
        )
        assert [client.code() for _ in range(4)] == [250, 250, 250, 354]
        client.send(b"Subject: one\r\n\r\n..dot\r\n.\r\n")
        assert client.code() == 250
        # Everything at once, even the message and QUIT, is still read line by line.
        client.send(
            b"MAIL FROM:<>\r\nRCPT TO:<three@example.com>\r\nDATA\r\n"
            b"Subject: two\r\n\r\nbody\r\n.\r\nQUIT\r\n"
        )
        assert [client.code() for _ in range(5)] == [250, 250, 354, 250, 221]
        assert client.file.read() == b""

    first, second = server.mailbox
    assert first.rcpt_tos == ("one@example.com", "two@example.com")
    assert first.content == b"Subject: one\r\n\r\n.dot\r\n"
    assert (second.mail_from, second.rcpt_tos) == ("", ("three@example.com",))
    assert second.content == b"Subject: two\r\n\r\nbody\r\n"


def test_turns_are_what_the_client_sent_each_time_the_server_waited(
    start_server: StartServer,
) -> None:
    server = start_server()
    with RawClient(server) as client:
        assert client.code() == 220
        client.send(b"EHLO client.example.com\r\n")
        client.reply()
        client.send(b"MAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        assert [client.code() for _ in range(3)] == [250, 250, 354]
        client.send(b"Subject: one\r\n\r\nbody\r\n.\r\nMAIL FROM:<a@example.com>\r\n")
        assert [client.code() for _ in range(2)] == [250, 250]
        client.send(b"RSET\r\n")
        assert client.code() == 250
        client.send(b"QUIT\r\n")
        assert client.code() == 221
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        smtp.login("user", "secret")
        smtp.send_message(a_message())

    pipelined, one_by_one = server.sessions
    assert pipelined.turns == [
        ["EHLO"],
        ["MAIL", "RCPT", "DATA"],
        [".", "MAIL"],
        ["RSET"],
        ["QUIT"],
    ]
    # smtplib waits for each reply: one item a turn.
    assert [len(turn) for turn in one_by_one.turns] == [1] * len(one_by_one.turns)
    items = [item for [item] in one_by_one.turns]
    assert items == ["EHLO", "AUTH", "MAIL", "RCPT", "DATA", ".", "QUIT"]


@pytest.mark.parametrize("data_started", [True, False], ids=["354-anyway", "refused"])
def test_a_354_to_data_without_recipients_reads_a_message_it_keeps_not(
    start_server: StartServer, data_started: bool
) -> None:
    def script(event: Event) -> Action | None:
        if event.point == "RCPT":
            return Reply("550 5.1.1 no such user")
        if event.point == "DATA" and data_started:
            return Reply("354 go ahead anyway")
        return None

    server = start_server(script=script)
    with RawClient(server) as client:
        assert client.code() == 220
        client.send(b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\n")
        assert [client.code() for _ in range(3)] == [250, 250, 550]
        client.send(b"DATA\r\n")
        if data_started:
            assert client.reply() == [b"354 go ahead anyway"]
            client.send(b"Subject: nobody's\r\n\r\nbody\r\n.\r\n")
            assert client.reply() == [b"554 5.5.1 No valid recipients"]
        else:
            assert client.reply() == [b"554 5.5.1 No valid recipients"]
        client.send(b"RSET\r\nQUIT\r\n")
        assert [client.code() for _ in range(2)] == [250, 221]
    assert server.mailbox == []
    assert server.sessions[0].verbs == ["EHLO", "MAIL", "RCPT", "DATA", "RSET", "QUIT"]


def test_other_commands_and_overlong_lines(start_server: StartServer) -> None:
    server = start_server()
    with RawClient(server) as client:
        assert client.code() == 220
        client.send(b"MAIL FROM:<early@example.com>\r\n")
        assert client.code() == 503
        client.send(b"HELO client.example.com\r\n")
        assert client.reply() == [b"250 127.0.0.1 Hello client.example.com"]
        client.send(b"NOOP " + b"x" * 9000 + b"\r\nNOOP\r\nVRFY someone\r\nRSET\r\n")
        assert [client.code() for _ in range(4)] == [500, 250, 500, 250]
        client.send(b"RCPT TO:<rcpt@example.com>\r\nDATA\r\nQUIT\r\n")
        assert [client.code() for _ in range(3)] == [503, 503, 221]
    verbs = ["MAIL", "HELO", "NOOP", "VRFY", "RSET", "RCPT", "DATA", "QUIT"]
    assert server.sessions[0].verbs == verbs


def test_many_concurrent_clients(start_server: StartServer) -> None:
    server = start_server()
    clients, connections, messages = 8, 3, 5

    def send(client: int) -> None:
        for connection in range(connections):
            with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
                for number in range(messages):
                    smtp.send_message(a_message((client * connections + connection) * 100 + number))

    threads = [threading.Thread(target=send, args=(client,)) for client in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    mailbox = server.mailbox
    assert len({delivery.message_id for delivery in mailbox}) == clients * connections * messages
    assert server.connections == clients * connections


# Scripted faults.


@pytest.mark.parametrize(("greeting", "code"), [("garbage", -1), ("554 5.3.2 not today", 554)])
def test_scripted_greeting(start_server: StartServer, greeting: str, code: int) -> None:
    server = start_server(script=at("greeting", Reply(greeting)))
    with pytest.raises(smtplib.SMTPConnectError) as raised:
        smtplib.SMTP(server.host, server.port, timeout=5)
    assert raised.value.smtp_code == code


def test_drip_sends_one_byte_at_a_time(start_server: StartServer) -> None:
    server = start_server(script=at("greeting", Drip("220 slow", 0.1)))
    with socket.create_connection((server.host, server.port), timeout=5) as sock:
        chunks = [sock.recv(1024)]
        while not b"".join(chunks).endswith(b"\r\n"):
            chunks.append(sock.recv(1024))
    assert b"".join(chunks) == b"220 slow\r\n"
    assert len(chunks[0]) == 1
    assert len(chunks) > 1


def test_drip_at_dot_keeps_the_message(start_server: StartServer) -> None:
    server = start_server(script=at("dot", Drip("250 2.0.0 slowly", 0.005)))
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        assert smtp.send_message(a_message()) == {}
    assert len(server.mailbox) == 1


def test_hang_times_a_client_out(start_server: StartServer) -> None:
    server = start_server(script=at("MAIL", Hang()))
    with smtplib.SMTP(server.host, server.port, timeout=0.5) as smtp:
        smtp.ehlo()
        # smtplib reports a read timeout as a disconnection.
        with pytest.raises(smtplib.SMTPServerDisconnected, match="timed out"):
            smtp.mail("sender@example.com")


@pytest.mark.parametrize("keep", [True, False])
def test_drop_at_dot(start_server: StartServer, keep: bool) -> None:
    server = start_server(script=at("dot", Drop(keep=keep)))
    with (
        smtplib.SMTP(server.host, server.port, timeout=5) as smtp,
        pytest.raises(smtplib.SMTPServerDisconnected),
    ):
        smtp.send_message(a_message())
    assert [delivery.message_id for delivery in server.mailbox] == (
        ["<0@example.com>"] if keep else []
    )


def test_421_at_rcpt_closes_the_connection(start_server: StartServer) -> None:
    server = start_server(script=at("RCPT", Reply("421 4.3.2 closing")))
    with RawClient(server) as client:
        assert client.code() == 220
        client.send(b"EHLO client.example.com\r\nMAIL FROM:<a@example.com>\r\n")
        assert [client.code() for _ in range(2)] == [250, 250]
        client.send(b"RCPT TO:<b@example.com>\r\n")
        assert client.reply() == [b"421 4.3.2 closing"]
        assert client.file.read() == b""

    with (
        smtplib.SMTP(server.host, server.port, timeout=5) as smtp,
        pytest.raises(smtplib.SMTPRecipientsRefused) as refused,
    ):
        smtp.sendmail("a@example.com", ["b@example.com"], b"Subject: x\r\n\r\nx\r\n")
    assert refused.value.recipients == {"b@example.com": (421, b"4.3.2 closing")}
    assert server.mailbox == []


def test_refused_recipient_is_not_added(start_server: StartServer) -> None:
    seen: list[Event] = []

    def script(event: Event) -> Action | None:
        seen.append(event)
        if event.point == "RCPT" and "refused@" in event.argument:
            return Reply("550 5.1.1 no such user")
        return None

    server = start_server(script=script)
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        refused = smtp.send_message(
            a_message(), to_addrs=["refused@example.com", "rcpt@example.com"]
        )
    assert refused == {"refused@example.com": (550, b"5.1.1 no such user")}
    [delivery] = server.mailbox
    assert delivery.rcpt_tos == ("rcpt@example.com",)
    [dot] = [event for event in seen if event.point == "dot"]
    assert (dot.argument, dot.recipients, dot.session) == (
        "rcpt@example.com",
        ("rcpt@example.com",),
        0,
    )
    assert dot.message == delivery.content
    points = ["greeting", "EHLO", "MAIL", "RCPT", "RCPT", "DATA", "dot", "QUIT"]
    assert [event.point for event in seen] == points


def test_script_errors_are_recorded() -> None:
    def script(event: Event) -> Action | None:
        raise RuntimeError(f"broken at {event.point}")

    with (
        ScriptedSmtpServer(script=script) as server,
        pytest.raises(smtplib.SMTPServerDisconnected),
    ):
        smtplib.SMTP(server.host, server.port, timeout=5)
    assert [str(error) for error in server.errors] == ["broken at greeting"]


# AUTH.


def _plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_auth_plain_with_a_non_ascii_password(start_server: StartServer) -> None:
    server = start_server(password="pässwörd")
    with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
        smtp.ehlo()
        assert smtp.docmd("AUTH", "PLAIN " + _plain("user", "passwort"))[0] == 535
        assert smtp.docmd("AUTH", "PLAIN " + _plain("user", "pässwörd"))[0] == 235
        smtp.send_message(a_message())
    assert server.sessions[0].auth_users == ["user", "user"]
    assert server.mailbox[0].auth_user == "user"


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_auth_through_challenges(start_server: StartServer, mechanism: str) -> None:
    server = start_server()
    for password, code in [("wrong", 535), ("secret", 235)]:
        with smtplib.SMTP(server.host, server.port, timeout=5) as smtp:
            smtp.ehlo()
            smtp.user, smtp.password = "user", password
            authenticate = smtp.auth_plain if mechanism == "PLAIN" else smtp.auth_login
            if code == 235:
                assert smtp.auth(mechanism, authenticate, initial_response_ok=False)[0] == 235
            else:
                with pytest.raises(smtplib.SMTPAuthenticationError) as failed:
                    smtp.auth(mechanism, authenticate, initial_response_ok=False)
                assert failed.value.smtp_code == 535
    assert [session.auth_users for session in server.sessions] == [["user"], ["user"]]


# Robustness and stopping.


def _session_thread(server: ScriptedSmtpServer, index: int) -> threading.Thread | None:
    name = f"scripted-smtpd-{server.port}-{index}"
    return next((thread for thread in threading.enumerate() if thread.name == name), None)


def test_a_vanishing_client_ends_its_session(
    start_server: StartServer, client_context: ssl.SSLContext
) -> None:
    server = start_server(mode="smtps")
    with socket.create_connection((server.host, server.port)) as sock:
        sock.sendall(b"EHLO not a TLS handshake\r\n")
    with (
        client_context.wrap_socket(
            socket.create_connection((server.host, server.port), timeout=5),
            server_hostname="127.0.0.1",
        ) as tls,
        tls.makefile("rb") as file,
    ):
        assert file.readline().startswith(b"220 ")
        tls.sendall(b"EHLO c\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<b@example.com>\r\nDATA\r\n")
        tls.sendall(b"Subject: never finished\r\n\r\nhalf a mess")
    for index in (0, 1):
        thread = _session_thread(server, index)
        if thread is not None:
            thread.join(5)
            assert not thread.is_alive()
    assert server.mailbox == []
    with smtplib.SMTP_SSL(server.host, server.port, context=client_context, timeout=5) as smtp:
        smtp.send_message(a_message())
    assert len(server.mailbox) == 1


def test_stop_is_prompt_with_a_client_hung_and_one_dripped_to(
    start_server: StartServer,
) -> None:
    hung = threading.Event()

    def script(event: Event) -> Action | None:
        if event.point == "greeting" and event.session == 1:
            return Drip("220 very slow", 60)
        if event.point == "MAIL":
            hung.set()
            return Hang()
        return None

    server = start_server(script=script)
    with RawClient(server) as hanging, RawClient(server) as dripped:
        assert hanging.code() == 220
        hanging.send(b"EHLO c\r\nMAIL FROM:<a@example.com>\r\n")
        assert hanging.code() == 250
        assert hung.wait(5)
        assert dripped.sock.recv(1024) == b"2"

        stopper = threading.Thread(target=server.stop)
        started = time.monotonic()
        stopper.start()
        stopper.join(5)
        assert not stopper.is_alive()
        assert time.monotonic() - started < 1.0
        assert hanging.file.read() == b""
        assert dripped.sock.recv(1024) == b""
    for index in (0, 1):
        thread = _session_thread(server, index)
        assert thread is None or not thread.is_alive()

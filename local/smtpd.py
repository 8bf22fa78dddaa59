"""Real SMTP servers on loopback that remember what they were sent and how it was secured.

Used by the test suite and by ``python -m local``: an aiosmtpd server in one of three listener
modes (STARTTLS offered, plain with no STARTTLS, implicit TLS), with a certificate from a
throwaway CA, AUTH (a password; with ``oauth_tokens``, OAuth 2.0 tokens too: XOAUTH2 and
OAUTHBEARER, refused as Google or Microsoft refuse them), and canned faults. Every session is
recorded: each command with the TLS version it arrived under, who logged in and how, the TLS
names clients asked for, and each accepted message.

Example
-------
>>> ca = trustme.CA()  # doctest: +SKIP
>>> with SmtpServer(  # doctest: +SKIP
...     listener="starttls",
...     certificate=ca.issue_cert("localhost"),
...     oauth_tokens={"sender@example.com": "ya29.current-token"},
... ) as server:
...     ...  # connect to server.port; then look at server.messages and server.sessions
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import errno
import hmac
import json
import re
import ssl
import threading
from collections.abc import Callable, Collection, MutableMapping
from typing import Any, Self

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import MISSING, SMTP, AuthResult, Envelope, LoginPassword, Session

from local.smtp_records import (
    Faults,
    Listener,
    OAuthRefusal,
    ReceivedMessage,
    RecordedSession,
    TokenAttempt,
    free_port,
)

__all__ = [
    "TOKEN_MECHANISMS",
    "Faults",
    "Listener",
    "OAuthRefusal",
    "ReceivedMessage",
    "RecordedSession",
    "SmtpServer",
    "TokenAttempt",
    "free_port",
]

TOKEN_MECHANISMS = ("OAUTHBEARER", "XOAUTH2")
_AUTH_LINE_LIMIT = 12288
"""RFC 4954 §4: an AUTH command line may be this long (a token makes it longer than 512)."""
_TOKEN_CHALLENGE = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
_TOKEN_REFUSALS: dict[OAuthRefusal, str] = {
    "google": "535 5.7.8 Username and Password not accepted. For more information, go to "
    "https://support.google.com/mail/?p=BadCredentials",
    "microsoft": "535 5.7.3 Authentication unsuccessful",
}
_SASLNAME_ESCAPE = re.compile(r"=2C|=3D")


class _RecordingSMTP(SMTP):
    def __init__(self, recorder: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder = recorder
        self.session_record = RecordedSession()
        recorder.sessions.append(self.session_record)
        recorder.connections.append(self)
        self.hang_up_before_next = False
        """Close the connection instead of answering the next command (after a message)."""

    def _record(self, verb: str) -> None:
        ssl_object = self.transport.get_extra_info("ssl_object") if self.transport else None
        self.session_record.commands.append((verb, ssl_object.version() if ssl_object else None))

    async def smtp_EHLO(self, arg: str) -> None:
        self._record("EHLO")
        self.session_record.ehlo_names.append(arg)
        if self._recorder.faults.ehlo_reply:
            await self.push(self._recorder.faults.ehlo_reply)
            return
        await super().smtp_EHLO(arg)

    async def smtp_HELO(self, arg: str) -> None:
        self._record("HELO")
        await super().smtp_HELO(arg)

    async def smtp_STARTTLS(self, arg: str) -> None:
        self._record("STARTTLS")
        await super().smtp_STARTTLS(arg)

    async def smtp_AUTH(self, arg: str) -> None:
        self._record("AUTH")
        await super().smtp_AUTH(arg)
        record = self.session_record
        if self.session is not None and self.session.authenticated and not record.auth_mechanism:
            record.auth_mechanism = arg.split()[0].upper()
            login = self.session.auth_data
            record.auth_login = login.decode() if isinstance(login, bytes) else None

    async def smtp_MAIL(self, arg: str) -> None:
        if self.hang_up_before_next and self.transport is not None:
            self.transport.close()  # a command pipelined behind the message gets no answer
            return
        self._record("MAIL")
        # Test instrumentation: what the client sent without waiting for this reply.
        waiting = bytes(self._reader._buffer)  # type: ignore[attr-defined]
        self.session_record.pipelined.append(waiting.upper().startswith(b"RCPT"))
        await super().smtp_MAIL(arg)

    async def smtp_RCPT(self, arg: str) -> None:
        self._record("RCPT")
        await super().smtp_RCPT(arg)

    async def smtp_DATA(self, arg: str) -> None:
        self._record("DATA")
        await super().smtp_DATA(arg)

    async def smtp_RSET(self, arg: str) -> None:
        self._record("RSET")
        await super().smtp_RSET(arg)

    async def smtp_QUIT(self, arg: str) -> None:
        self._record("QUIT")
        await super().smtp_QUIT(arg)


class _TokenSMTP(_RecordingSMTP):
    """A server that also takes OAuth 2.0 tokens: ``SmtpServer.oauth_tokens``."""

    # The reader's bound on any line: an AUTH line with a token is longer than RFC 5321's.
    line_length_limit = _AUTH_LINE_LIMIT + 2

    def __init__(self, recorder: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(recorder, *args, **kwargs)
        self.line_length_limit = SMTP.line_length_limit  # a DATA line's bound stays RFC 5321's
        # An instance's own limits (aiosmtpd's are one mapping for every server).
        self.command_size_limits = collections.defaultdict(
            lambda: SMTP.command_size_limit, {"AUTH": _AUTH_LINE_LIMIT}
        )

    async def auth_XOAUTH2(self, _: SMTP, args: list[str]) -> AuthResult:
        response = await self._client_response(args)
        if response is None:
            return AuthResult(success=False, handled=True)
        fields = response.split(b"\x01")
        if (
            len(fields) != 4
            or fields[2:] != [b"", b""]
            or not fields[0].startswith(b"user=")
            or not fields[1].startswith(b"auth=Bearer ")
        ):
            return _malformed("XOAUTH2")
        mailbox, token = fields[0][5:].decode(), fields[1][12:].decode()
        return await self._check_token("XOAUTH2", mailbox, token)

    async def auth_OAUTHBEARER(self, _: SMTP, args: list[str]) -> AuthResult:
        response = await self._client_response(args)
        if response is None:
            return AuthResult(success=False, handled=True)
        # RFC 7628 §3.1: gs2-header %x01 *(key "=" value %x01) %x01
        gs2, _separator, rest = response.decode().partition("\x01")
        header = gs2.split(",")
        pairs = rest.split("\x01")
        if (
            len(header) != 3
            or header[0] != "n"
            or not header[1].startswith("a=")
            or header[2]
            or pairs[-2:] != ["", ""]
        ):
            return _malformed("OAUTHBEARER")
        values = dict(pair.partition("=")[::2] for pair in pairs[:-2])
        if not values.get("auth", "").startswith("Bearer "):
            return _malformed("OAUTHBEARER")
        mailbox = _SASLNAME_ESCAPE.sub(lambda m: {"=2C": ",", "=3D": "="}[m[0]], header[1][2:])
        token = values["auth"].removeprefix("Bearer ")
        return await self._check_token(
            "OAUTHBEARER", mailbox, token, host=values.get("host"), port=values.get("port")
        )

    async def _client_response(self, args: list[str]) -> bytes | None:
        """The initial response given with AUTH, or asked for; ``None`` if refused already."""
        if len(args) == 1:
            response = await self.challenge_auth("")
            return None if response is MISSING else response
        try:
            return base64.b64decode(args[1], validate=True)
        except binascii.Error:
            await self.push("501 5.5.2 Can't decode base64")
            return None

    async def _check_token(
        self,
        mechanism: str,
        mailbox: str,
        token: str,
        *,
        host: str | None = None,
        port: str | None = None,
    ) -> AuthResult:
        valid = self._recorder.oauth_tokens.get(mailbox)
        attempts = self.session_record.token_attempts
        if valid is not None and hmac.compare_digest(valid.encode(), token.encode()):
            attempts.append(TokenAttempt(mechanism, mailbox, True, host=host, port=port))
            return AuthResult(success=True, auth_data=mailbox.encode())
        answer: bytes | None = None
        if self._recorder.oauth_refusal == "google":
            challenge = json.dumps(_TOKEN_CHALLENGE, separators=(",", ":"))
            said = await self.challenge_auth(challenge)  # the client must answer it
            if said is MISSING:  # aborted ("*") or not base64: answered already
                attempts.append(TokenAttempt(mechanism, mailbox, False, host=host, port=port))
                return AuthResult(success=False, handled=True)
            assert isinstance(said, bytes)
            answer = said
        attempts.append(
            TokenAttempt(mechanism, mailbox, False, host=host, port=port, challenge_answer=answer)
        )
        message = _TOKEN_REFUSALS[self._recorder.oauth_refusal]
        return AuthResult(success=False, handled=False, message=message)


def _malformed(mechanism: str) -> AuthResult:
    return AuthResult(success=False, handled=False, message=f"501 5.5.2 Malformed {mechanism}")


class _Handler:
    def __init__(self, recorder: SmtpServer) -> None:
        self._recorder = recorder
        self._refused_once: set[str] = set()
        self._greeted: set[int] = set()
        self._all_here: asyncio.Event | None = None

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        session.host_name = hostname
        await self._barrier(session)
        if self._recorder.pipelining:
            # aiosmtpd reads pipelined commands but does not say so (RFC 2920).
            responses.insert(-1, "250-PIPELINING")
        return responses

    async def _barrier(self, session: Session) -> None:
        """Hold the first EHLO of each session until ``Faults.ehlo_barrier`` sessions came."""
        wanted = self._recorder.faults.ehlo_barrier
        if not wanted or id(session) in self._greeted:
            return
        self._greeted.add(id(session))
        if self._all_here is None:
            self._all_here = asyncio.Event()
        if len(self._greeted) >= wanted:
            self._all_here.set()
        await self._all_here.wait()

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        if self._recorder.faults.mail_reply:
            return self._recorder.faults.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 OK"

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        faults = self._recorder.faults
        refusal = faults.rcpt_replies.get(address) or faults.rcpt_reply
        if address in faults.first_rcpt_replies and address not in self._refused_once:
            self._refused_once.add(address)
            refusal = faults.first_rcpt_replies[address]
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        faults = self._recorder.faults
        if faults.drop_in_data:
            assert server.transport is not None
            server.transport.close()
            return "421 4.4.2 dropped"
        if faults.data_reply:
            return faults.data_reply
        assert server.transport is not None
        ssl_object = server.transport.get_extra_info("ssl_object")
        login = session.auth_data
        assert isinstance(server, _RecordingSMTP)
        self._recorder.accept(
            ReceivedMessage(
                mail_from=envelope.mail_from or "",
                rcpt_tos=tuple(envelope.rcpt_tos),
                content=envelope.original_content or b"",
                tls_version=ssl_object.version() if ssl_object else None,
                auth_login=login.decode() if isinstance(login, bytes) else None,
                mail_options=tuple(envelope.mail_options),
                auth_mechanism=server.session_record.auth_mechanism,
            )
        )
        if faults.hang_up_after_message:
            # Runs once this reply is written; a command already read is not answered either.
            server.hang_up_before_next = True
            asyncio.get_running_loop().call_soon(server.transport.close)
        return "250 2.0.0 OK: queued"


class SmtpServer:
    """An aiosmtpd server on ``127.0.0.1``, started with ``with`` or :meth:`start`.

    Parameters
    ----------
    listener:
        ``"starttls"``: cleartext greeting, STARTTLS offered (AUTH only after it);
        ``"plain"``: no STARTTLS at all (AUTH in cleartext); ``"smtps"``: implicit TLS.
    certificate:
        The server's certificate (a trustme ``LeafCert``); required but for ``"plain"``.
    username, password:
        The one account AUTH accepts.
    faults:
        Replies to give instead of accepting.
    smtputf8:
        Offer SMTPUTF8 (non-ASCII mailboxes).
    pipelining:
        Offer PIPELINING (as the common providers do).
    on_message:
        Called with each accepted message (in the server's thread), after it is recorded.
    oauth_tokens:
        Mailbox → the one OAuth 2.0 access token valid for it now (change it to rotate or
        revoke a token: each AUTH reads it). With it the server offers ``oauth_mechanisms``
        too, and refuses any other token as ``oauth_refusal`` says.
    oauth_mechanisms:
        The token mechanisms offered (of :data:`TOKEN_MECHANISMS`).
    oauth_refusal:
        How a token is refused (:data:`~local.smtp_records.OAuthRefusal`).
    """

    def __init__(
        self,
        *,
        listener: Listener,
        certificate: trustme.LeafCert | None = None,
        username: str = "user",
        password: str = "secret",  # noqa: S107 (a test account)
        faults: Faults | None = None,
        smtputf8: bool = True,
        pipelining: bool = True,
        port: int | None = None,
        on_message: Callable[[ReceivedMessage], None] | None = None,
        oauth_tokens: MutableMapping[str, str] | None = None,
        oauth_mechanisms: Collection[str] = TOKEN_MECHANISMS,
        oauth_refusal: OAuthRefusal = "google",
    ) -> None:
        self.listener = listener
        self.username = username
        self.password = password
        self.faults = faults or Faults()
        self.pipelining = pipelining
        self.oauth_tokens: MutableMapping[str, str] = {} if oauth_tokens is None else oauth_tokens
        self.oauth_refusal: OAuthRefusal = oauth_refusal
        self._smtp_class = _RecordingSMTP if oauth_tokens is None else _TokenSMTP
        self.port = port or free_port()
        self.host = "127.0.0.1"
        self.sessions: list[RecordedSession] = []
        self.connections: list[SMTP] = []
        self.messages: list[ReceivedMessage] = []
        self.server_names: list[str | None] = []
        """The SNI name of each TLS handshake (``None`` when the client sent none)."""
        self._lock = threading.Lock()
        self._on_message = on_message
        tls_context = None
        if listener != "plain":
            if certificate is None:
                raise ValueError(f"a {listener} server needs a certificate")
            tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
            certificate.configure_cert(tls_context)
            tls_context.sni_callback = self._on_handshake
        self._options: dict[str, Any] = {
            "ssl_context": tls_context if listener == "smtps" else None,
            "tls_context": tls_context if listener == "starttls" else None,
            "authenticator": self._authenticate,
            "auth_require_tls": listener == "starttls",
            "enable_SMTPUTF8": smtputf8,
            "auth_exclude_mechanism": [m for m in TOKEN_MECHANISMS if m not in oauth_mechanisms],
        }
        self._fixed_port = port is not None
        self._controller = self._make_controller()
        self._running = False

    def _make_controller(self) -> _RecordingController:
        return _RecordingController(
            self, _Handler(self), hostname=self.host, port=self.port, **self._options
        )

    def start(self) -> Self:
        for attempt in range(5):
            try:
                self._controller.start()
                break
            except OSError as exc:
                # The free port was taken between the probe and the bind: try another one.
                self._controller.loop.close()
                if self._fixed_port or exc.errno != errno.EADDRINUSE or attempt == 4:
                    raise
                self.port = free_port()
                self._controller = self._make_controller()
        self._running = True
        # aiosmtpd opens one connection of its own to see that the server is up.
        self.sessions.clear()
        self.server_names.clear()
        return self

    def stop(self) -> None:
        """Hang up on every client still connected, then stop listening."""
        if self._running:
            loop = self._controller.loop
            asyncio.run_coroutine_threadsafe(self._hang_up(), loop).result(timeout=5)
            self._controller.stop()
            self._running = False
        elif not self._controller.loop.is_closed():
            self._controller.loop.close()  # never started: free the loop aiosmtpd made for it

    async def _hang_up(self) -> None:
        for connection in self.connections:
            if connection.transport is not None:
                connection.transport.close()
        # Let the transports' close callbacks run before the loop stops.
        for _ in range(3):
            await asyncio.sleep(0)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def accept(self, message: ReceivedMessage) -> None:
        """Record an accepted message and pass it to ``on_message``."""
        self.messages.append(message)
        if self._on_message is not None:
            self._on_message(message)

    @property
    def client_sessions(self) -> list[RecordedSession]:
        """The sessions in which the client sent at least one command."""
        return [session for session in self.sessions if session.commands]

    def _on_handshake(self, ssl_object: ssl.SSLObject, name: str | None, _: ssl.SSLContext) -> None:
        with self._lock:
            self.server_names.append(name)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and data.login.decode() == self.username
            and data.password.decode() == self.password
        ):
            return AuthResult(success=True, auth_data=data.login)
        # handled=False makes aiosmtpd answer 535; handled=True leaves the client hanging.
        return AuthResult(success=False, handled=False)


class _RecordingController(Controller):
    def __init__(self, recorder: SmtpServer, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recorder = recorder

    def factory(self) -> SMTP:
        smtp_class = self._recorder._smtp_class
        return smtp_class(self._recorder, self.handler, **self.SMTP_kwargs)

"""An SMTP session in exactly the security mode a connection URI names.

:class:`Transport` follows Django's SMTP backend: building one checks its settings and does no
I/O; :meth:`~Transport.open` starts a session (connect, TLS as the URI says, EHLO, AUTH; and
says whether it did), :meth:`~Transport.send_all` sends many messages over it and yields each
one's result, :meth:`~Transport.send` sends one (and raises its error), :meth:`~Transport.close`
ends it with QUIT and never raises, and ``with`` keeps one session for many messages.

The mail transactions over an open session (MAIL, RCPT, DATA; one round trip a mail when the
server offers PIPELINING; each reply the verdict on its own mail and step) are
:mod:`courier.transactions`'s: :meth:`~Transport.send_all` hands them its connection.

Four rules are never bent, whatever the server offers:

* ``smtp://`` requires STARTTLS: a server that does not offer it gets no AUTH, no MAIL and no
  message byte in cleartext.
* ``disable_starttls=true`` never upgrades, even when the server offers STARTTLS.
* AUTH is sent only after TLS in every mode but ``disable_starttls``: a password, and an
  OAuth 2.0 access token (``auth=xoauth2`` or ``auth=oauthbearer``) alike.
* A client certificate is presented in every TLS mode; a URI that never speaks TLS with a
  client certificate is refused when the transport is built (Kratos would send without it).

Every read and write of a session ends by the deadline given to :meth:`~Transport.open`,
:meth:`~Transport.send` or :meth:`~Transport.send_all` (:mod:`courier.smtp_client`), not only by
the per-reply timeout.

A token login (:mod:`courier.sasl`) asks the :data:`TokenSource` for the current token; when
the server refuses it, for a new one, once. The token is a secret as the password is: no error,
hint, ``repr()``, chained exception or reply handed to ``on_reply`` holds it, nor its base64.

Every ``smtplib``, ``ssl`` and socket failure leaves this module (and
:mod:`courier.transactions`) as an :class:`~courier.errors.SmtpError` that names the step and the
reply, and says whether the whole message had been sent when the connection was lost
(``maybe_accepted``).
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from email.message import EmailMessage
from functools import cached_property
from types import TracebackType
from typing import Self

from courier.deadline import Deadline
from courier.errors import (
    ConfigError,
    CourierError,
    SmtpConnectError,
    SmtpError,
    SmtpTlsError,
    Step,
    step_error,
)
from courier.network import resolve_smtp_host
from courier.ports import IMPLICIT_TLS_PORTS, port_list
from courier.sasl import TokenLogin, TokenSource, check_offered, check_token
from courier.smtp_client import BoundedSMTP
from courier.smtp_failures import check_reply, translated
from courier.tls import (
    CLIENT_CERT_FIELD,
    ClientCertificate,
    build_ssl_context,
    check_client_certificate_mode,
    start_building_ssl_context,
)
from courier.transactions import OutgoingMail, Transactions, check_envelope, queue_id
from courier.uri import AuthMechanism, ConnectionUri, Security

__all__ = [
    "OutgoingMail",
    "ReplyListener",
    "TokenSource",
    "Transport",
    "build_ssl_context",
    "queue_id",
]

_QUIT_SECONDS = 1.0
"""QUIT is a courtesy: the session is over whatever the server answers."""

ReplyListener = Callable[[Step, int, str], None]
"""Called with ``(step, code, text)`` for each reply that moves a session on: the greeting
(``Step.CONNECT``), each EHLO, STARTTLS's (``Step.TLS``), AUTH's, and a message's MAIL and RCPT
replies and the final reply to its DATA (``354`` is not reported)."""


class Transport:
    """One SMTP session at a time with the server of a :class:`ConnectionUri`.

    Parameters
    ----------
    uri:
        Where to connect, how to secure the session and whom to AUTH as.
    timeout:
        Seconds each step may take: the connection, the TLS handshake, each write and each
        whole reply. A message's deadline (``deadline=`` of :meth:`open` and :meth:`send`)
        bounds all of them together.
    local_hostname:
        The name given in EHLO.
    allow_private_hosts:
        Connect to hosts on private, loopback or link-local addresses (the SSRF guard off).
    on_reply:
        Told each reply that moves a session on (:data:`ReplyListener`), e.g. to report a
        session step by step.
    client_certificate:
        The certificate (mTLS) to present in the TLS handshake, checked by
        :func:`~courier.tls.load_client_certificate`.
    token_source:
        The access token of a token login (:data:`TokenSource`); required when the URI says
        ``auth=``, unused otherwise.

    Raises
    ------
    ConfigError
        ``timeout_not_positive``, ``local_name_invalid``, ``client_cert_without_tls`` (a
        client certificate with ``disable_starttls=true``), or ``oauth2_settings_missing`` (a
        URI with ``auth=`` and no ``token_source``).

    Example
    -------
    >>> uri = ConnectionUri.parse("smtps://user:secret@smtp.example.com/")
    >>> with Transport(uri, timeout=10) as transport:  # doctest: +SKIP
    ...     transport.send(message, sender="no-reply@example.com", recipient="a@example.org")
    """

    def __init__(
        self,
        uri: ConnectionUri,
        *,
        timeout: float,
        local_hostname: str = "localhost",
        allow_private_hosts: bool = False,
        on_reply: ReplyListener | None = None,
        client_certificate: ClientCertificate | None = None,
        token_source: TokenSource | None = None,
    ) -> None:
        if not timeout > 0:
            raise ConfigError("timeout", "timeout_not_positive", f"{timeout!r} must be > 0")
        if not local_hostname or any(c.isspace() for c in local_hostname):
            raise ConfigError(
                "smtp.local_name",
                "local_name_invalid",
                f"{local_hostname!r} is not a host name to give in EHLO",
            )
        check_client_certificate_mode(uri, client_certificate, field=CLIENT_CERT_FIELD)
        if uri.auth is not None and token_source is None:
            raise ConfigError(
                "smtp.oauth2",
                "oauth2_settings_missing",
                f"the connection URI says auth={uri.auth} (an OAuth 2.0 token login), and there "
                "are no token settings to get a token with: put them in the SecureString "
                "…/smtp/oauth2, or remove auth= from the URI to log in with a password",
            )
        self.uri = uri
        self.timeout = timeout
        self.local_hostname = local_hostname
        self.allow_private_hosts = allow_private_hosts
        self.on_reply = on_reply
        self.client_certificate = client_certificate
        self.token_source = token_source
        self.connection: BoundedSMTP | None = None
        self._endpoint = uri.redacted()

    @cached_property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS policy, shared by implicit TLS and STARTTLS."""
        return build_ssl_context(self.uri, self.client_certificate)

    @property
    def is_open(self) -> bool:
        """Whether a session is open."""
        return self.connection is not None

    def open(self, *, deadline: Deadline | None = None) -> bool:
        """Connect, secure the session as the URI says, EHLO and AUTH.

        Parameters
        ----------
        deadline:
            When all of it must be done; only the per-step ``timeout`` bounds it otherwise.

        Returns
        -------
        bool
            ``True`` if a session was opened, ``False`` if one was open already.

        Raises
        ------
        SmtpError
            The step that failed; the socket is closed.
        CourierError
            What the :data:`TokenSource` raised, as it is; the socket is closed, and nothing
            was sent after the EHLO that came before.
        """
        if self.connection is not None:
            return False
        # The trust store loads while the server is reached (the context is needed at TLS).
        start_building_ssl_context(self.uri, self.client_certificate)
        connection = self._connect(deadline or Deadline.never())
        try:
            self._ehlo(connection)
            if self.uri.security is Security.STARTTLS:
                self._starttls(connection)
                self._ehlo(connection)
            if self.uri.auth is not None:
                self._token_login(connection, self.uri.auth)
            elif self.uri.credentials is not None:
                self._login(connection, *self.uri.credentials)
        except BaseException:
            connection.close()
            raise
        self.connection = connection
        return True

    def close(self, *, deadline: Deadline | None = None) -> None:
        """End the session with QUIT (waiting at most a second, or until ``deadline``); never
        raises."""
        if self.connection is None:
            return
        self.connection.deadline = (deadline or Deadline.never()).sooner(_QUIT_SECONDS)
        try:
            self.connection.quit()
        except (smtplib.SMTPException, OSError):
            self.connection.close()
        finally:
            self.connection = None

    def send(
        self,
        message: EmailMessage,
        *,
        sender: str,
        recipient: str,
        deadline: Deadline | None = None,
    ) -> str:
        """Send ``message`` from the envelope ``sender`` to ``recipient``, opening if needed.

        The envelope is given apart from the headers, which are sent as they are. This is
        :meth:`send_all` with one mail, raising its error instead of returning it.

        Parameters
        ----------
        deadline:
            When the whole message (opening the session included) must be done.

        Returns
        -------
        str
            The text of the server's ``250`` to the message (its queue id, often).

        Raises
        ------
        MessageError
            The envelope cannot be put into SMTP commands (CR/LF, non-ASCII the server cannot
            take); nothing was sent (with CR/LF, not even a connection made).
        SmtpError
            The step that failed. After a refusal the session stays usable for the next
            message (a refused command is followed by RSET; a refused final dot ends the
            transaction by itself); after a timeout, a lost connection, a 421 or an answer that
            is not SMTP it is closed. An error with
            ``maybe_accepted`` came after the whole message was sent: the server may have kept
            it.
        """
        mail = OutgoingMail(email=message, sender=sender, recipient=recipient)
        check_envelope(mail)
        [(_, result)] = self.send_all(iter((mail,)), deadline=deadline)
        if isinstance(result, CourierError):
            raise result
        return result

    def send_all(
        self, mails: Iterator[OutgoingMail], *, deadline: Deadline | None = None
    ) -> Iterator[tuple[OutgoingMail, str | CourierError]]:
        """Send each of ``mails`` over one session, opening it if needed; yield each mail with
        its result.

        With PIPELINING (RFC 2920 §3.1) a mail takes one round trip: its content and final dot
        go out in one write with the next mail's MAIL, RCPT and DATA, and then the replies to
        both are read. Without it, each command waits for its reply.

        Parameters
        ----------
        mails:
            Pulled one at a time, only when the next mail is about to be written (with
            PIPELINING: right before the previous mail's content, which waits for it), never
            more than one ahead. It may block.
        deadline:
            When all of it (opening the session included) must be done.

        Yields
        ------
        tuple[OutgoingMail, str | CourierError]
            Every mail pulled, in the order pulled, with the text of the server's ``250`` to
            its final dot, or its :class:`~courier.errors.MessageError` (nothing of it was
            sent) or :class:`~courier.errors.SmtpError` (as :meth:`send` raises it). A mail
            whose MAIL, RCPT and DATA were written but not all answered when the session ended
            (a timeout, a lost connection, a 421 to the mail before it) has an error at
            ``Step.MAIL`` that is not ``maybe_accepted`` and says the session ended before the
            server answered: it can be sent again on a new session. Once the session ended
            nothing more is pulled or yielded, and :attr:`is_open` is ``False``.

        Raises
        ------
        SmtpError, ConfigError
            The session could not be opened (when iteration starts; no mail was pulled).

        Notes
        -----
        Leaving the iteration early while a mail is half-way (the server waits for its
        content) closes the connection without a final dot: that mail was pulled but is
        neither sent nor yielded.

        Example
        -------
        >>> mail = OutgoingMail(email=message, sender=from_, recipient=to)  # doctest: +SKIP
        >>> for mail, result in transport.send_all(iter([mail])):  # doctest: +SKIP
        ...     print(mail.recipient, queue_id(result) if isinstance(result, str) else result)
        """
        self.open(deadline=deadline)
        connection = self.connection
        assert connection is not None
        connection.deadline = deadline or Deadline.never()
        yield from Transactions(self, connection).send_all(mails)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # The steps of a session.

    def _connect(self, deadline: Deadline) -> BoundedSMTP:
        addresses = resolve_smtp_host(
            self.uri.host,
            self.uri.port,
            allow_private=self.allow_private_hosts,
            endpoint=self._endpoint,
        )
        error: SmtpConnectError | None = None
        for address, port in addresses:
            connection = self._new_connection()
            connection.deadline = deadline
            try:
                with self._translate(Step.CONNECT, connection):
                    code, greeting = connection.connect(address, port)
            except SmtpConnectError as exc:
                error = exc  # try the host's next address
                continue
            try:
                self._expect(Step.CONNECT, {220}, code, greeting)
            except SmtpError:
                connection.close()
                raise
            # Each command is a small write: don't let Nagle's algorithm hold one back.
            if connection.sock is not None:
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._heard(Step.CONNECT, code, greeting)
            return connection
        assert error is not None
        raise error

    def _new_connection(self) -> BoundedSMTP:
        implicit = self.uri.security is Security.IMPLICIT_TLS
        return BoundedSMTP(
            timeout=self.timeout,
            local_hostname=self.local_hostname,
            implicit_tls=self.ssl_context if implicit else None,
        )

    def _ehlo(self, connection: smtplib.SMTP) -> None:
        with self._translate(Step.EHLO, connection):
            code, reply = connection.ehlo()
        self._expect(Step.EHLO, {250}, code, reply)
        self._heard(Step.EHLO, code, reply)

    def _starttls(self, connection: smtplib.SMTP) -> None:
        if not connection.has_extn("starttls"):
            raise SmtpTlsError(
                "the server does not offer STARTTLS, and smtp:// never falls back to cleartext",
                endpoint=self._endpoint,
                hint="If the port expects TLS from the first byte (such as "
                f"{port_list(IMPLICIT_TLS_PORTS)}), use smtps://; to send in cleartext on "
                "purpose, set disable_starttls=true",
            )
        with self._translate(Step.TLS, connection):
            code, reply = connection.starttls(context=self.ssl_context)
        self._heard(Step.TLS, code, reply)

    def _login(self, connection: smtplib.SMTP, username: str, password: str) -> None:
        self._check_auth_allowed(connection)
        if not connection.has_extn("auth"):
            raise step_error(
                Step.AUTH,
                None,
                "the server offers no AUTH, but the connection URI has a user",
                endpoint=self._endpoint,
                hint="Remove the user and password from the URI if the server needs no login",
            )
        with self._translate(Step.AUTH, connection):
            code, reply = connection.login(username, password)
        self._heard(Step.AUTH, code, reply)

    def _token_login(self, connection: BoundedSMTP, mechanism: AuthMechanism) -> None:
        self._check_auth_allowed(connection)
        offered = connection.esmtp_features.get("auth", "")
        check_offered(offered, mechanism, endpoint=self._endpoint)
        assert self.token_source is not None
        assert self.uri.token_user is not None
        for refresh in (False, True):
            login = TokenLogin(
                mechanism=mechanism,
                mailbox=self.uri.token_user,
                host=self.uri.host,
                port=self.uri.port,
                token=check_token(self.token_source(refresh), mechanism),
            )
            with self._translate(Step.AUTH, connection):
                code, reply = connection.auth_reply(login.name, login)
            reply = login.scrub(reply)  # a server may echo the command, the token in it
            if code in (235, 503):
                self._heard(Step.AUTH, code, reply)
                return
            if not login.refused_token(code):  # a 4xx, a reply that is not SMTP: no new token
                self._expect(Step.AUTH, {235, 503}, code, reply)
        raise login.refusal_error(code, reply, endpoint=self._endpoint)

    def _check_auth_allowed(self, connection: smtplib.SMTP) -> None:
        if self.uri.uses_tls and not isinstance(connection.sock, ssl.SSLSocket):
            raise SmtpTlsError("refusing to AUTH before TLS", endpoint=self._endpoint)

    def _heard(self, step: Step, code: int, reply: bytes) -> None:
        if self.on_reply is not None:
            self.on_reply(step, code, reply.decode("utf-8", "replace"))

    def _expect(self, step: Step, accepted: set[int], code: int, reply: bytes) -> None:
        check_reply(step, accepted, code, reply, endpoint=self._endpoint)

    def _translate(self, step: Step, connection: smtplib.SMTP) -> AbstractContextManager[None]:
        # Until open() returns, the connection is not the session's: a lost one is only closed.
        return translated(step, self.uri, endpoint=self._endpoint, on_lost=connection.close)

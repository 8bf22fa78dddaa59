"""What ``smtplib``, ``ssl`` and socket failures mean: one translation into the error tree.

The transport runs every step of a session inside :func:`translated`, and checks every reply
with :func:`check_reply`; nothing else turns a library exception or an unexpected reply into
an :class:`~courier.errors.SmtpError`, so each failure is described (and hinted at) once.

Example
-------
>>> check_reply(Step.RCPT, {250, 251}, 550, b"5.1.1 no such user", endpoint="smtp://mx:587/")
Traceback (most recent call last):
...
courier.errors.SmtpRecipientRefusedError: SMTP RCPT failed at smtp://mx:587/: 550 5.1.1 no such user
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from courier.errors import (
    SmtpDisconnectedError,
    SmtpProtocolError,
    SmtpTimeoutError,
    SmtpTlsError,
    Step,
    step_error,
)
from courier.ports import IMPLICIT_TLS_PORTS, STARTTLS_PORTS, port_list
from courier.smtp_client import ConnectTimeout, DeadlineReached, StartTlsInjection, TlsRefused
from courier.tls import CLIENT_CERT_FIELD, CLIENT_KEY_FIELD
from courier.uri import ConnectionUri, Security

__all__ = ["check_reply", "translated"]

_CERTIFICATE_HINT = (
    "If the certificate is issued for another name, set server_name=<that name>; to skip "
    "verification (not recommended) set skip_ssl_verify=true"
)
_CLIENT_CERTIFICATE_HINT = (
    f"The server may require a client certificate (set {CLIENT_CERT_FIELD} and "
    f"{CLIENT_KEY_FIELD}), or refuse the one presented (one its CA did not issue, expired, or "
    "for another use)"
)
# TLS alerts a server sends about the client's certificate (OpenSSL's reason names).
_CLIENT_CERTIFICATE_ALERTS = frozenset(
    {"TLSV13_ALERT_CERTIFICATE_REQUIRED", "SSLV3_ALERT_BAD_CERTIFICATE"}
    | {"SSLV3_ALERT_CERTIFICATE_UNKNOWN", "SSLV3_ALERT_CERTIFICATE_EXPIRED"}
    | {"SSLV3_ALERT_CERTIFICATE_REVOKED", "SSLV3_ALERT_UNSUPPORTED_CERTIFICATE"}
    | {"TLSV1_ALERT_UNKNOWN_CA", "TLSV1_ALERT_ACCESS_DENIED"}
)


def check_reply(
    step: Step,
    accepted: set[int],
    code: int,
    reply: bytes,
    *,
    endpoint: str,
    maybe_accepted: bool = False,
) -> None:
    """Raise the error of ``step`` unless the server's reply ``code`` is ``accepted``.

    ``maybe_accepted`` marks a reply that is not SMTP at all, after the final dot: the server
    may have kept the message.
    """
    if code in accepted:
        return
    if code == -1:  # smtplib's code for a line that does not start with three digits
        shown = reply.decode("utf-8", "replace")[:200]
        raise SmtpProtocolError(
            f"the server's answer is not an SMTP reply: {shown!r}",
            endpoint=endpoint,
            step=step,
            maybe_accepted=maybe_accepted,
        )
    raise step_error(step, code, reply, endpoint=endpoint)


@contextmanager
def translated(
    step: Step,
    uri: ConnectionUri,
    *,
    endpoint: str,
    on_lost: Callable[[], None],
    maybe_accepted: bool = False,
) -> Iterator[None]:
    """Turn what ``smtplib``, ``ssl`` and sockets raise during ``step`` into an SmtpError.

    Parameters
    ----------
    step:
        The session step under way.
    uri, endpoint:
        The connection URI (for hints) and its redacted form (for messages).
    on_lost:
        Called when the connection is gone (timed out or lost), before raising.
    maybe_accepted:
        The whole message was sent, so a lost or timed-out connection leaves its fate
        unknown.
    """
    try:
        yield
    except smtplib.SMTPResponseException as exc:
        raise step_error(step, exc.smtp_code, exc.smtp_error, endpoint=endpoint) from exc
    except StartTlsInjection as exc:
        raise SmtpTlsError(
            f"{exc}: refusing to go on (a plaintext injection)", endpoint=endpoint
        ) from exc
    except TlsRefused as exc:
        on_lost()
        raise SmtpTlsError(str(exc), endpoint=endpoint, hint=_CLIENT_CERTIFICATE_HINT) from exc
    except ssl.SSLCertVerificationError as exc:
        raise SmtpTlsError(
            f"the certificate of {uri.tls_server_name} is not trusted ({exc.verify_message})",
            endpoint=endpoint,
            hint=_CERTIFICATE_HINT,
        ) from exc
    except ssl.SSLError as exc:
        hint = None
        if exc.reason in _CLIENT_CERTIFICATE_ALERTS:
            hint = _CLIENT_CERTIFICATE_HINT
        elif uri.security is Security.IMPLICIT_TLS:
            hint = (
                f"The server did not speak TLS on connect; if port {uri.port} is a "
                f"STARTTLS port (such as {port_list(STARTTLS_PORTS)}), use smtp:// instead of "
                "smtps://"
            )
        raise SmtpTlsError(
            f"TLS handshake failed ({exc.reason or exc})", endpoint=endpoint, hint=hint
        ) from exc
    except TimeoutError as exc:
        on_lost()
        raise _timeout_error(
            step, exc, uri, endpoint=endpoint, maybe_accepted=maybe_accepted
        ) from None
    except (smtplib.SMTPServerDisconnected, OSError) as exc:
        on_lost()
        if step is Step.CONNECT and not isinstance(exc, smtplib.SMTPException):
            raise step_error(step, None, _describe(exc), endpoint=endpoint) from exc
        raise SmtpDisconnectedError(
            f"the connection was lost ({exc})",
            endpoint=endpoint,
            step=step,
            maybe_accepted=maybe_accepted,
        ) from exc
    except smtplib.SMTPException as exc:
        raise step_error(step, None, str(exc), endpoint=endpoint) from exc


def _timeout_error(
    step: Step, exc: TimeoutError, uri: ConnectionUri, *, endpoint: str, maybe_accepted: bool
) -> SmtpTimeoutError:
    hint = None
    waited_for_greeting = step is Step.CONNECT and not isinstance(exc, ConnectTimeout)
    if isinstance(exc, DeadlineReached):
        hint = "The server answers too slowly for the time the invocation has"
    elif waited_for_greeting and uri.security is not Security.IMPLICIT_TLS:
        hint = (
            f"The server accepted the connection but sent no greeting; if port {uri.port} "
            f"expects TLS from the first byte (such as {port_list(IMPLICIT_TLS_PORTS)}), use "
            "smtps:// instead of smtp://"
        )
    return SmtpTimeoutError(
        str(exc), endpoint=endpoint, step=step, hint=hint, maybe_accepted=maybe_accepted
    )


def _describe(exc: OSError) -> str:
    return f"{type(exc).__name__}: {exc.strerror or exc}"

"""``check_connection``: a session with the configured server up to AUTH, then QUIT.

The probe opens a :class:`~courier.transport.Transport` exactly as the sender would (the same
TLS policy, SSRF guard and timeouts) and reports each step it passed with the server's reply:
connect (the greeting), EHLO, TLS, EHLO again, TOKEN (token login's access token: where it
came from, never the token), AUTH. By itself it never sends MAIL, so no mail can be lost or
sent by accident; a caller may go on over the open session (``then=``: the test send of
:mod:`.mail_check`), whose MAIL, RCPT and DATA are reported the same way. A step that fails
ends the report, with the reply or the reason and what to do about it. A project's client
certificate (mTLS) is presented as the sender would, so a server that requires one is checked
too.

Example
-------
>>> report, error = probe(ConnectionUri.parse("smtp://u:p@127.0.0.1:2525/"),
...                       timeout=5, local_hostname="localhost", allow_private_hosts=True)
... # doctest: +SKIP
>>> [step["step"] for step in report["steps"]]  # doctest: +SKIP
['connect', 'EHLO', 'TLS', 'EHLO', 'AUTH']
"""

from __future__ import annotations

import ssl
from collections.abc import Callable

from courier.deadline import Deadline
from courier.errors import ConfigError, SmtpError, Step, TokenUnavailableError
from courier.tls import ClientCertificate
from courier.transport import TokenSource, Transport
from courier.uri import ConnectionUri, Security
from courier.validation.paths import URI_POINTER
from courier.validation.types import ConnectionReport, Finding, StepDict

__all__ = ["TOKEN_STEP", "not_run", "probe"]

TOKEN_STEP = "TOKEN"  # noqa: S105 (a step's name)
"""The step of a connection report that got token login's access token."""
OAUTH2_POINTER = "/smtp/oauth2"
"""Where a token failure is reported: the SecureString …/smtp/oauth2, beside the URI."""


def probe(
    uri: ConnectionUri,
    *,
    timeout: float,
    local_hostname: str,
    allow_private_hosts: bool,
    client_certificate: ClientCertificate | None = None,
    deadline: Deadline | None = None,
    then: Callable[[Transport], None] | None = None,
    token_source: TokenSource | None = None,
    token_endpoint: str = "the token endpoint",  # noqa: S107 (a host, no secret)
) -> tuple[ConnectionReport, Finding | None]:
    """Run a session with ``uri``'s server up to AUTH, then QUIT; send no mail (but ``then``).

    Parameters
    ----------
    uri:
        The server, its security mode and the credentials.
    timeout:
        Seconds each socket operation may take.
    local_hostname:
        The name given in EHLO (the project's ``smtp.local_name``).
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``.
    client_certificate:
        The project's client certificate, presented in the TLS handshake.
    deadline:
        When the whole session must be over.
    then:
        Called with the open session before QUIT; an :class:`~courier.errors.SmtpError` it
        raises is reported as the failure of its step.
    token_source:
        Where a token login (``auth=``) gets its token; each fetch is reported as a ``TOKEN``
        step (where from, never the token), its failure as that step's.
    token_endpoint:
        Where the tokens come from, as the ``TOKEN`` step names it (a host, never a URL's
        query).

    Returns
    -------
    tuple[ConnectionReport, Finding | None]
        The steps, and a ``connection_failed`` error (on the URI's path) if one failed; a
        client certificate with ``disable_starttls=true`` is ``client_cert_without_tls``, with
        no step run.
    """
    steps: list[StepDict] = []

    def heard(step: Step, code: int, reply: str) -> None:
        shown = _shown_reply(code, reply)
        if step is Step.TLS:
            shown = f"{shown}; {certificates}"
        steps.append({"step": str(step), "ok": True, "reply": shown})
        if step is Step.CONNECT and uri.security is Security.IMPLICIT_TLS:
            # SMTP_SSL finished the handshake before the greeting could arrive.
            tls = f"TLS from the first byte; {certificates}"
            steps.append({"step": str(Step.TLS), "ok": True, "reply": tls})

    certificates = _certificates(uri, client_certificate)
    reported_source = (
        None if token_source is None else _reported(token_source, token_endpoint, steps)
    )
    try:
        transport = Transport(
            uri,
            timeout=timeout,
            local_hostname=local_hostname,
            allow_private_hosts=allow_private_hosts,
            on_reply=heard,
            client_certificate=client_certificate,
            token_source=reported_source,
        )
    except ConfigError as exc:
        return not_run(uri), Finding.error(URI_POINTER, exc.code, exc.message)
    tls_version: str | None = None
    error: Finding | None = None
    try:
        transport.open(deadline=deadline)
        if uri.credentials is None and uri.auth is None:
            steps.append({"step": str(Step.AUTH), "ok": True, "reply": "not sent: no user"})
        socket = transport.connection.sock if transport.connection is not None else None
        tls_version = socket.version() if isinstance(socket, ssl.SSLSocket) else None
        if then is not None:
            then(transport)
    except SmtpError as exc:
        if exc.step is Step.TLS and not steps:
            steps.append({"step": str(Step.CONNECT), "ok": True, "reply": "TCP connected"})
        reply = exc.reply if exc.code is None else f"{exc.code} {exc.reply}"
        steps.append({"step": str(exc.step), "ok": False, "reply": reply})
        error = Finding.error(URI_POINTER, "connection_failed", str(exc))
    except _TokenFailed as failed:  # reported as the TOKEN step already
        error = failed.finding
    except ConfigError as exc:  # the SSRF guard, when the host's address changed meanwhile
        steps.append({"step": str(Step.CONNECT), "ok": False, "reply": exc.message})
        error = Finding.error(URI_POINTER, exc.code, exc.message)
    finally:
        transport.close(deadline=deadline)
    report: ConnectionReport = {
        "ok": error is None,
        "endpoint": uri.redacted(),
        "tls_version": tls_version,
        "steps": steps,
        "test_mail": None,
    }
    return report, error


class _TokenFailed(Exception):
    """The token source failed (its step is reported): the check's finding."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.message)
        self.finding = finding


def _reported(token_source: TokenSource, endpoint: str, steps: list[StepDict]) -> TokenSource:
    """``token_source``, each call reported as a ``TOKEN`` step."""

    def source(refresh: bool) -> str:
        what = "a new token" if refresh else "a token"
        try:
            token = token_source(refresh)
        except ConfigError as exc:
            steps.append({"step": TOKEN_STEP, "ok": False, "reply": exc.message})
            raise _TokenFailed(Finding.error(OAUTH2_POINTER, exc.code, exc.message)) from None
        except TokenUnavailableError as exc:
            steps.append({"step": TOKEN_STEP, "ok": False, "reply": str(exc)})
            finding = Finding.error(OAUTH2_POINTER, "oauth_token_unavailable", str(exc))
            raise _TokenFailed(finding) from None
        steps.append({"step": TOKEN_STEP, "ok": True, "reply": f"{what} obtained from {endpoint}"})
        return token

    return source


def _shown_reply(code: int, reply: str) -> str:
    """``250 first line (then, the rest of the lines)``: EHLO lists what the server offers."""
    first, *rest = reply.splitlines() or [""]
    text = f"{code} {first}".rstrip()
    return f"{text} (offers {', '.join(rest)})" if rest else text


def not_run(uri: ConnectionUri) -> ConnectionReport:
    return {
        "ok": False,
        "endpoint": uri.redacted(),
        "tls_version": None,
        "steps": [],
        "test_mail": None,
    }


def _certificates(uri: ConnectionUri, client_certificate: ClientCertificate | None) -> str:
    """What the TLS step says about the server's certificate and the client's."""
    if uri.verify_certificate:
        shown = f"certificate verified for {uri.tls_server_name}"
    else:
        shown = "certificate not verified (skip_ssl_verify=true)"
    if client_certificate is not None:
        shown += "; client certificate offered"
    return shown

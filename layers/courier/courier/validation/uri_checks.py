"""Checks of a connection URI beyond its syntax: ports, TLS options, and where the host is.

:meth:`ConnectionUri.parse <courier.uri.ConnectionUri.parse>` decides what is a URI; this module
adds what a URI that parses can still get wrong on AWS Lambda: port 25 (blocked), a scheme that
does not match the port's TLS convention, options that weaken or do nothing, and a host that the
sender's SSRF guard (:func:`~courier.network.resolve_smtp_host`) would refuse.

Example
-------
>>> uri, findings = check_uri("smtp://u:p@192.0.32.10:25/", allow_private_hosts=False)
>>> [finding.code for finding in findings]
['smtp_port_blocked']
"""

from __future__ import annotations

from courier.errors import ConfigError, SmtpConnectError
from courier.network import resolve_smtp_host
from courier.ports import BLOCKED_PORT, IMPLICIT_TLS_PORTS, STARTTLS_PORTS, scheme_ports_hint
from courier.uri import ConnectionUri, Security
from courier.validation.paths import URI_POINTER
from courier.validation.types import Finding

__all__ = ["BLOCKED_PORT", "IMPLICIT_TLS_PORTS", "STARTTLS_PORTS", "check_uri"]


def check_uri(
    raw: object, *, allow_private_hosts: bool
) -> tuple[ConnectionUri | None, list[Finding]]:
    """Parse ``raw`` and check it; every finding is on the URI's path.

    Parameters
    ----------
    raw:
        The ``connection_uri`` value a patch produced.
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``: private, loopback and link-local hosts pass.

    Returns
    -------
    tuple[ConnectionUri | None, list[Finding]]
        The parsed URI (``None`` if it does not parse) and the findings: the parser's
        ``uri_*`` errors, ``smtp_port_blocked`` and ``smtp_host_not_public`` (errors);
        ``smtp_on_implicit_tls_port``, ``smtps_on_starttls_port``, ``tls_verification_disabled``,
        ``credentials_in_cleartext``, ``cleartext_session``, ``option_without_effect``,
        ``smtp_host_unresolved`` (warnings); ``port_default`` (a note).
    """
    try:
        uri = ConnectionUri.parse(raw)  # type: ignore[arg-type]  # the parser checks the type
    except ConfigError as exc:
        return None, [Finding.error(URI_POINTER, exc.code, exc.message)]
    findings = [*_port_findings(uri), *_tls_findings(uri)]
    findings.extend(_host_findings(uri, allow_private_hosts=allow_private_hosts))
    return uri, findings


def _port_findings(uri: ConnectionUri) -> list[Finding]:
    findings = []
    if uri.port == BLOCKED_PORT:
        findings.append(
            Finding.error(
                URI_POINTER,
                "smtp_port_blocked",
                f"port {BLOCKED_PORT} cannot be used: AWS Lambda cannot open outbound "
                f"connections on port {BLOCKED_PORT}. Use {scheme_ports_hint()}; every common "
                "provider offers both",
            )
        )
    elif uri.scheme == "smtp" and uri.port in IMPLICIT_TLS_PORTS:
        findings.append(
            Finding.warning(
                URI_POINTER,
                "smtp_on_implicit_tls_port",
                f"port {uri.port} is an implicit-TLS port, where the server expects TLS from "
                f"the first byte: did you mean smtps://? With smtp:// the session will wait "
                "for a greeting that never comes",
            )
        )
    elif uri.scheme == "smtps" and uri.port in STARTTLS_PORTS:
        findings.append(
            Finding.warning(
                URI_POINTER,
                "smtps_on_starttls_port",
                f"port {uri.port} is a STARTTLS port, where the server greets in cleartext "
                "first: did you mean smtp://? smtp:// still requires TLS (STARTTLS) before "
                "the password is sent",
            )
        )
    if uri.port_is_default:
        findings.append(
            Finding.note(
                URI_POINTER,
                "port_default",
                f"no port given: {uri.scheme}:// uses port {uri.port}",
            )
        )
    return findings


def _tls_findings(uri: ConnectionUri) -> list[Finding]:
    findings = []
    if uri.security is Security.CLEARTEXT:
        if uri.credentials is not None:
            findings.append(
                Finding.warning(
                    URI_POINTER,
                    "credentials_in_cleartext",
                    "disable_starttls=true with a user and password: the password and every "
                    "mail (recovery and login codes included) travel in cleartext, readable by "
                    "anyone on the path. Remove disable_starttls unless the server is on a "
                    "network you trust",
                )
            )
        else:
            findings.append(
                Finding.warning(
                    URI_POINTER,
                    "cleartext_session",
                    "disable_starttls=true: every mail (recovery and login codes included) "
                    "travels in cleartext. Remove disable_starttls unless the server is on a "
                    "network you trust",
                )
            )
        for option, set_ in (
            ("skip_ssl_verify", uri.skip_ssl_verify),
            ("server_name", uri.server_name is not None),
        ):
            if set_:
                findings.append(_without_effect(option, "the session is never encrypted"))
    elif uri.skip_ssl_verify:
        findings.append(
            Finding.warning(
                URI_POINTER,
                "tls_verification_disabled",
                "skip_ssl_verify=true: the server's certificate is not checked, so anyone on "
                "the path can pose as the server and read the password and the mail. Fix the "
                "certificate, or set server_name=<the name on the certificate> if it was "
                "issued for another name",
            )
        )
    if uri.scheme == "smtps" and uri.disable_starttls:
        findings.append(
            _without_effect("disable_starttls", "smtps:// uses TLS from the first byte")
        )
    return findings


def _without_effect(option: str, reason: str) -> Finding:
    return Finding.warning(
        URI_POINTER, "option_without_effect", f"{option} has no effect here: {reason}; remove it"
    )


def _host_findings(uri: ConnectionUri, *, allow_private_hosts: bool) -> list[Finding]:
    try:
        resolve_smtp_host(
            uri.host, uri.port, allow_private=allow_private_hosts, endpoint=uri.redacted()
        )
    except ConfigError as exc:
        return [Finding.error(URI_POINTER, exc.code, exc.message)]
    except SmtpConnectError as exc:
        return [
            Finding.warning(
                URI_POINTER,
                "smtp_host_unresolved",
                f"could not resolve the host here: {exc.reply}. Check its spelling; while it "
                "does not resolve, the sender retries and then dead-letters the mail",
            )
        ]
    return []

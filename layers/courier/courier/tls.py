"""The client TLS policy of a connection URI: one context for implicit TLS and STARTTLS.

TLS 1.2 or newer; the certificate verified against the system trust store unless the URI says
``skip_ssl_verify``; SNI and the certificate name pinned to ``server_name`` (the URI's host by
default), whatever host the TCP connection goes to.

Example
-------
>>> context = build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/?server_name=example.com"))
>>> context.minimum_version, context.server_name
(<TLSVersion.TLSv1_2: 771>, 'example.com')
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from typing import Any

from courier.uri import ConnectionUri

__all__ = ["ClientCertificate", "build_ssl_context", "load_client_certificate"]


@dataclass(frozen=True)
class ClientCertificate:
    """A client certificate (mTLS) the session presents: PEM text of the chain and its key."""

    cert_pem: str = field(repr=False)
    key_pem: str = field(repr=False)


def load_client_certificate(cert_pem: str, key_pem: str, *, field: str) -> ClientCertificate:
    """Check that ``cert_pem`` and ``key_pem`` are a PEM certificate and its private key.

    Raises
    ------
    ConfigError
        With ``field`` set: the certificate or key cannot be read, or they do not match.
    """
    raise NotImplementedError  # TODO(helper C)


class _ServerNameContext(ssl.SSLContext):
    """An SSL context that sends one fixed name as SNI and checks the certificate against it.

    ``smtplib`` passes the host it connected to as ``server_hostname`` (in ``SMTP_SSL`` and in
    ``starttls()`` alike); pinning the name here lets the TCP connection go to the URI's host
    while TLS speaks for ``server_name``, with one context for both paths.
    """

    server_name: str

    def wrap_socket(self, *args: Any, **kwargs: Any) -> ssl.SSLSocket:
        kwargs["server_hostname"] = self.server_name
        return super().wrap_socket(*args, **kwargs)


def build_ssl_context(uri: ConnectionUri) -> ssl.SSLContext:
    """The client TLS policy of ``uri``: TLS 1.2 or newer, verified unless ``skip_ssl_verify``.

    Trust comes from the system store, so ``SSL_CERT_FILE`` (or ``SSL_CERT_DIR``) points it at
    another CA bundle without a code path of its own.
    """
    context = _ServerNameContext(ssl.PROTOCOL_TLS_CLIENT)
    context.server_name = uri.tls_server_name
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    if uri.verify_certificate:
        context.load_default_certs(ssl.Purpose.SERVER_AUTH)
    else:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context

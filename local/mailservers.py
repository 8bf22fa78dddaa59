"""One real SMTP server per security mechanism of docs/design.md §2 and per token login, with a
throwaway CA.

Each mode gets its own :class:`~local.smtpd.SmtpServer` on loopback, with the listener and the
certificate that make its URI meaningful:

==  =====================  ============  ==========================================
#   mode                   listener      certificate
==  =====================  ============  ==========================================
1   starttls               STARTTLS      trusted CA, for 127.0.0.1 and localhost
2   starttls-skip-verify   STARTTLS      an unknown CA (only works unverified)
3   cleartext              no STARTTLS   none (AUTH in cleartext, as the URI asks)
4   smtps                  implicit TLS  trusted CA, for 127.0.0.1 and localhost
5   smtps-skip-verify      implicit TLS  an unknown CA
6   smtps-server-name      implicit TLS  trusted CA, for mail.courier.test only
==  =====================  ============  ==========================================

Token login (OAuth 2.0) gets servers of its own, one per :data:`TOKEN_LOGINS` entry: each
logs a client in only with the access token a local token endpoint
(:class:`~local.token_endpoint.TokenEndpoint`, HTTPS on loopback) issued last for the
project's mailbox, and takes no password:

===========  ==================  ============  =========================================
project      server (mode)       mechanism     token from
===========  ==================  ============  =========================================
xoauth2      1 STARTTLS          XOAUTH2       client credentials (as Microsoft 365)
oauthbearer  4 implicit TLS      OAUTHBEARER   a service account's JWT (as Google)
===========  ==================  ============  =========================================

Clients trust the CA, which also issued the token endpoint's certificate, through
``SSL_CERT_FILE`` = :attr:`SmtpFleet.ca_bundle`.

Example
-------
>>> with SmtpFleet(workdir=Path("out/local")) as fleet:  # doctest: +SKIP
...     fleet.uri("smtps"), fleet.uri("xoauth2")
('smtps://courier:local-secret@127.0.0.1:40123/',
 'smtp://no-reply%40xoauth2.courier.example@127.0.0.1:40127/?auth=xoauth2')
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self
from urllib.parse import quote

import trustme

from local.smtpd import (
    TOKEN_MECHANISMS,
    Faults,
    Listener,
    OAuthRefusal,
    ReceivedMessage,
    SmtpServer,
)
from local.token_endpoint import ServiceAccountKey, TokenEndpoint, make_service_account_key

__all__ = ["MODES", "SERVER_NAME", "TOKEN_LOGINS", "Mode", "SmtpFleet", "TokenLogin"]

SERVER_NAME = "mail.courier.test"
"""The only name mode 6's certificate is valid for (the URI's ``server_name``)."""

Certificate = Literal["trusted", "unknown-ca", "other-name", "none"]


@dataclass(frozen=True)
class Mode:
    """One of the six security mechanisms, as a server and a URI."""

    number: int
    name: str
    listener: Listener
    certificate: Certificate
    scheme: str
    query: str
    title: str


MODES = (
    Mode(1, "starttls", "starttls", "trusted", "smtp", "", "STARTTLS, verified"),
    Mode(
        2,
        "starttls-skip-verify",
        "starttls",
        "unknown-ca",
        "smtp",
        "?skip_ssl_verify=true",
        "STARTTLS, not verified",
    ),
    Mode(3, "cleartext", "plain", "none", "smtp", "?disable_starttls=true", "cleartext"),
    Mode(4, "smtps", "smtps", "trusted", "smtps", "", "implicit TLS, verified"),
    Mode(
        5,
        "smtps-skip-verify",
        "smtps",
        "unknown-ca",
        "smtps",
        "?skip_ssl_verify=true",
        "implicit TLS, not verified",
    ),
    Mode(
        6,
        "smtps-server-name",
        "smtps",
        "other-name",
        "smtps",
        f"?server_name={SERVER_NAME}",
        f"implicit TLS, name {SERVER_NAME}",
    ),
)
"""The six modes of docs/design.md §2, in its order."""

_MODES_BY_NAME = {mode.name: mode for mode in MODES}

Grant = Literal["client_credentials", "service_account"]


@dataclass(frozen=True, kw_only=True)
class TokenLogin:
    """A project that logs in with an OAuth 2.0 access token instead of a password, and the
    provider its server and token endpoint behave like."""

    project: str
    mode: Mode
    """The security of its server and URI (its listener, certificate and scheme)."""
    mechanism: Literal["XOAUTH2", "OAUTHBEARER"]
    """The URI's ``auth=`` (lower case there)."""
    grant: Grant
    """Where its token comes from: the ``grant`` of its ``…/smtp/oauth2`` SecureString."""
    scope: str
    provider: str
    offered: tuple[str, ...]
    """The token mechanisms its server offers."""
    refusal: OAuthRefusal
    """How its server refuses a token that is not the endpoint's latest."""

    @property
    def mailbox(self) -> str:
        """The mailbox it logs in as (the URI's user) and sends from."""
        return f"no-reply@{self.project}.courier.example"

    @property
    def source(self) -> str:
        """Where its token comes from, in words."""
        if self.grant == "client_credentials":
            return "client credentials"
        return "a service account's JWT"


TOKEN_LOGINS = (
    TokenLogin(
        project="xoauth2",
        mode=MODES[0],
        mechanism="XOAUTH2",
        grant="client_credentials",
        scope="https://outlook.office365.com/.default",
        provider="Microsoft 365",
        offered=("XOAUTH2",),
        refusal="microsoft",
    ),
    TokenLogin(
        project="oauthbearer",
        mode=MODES[3],
        mechanism="OAUTHBEARER",
        grant="service_account",
        scope="https://mail.google.com/",
        provider="Google Workspace",
        offered=TOKEN_MECHANISMS,
        refusal="google",
    ),
)
"""The token-login projects, each with a server of its own."""

_TOKEN_LOGINS_BY_NAME = {login.project: login for login in TOKEN_LOGINS}
CLIENT_ID = "courier-local-app"
"""The client id of the ``xoauth2`` project's client credentials."""
SERVICE_ACCOUNT = "courier-local@courier-local.iam.gserviceaccount.com"


class SmtpFleet:
    """The six servers, the token-login servers and their token endpoint, started and stopped
    together.

    :attr:`servers` holds every server by the name of the project it serves (a mode's name,
    or a :class:`TokenLogin`'s project).

    Parameters
    ----------
    workdir:
        Where the CA bundle (``ca.pem``) is written; :attr:`ca_bundle` is its absolute path,
        since the functions run in their code folder.
    username, password:
        The account every server of :data:`MODES` accepts (the token-login servers take only
        tokens).
    faults:
        Canned faults by server name (e.g. a 550 for one recipient).
    on_message:
        Called with ``(server name, message)`` for each message a server accepts.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        username: str = "courier",
        password: str = "local-secret",  # noqa: S107 (a throwaway local account)
        faults: Mapping[str, Faults] | None = None,
        on_message: Callable[[str, ReceivedMessage], object] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.ca = trustme.CA(organization_name="courier local CA")
        self._unknown_ca = trustme.CA(organization_name="courier local unknown CA")
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca_bundle = workdir.resolve() / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_bundle))
        self.servers: dict[str, SmtpServer] = {}
        for mode in MODES:
            self.servers[mode.name] = SmtpServer(
                listener=mode.listener,
                certificate=self._certificate(mode.certificate),
                username=username,
                password=password,
                faults=(faults or {}).get(mode.name),
                on_message=_bind(on_message, mode.name),
            )
        self.token_endpoint = TokenEndpoint(certificate=self.ca.issue_cert("localhost"))
        """Where the token-login projects get their tokens (HTTPS on loopback)."""
        self._client_secret = secrets.token_urlsafe(24)
        self._service_account: ServiceAccountKey | None = None
        for login in TOKEN_LOGINS:
            self._add_token_login(login)
            self.servers[login.project] = SmtpServer(
                listener=login.mode.listener,
                certificate=self._certificate(login.mode.certificate),
                username=username,
                password=secrets.token_urlsafe(24),  # no password logs in: a token only
                faults=(faults or {}).get(login.project),
                on_message=_bind(on_message, login.project),
                oauth_tokens=self.token_endpoint.valid_tokens,
                oauth_mechanisms=login.offered,
                oauth_refusal=login.refusal,
            )

    def _add_token_login(self, login: TokenLogin) -> None:
        """Register the project's client (or service account) with the token endpoint."""
        endpoint = self.token_endpoint
        if login.grant == "client_credentials":
            endpoint.add_client(
                CLIENT_ID, self._client_secret, mailbox=login.mailbox, scopes=[login.scope]
            )
            return
        self._service_account = make_service_account_key(
            token_uri=endpoint.token_url, client_email=SERVICE_ACCOUNT
        )
        endpoint.add_service_account(
            self._service_account, subjects=[login.mailbox], scopes=[login.scope]
        )

    def oauth2_settings(self, project: str) -> dict[str, object]:
        """The ``…/smtp/oauth2`` SecureString of a token-login project: where its token comes
        from (:mod:`courier.oauth`'s two shapes)."""
        login = _TOKEN_LOGINS_BY_NAME[project]
        if login.grant == "client_credentials":
            return {
                "grant": "client_credentials",
                "token_url": self.token_endpoint.token_url,
                "client_id": CLIENT_ID,
                "client_secret": self._client_secret,
                "scope": login.scope,
            }
        assert self._service_account is not None
        return {
            "grant": "service_account",
            "service_account_key": self._service_account.key_json,
            "scope": login.scope,
        }

    def _certificate(self, kind: Certificate) -> trustme.LeafCert | None:
        if kind == "trusted":
            return self.ca.issue_cert("127.0.0.1", "localhost")
        if kind == "unknown-ca":
            return self._unknown_ca.issue_cert("127.0.0.1", "localhost")
        if kind == "other-name":
            return self.ca.issue_cert(SERVER_NAME)
        return None

    def start(self) -> Self:
        try:
            self.token_endpoint.start()
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()
        self.token_endpoint.stop()

    def clear(self) -> None:
        """Forget what the servers received (their faults stay as they are)."""
        for server in self.servers.values():
            server.messages.clear()
            server.sessions.clear()
            server.server_names.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def uri(self, name: str, *, with_password: bool = True) -> str:
        """The connection URI of the server of ``name`` (a mode, or a token-login project,
        whose URI has no password: its user is the mailbox)."""
        server = self.servers[name]
        login = _TOKEN_LOGINS_BY_NAME.get(name)
        if login is not None:
            user = quote(login.mailbox, safe="")
            query = f"?auth={login.mechanism.lower()}"
            return f"{login.mode.scheme}://{user}@{server.host}:{server.port}/{query}"
        mode = _MODES_BY_NAME[name]
        secret = self.password if with_password else "***"
        return f"{mode.scheme}://{self.username}:{secret}@{server.host}:{server.port}/{mode.query}"

    @staticmethod
    def mode(name: str) -> Mode:
        """The security mode of the server of ``name`` (a token-login project's: its server's)."""
        login = _TOKEN_LOGINS_BY_NAME.get(name)
        return login.mode if login is not None else _MODES_BY_NAME[name]

    @staticmethod
    def token_login(name: str) -> TokenLogin | None:
        """The token login of the project ``name`` (``None``: it logs in with a password)."""
        return _TOKEN_LOGINS_BY_NAME.get(name)


def _bind(
    on_message: Callable[[str, ReceivedMessage], object] | None, name: str
) -> Callable[[ReceivedMessage], None] | None:
    if on_message is None:
        return None
    callback = on_message

    def bound(message: ReceivedMessage) -> None:
        callback(name, message)

    return bound

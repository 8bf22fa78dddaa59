"""A real OAuth 2.0 token endpoint on loopback, for the tests and ``python -m local``.

An HTTPS server on ``127.0.0.1`` (a certificate from a trustme CA) that issues access tokens
for the clients registered with it, as Microsoft's and Google's endpoints do:

* the client credentials grant: a registered ``client_id`` with its ``client_secret`` (a wrong
  or revoked secret is ``401 invalid_client`` with Microsoft's AADSTS7000215 description);
* the JWT bearer grant: an RS256 assertion signed by a registered service account's key, with
  ``iss`` its address, ``aud`` this endpoint's URL, a ``sub`` it may act for and an ``exp``
  at most an hour after ``iat`` (else ``400 invalid_grant`` or ``401 unauthorized_client``, as
  Google answers).

Tests steer it: :attr:`TokenEndpoint.expires_in`, :meth:`~TokenEndpoint.revoke`,
:meth:`~TokenEndpoint.go_down` (503), :meth:`~TokenEndpoint.stall` (no answer),
:meth:`~TokenEndpoint.answer_with` (any answer), :attr:`~TokenEndpoint.requests` (a count), and
:attr:`~TokenEndpoint.valid_tokens`: mailbox (or client id) → the latest token issued for it,
while it has not expired, which an SMTP test server can check a login against.

Example
-------
>>> ca = trustme.CA()  # doctest: +SKIP
>>> with TokenEndpoint(certificate=ca.issue_cert("localhost")) as endpoint:  # doctest: +SKIP
...     endpoint.add_client("app", "s3cret", mailbox="sender@acme.example")
...     ...  # POST to endpoint.token_url; then endpoint.valid_tokens["sender@acme.example"]
"""

from __future__ import annotations

import json
import secrets
import ssl
import threading
import time
from collections.abc import Callable, Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs

import jwt
import trustme
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

__all__ = ["JWT_BEARER", "ServiceAccountKey", "TokenEndpoint", "make_service_account_key"]

JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_MAX_JWT_LIFETIME = 3600
_MAX_BODY = 64 * 1024


@dataclass(frozen=True)
class ServiceAccountKey:
    """A Google-style service account key: :attr:`key_json` as the console downloads it."""

    key_json: dict[str, Any] = field(repr=False)
    public_key_pem: str = field(repr=False)

    @property
    def client_email(self) -> str:
        return str(self.key_json["client_email"])

    @property
    def private_key(self) -> str:
        return str(self.key_json["private_key"])


def make_service_account_key(
    *, token_uri: str, client_email: str = "courier@acme-mail.iam.gserviceaccount.com"
) -> ServiceAccountKey:
    """A new RSA 2048 service account key whose ``token_uri`` is ``token_uri``."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode("ascii")
    )
    key_json = {
        "type": "service_account",
        "project_id": "acme-mail",
        "private_key_id": secrets.token_hex(20),
        "private_key": private_pem,
        "client_email": client_email,
        "client_id": str(secrets.randbelow(10**20)),
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "universe_domain": "googleapis.com",
    }
    return ServiceAccountKey(key_json, public_pem)


@dataclass
class _Client:
    secret: str = field(repr=False)
    mailbox: str | None
    scopes: frozenset[str] | None
    revoked: bool = False


@dataclass
class _Account:
    public_key_pem: str = field(repr=False)
    subjects: frozenset[str] | None
    scopes: frozenset[str] | None


@dataclass
class _Issued:
    token: str = field(repr=False)
    expires_at: float


class _ValidTokens(MutableMapping[str, str]):
    """Mailbox (or client id) → the latest token issued for it, while it has not expired.

    Setting one registers it as issued now (for ``expires_in``); deleting one revokes it: what
    ``SmtpServer(oauth_tokens=...)`` (local/smtpd.py) is handed.
    """

    def __init__(self, endpoint: TokenEndpoint) -> None:
        self._endpoint = endpoint

    def __getitem__(self, key: str) -> str:
        issued = self._endpoint._issued.get(key)
        if issued is None or self._endpoint.clock() >= issued.expires_at:
            raise KeyError(key)
        return issued.token

    def __setitem__(self, key: str, token: str) -> None:
        with self._endpoint._lock:
            expires_at = self._endpoint.clock() + self._endpoint.expires_in
            self._endpoint._issued[key] = _Issued(token, expires_at)

    def __delitem__(self, key: str) -> None:
        with self._endpoint._lock:
            del self._endpoint._issued[key]

    def __iter__(self) -> Iterator[str]:
        now = self._endpoint.clock()
        return iter([k for k, v in list(self._endpoint._issued.items()) if now < v.expires_at])

    def __len__(self) -> int:
        return sum(1 for _ in self)

    def __repr__(self) -> str:
        return f"<valid tokens for {sorted(self)}>"


class TokenEndpoint:
    """An OAuth 2.0 token endpoint on ``127.0.0.1``, started with ``with`` or :meth:`start`.

    Parameters
    ----------
    certificate:
        The server's certificate (a trustme ``LeafCert``, for ``localhost``).
    expires_in:
        The lifetime of the tokens it issues, in seconds (settable at any time).
    clock:
        Wall-clock seconds: token expiry and the JWT's ``iat``/``exp`` are judged by it.
    path:
        The endpoint's path; any other answers 404.
    host_name:
        The name in :attr:`token_url` (the certificate's).
    """

    def __init__(
        self,
        *,
        certificate: trustme.LeafCert,
        expires_in: int = 3600,
        clock: Callable[[], float] = time.time,
        path: str = "/oauth2/v2.0/token",
        host_name: str = "localhost",
    ) -> None:
        self.expires_in = expires_in
        self.clock = clock
        self.path = path
        self.host_name = host_name
        self.requests = 0
        """How many requests reached the endpoint (answered or not)."""
        self.grants: list[str] = []
        """The ``grant_type`` of each request that was answered, in order."""
        self.forms: list[dict[str, str]] = []
        """The form of each request, as posted (secrets and assertions included: a test's)."""
        self._clients: dict[str, _Client] = {}
        self._accounts: dict[str, _Account] = {}
        self._issued: dict[str, _Issued] = {}
        self.valid_tokens: MutableMapping[str, str] = _ValidTokens(self)
        """Mailbox (or client id) → its latest unexpired token: hand it to
        ``SmtpServer(oauth_tokens=endpoint.valid_tokens)``; ``del`` one to revoke it."""
        self._canned: tuple[int, bytes] | None = None
        self._stalled = threading.Event()
        self._released = threading.Event()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self), bind_and_activate=True)
        self._server.daemon_threads = True
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate.configure_cert(context)
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def token_url(self) -> str:
        """Where to post: ``https://localhost:PORT/oauth2/v2.0/token``."""
        return f"https://{self.host_name}:{self.port}{self.path}"

    # --- registration -------------------------------------------------------------------

    def add_client(
        self,
        client_id: str,
        client_secret: str,
        *,
        mailbox: str | None = None,
        scopes: Collection[str] | None = None,
    ) -> None:
        """Accept ``client_id`` with ``client_secret`` (the client credentials grant).

        ``mailbox``: the key of its tokens in :attr:`valid_tokens` (the client id when not
        given); ``scopes``: those it may ask for (any, when not given).
        """
        self._clients[client_id] = _Client(
            client_secret, mailbox, frozenset(scopes) if scopes is not None else None
        )

    def add_service_account(
        self,
        key: ServiceAccountKey,
        *,
        subjects: Collection[str] | None = None,
        scopes: Collection[str] | None = None,
    ) -> None:
        """Accept JWTs signed by ``key`` (domain-wide delegation for ``subjects``: any mailbox
        when not given; ``scopes``: any when not given)."""
        self._accounts[key.client_email] = _Account(
            key.public_key_pem,
            frozenset(subjects) if subjects is not None else None,
            frozenset(scopes) if scopes is not None else None,
        )

    # --- controls -----------------------------------------------------------------------

    def revoke(self, client_id: str) -> None:
        """The client's secret is no longer accepted (401 invalid_client)."""
        self._clients[client_id].revoked = True

    def expire_tokens(self) -> None:
        """Every token issued so far stops being valid (as if revoked by the provider)."""
        self._issued.clear()

    def go_down(self, status: int = 503) -> None:
        """Answer every request with ``status`` (no token)."""
        self.answer_with(status, {"error": "temporarily_unavailable"} if status == 503 else {})

    def answer_with(self, status: int, document: object, *, raw: bytes | None = None) -> None:
        """Answer every request with ``status`` and ``document`` as JSON (or ``raw``)."""
        self._canned = (status, raw if raw is not None else json.dumps(document).encode())

    def stall(self) -> None:
        """Read each request and never answer it (until :meth:`recover` or :meth:`stop`)."""
        self._released.clear()
        self._stalled.set()

    def recover(self) -> None:
        """Answer normally again."""
        self._canned = None
        self._stalled.clear()
        self._released.set()

    def is_valid(self, mailbox: str, token: str) -> bool:
        """Whether ``token`` is the latest unexpired token issued for ``mailbox``."""
        return self.valid_tokens.get(mailbox) == token

    # --- running ------------------------------------------------------------------------

    def start(self) -> Self:
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.05,), daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # --- answering ----------------------------------------------------------------------

    def _answer(self, path: str, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        if path != self.path:
            return 404, {"error": "not_found"}
        grant = form.get("grant_type", "")
        self.grants.append(grant)
        if grant == "client_credentials":
            return self._client_credentials(form)
        if grant == JWT_BEARER:
            return self._jwt_bearer(form.get("assertion", ""))
        return 400, _error(
            "unsupported_grant_type", "AADSTS70003: The app requested an unsupported grant type."
        )

    def _client_credentials(self, form: Mapping[str, str]) -> tuple[int, dict[str, Any]]:
        client_id = form.get("client_id", "")
        client = self._clients.get(client_id)
        if client is None:
            return 400, _error(
                "unauthorized_client",
                f"AADSTS700016: Application with identifier '{client_id}' was not found in the "
                "directory 'Acme'.",
            )
        if client.revoked or not secrets.compare_digest(
            form.get("client_secret", ""), client.secret
        ):
            return 401, _error(
                "invalid_client",
                "AADSTS7000215: Invalid client secret provided. Ensure the secret being sent in "
                "the request is the client secret value, not the client secret ID, for a secret "
                f"added to app '{client_id}'.",
            )
        scope = form.get("scope", "")
        if client.scopes is not None and not set(scope.split()) <= client.scopes:
            return 400, _error(
                "invalid_scope",
                "AADSTS70011: The provided value for the input parameter 'scope' is not valid.",
            )
        return 200, self._issue(client.mailbox or client_id)

    def _jwt_bearer(self, assertion: str) -> tuple[int, dict[str, Any]]:
        try:
            unverified = jwt.decode(assertion, options={"verify_signature": False})
        except jwt.PyJWTError:
            return 400, _error("invalid_grant", "Invalid JWT: not a JWT.")
        account = self._accounts.get(str(unverified.get("iss")))
        if account is None:
            return 400, _error("invalid_grant", "Invalid JWT Signature.")
        try:
            claims = jwt.decode(
                assertion,
                account.public_key_pem,
                algorithms=["RS256"],
                audience=self.token_url,
                options={
                    "require": ["iss", "sub", "aud", "iat", "exp", "scope"],
                    "verify_exp": False,  # judged by this endpoint's clock, below
                    "verify_iat": False,
                    "verify_nbf": False,
                },
            )
        except jwt.InvalidAudienceError:
            return 400, _error("invalid_grant", "Invalid JWT: Failed audience check.")
        except jwt.PyJWTError:
            return 400, _error("invalid_grant", "Invalid JWT Signature.")
        now = self.clock()
        issued, expires = claims["iat"], claims["exp"]
        if not (issued - 60 <= now < expires) or expires - issued > _MAX_JWT_LIFETIME:
            return 400, _error(
                "invalid_grant",
                "Invalid JWT: Token must be a short-lived token (60 minutes) and in a "
                "reasonable timeframe. Check your iat and exp values in the JWT claim.",
            )
        subject, scope = str(claims["sub"]), str(claims["scope"])
        if (account.subjects is not None and subject not in account.subjects) or (
            account.scopes is not None and not set(scope.split()) <= account.scopes
        ):
            return 401, _error(
                "unauthorized_client",
                "Client is unauthorized to retrieve access tokens using this method, or client "
                "not authorized for any of the scopes requested.",
            )
        return 200, self._issue(subject)

    def _issue(self, key: str) -> dict[str, Any]:
        token = "ya29.local-" + secrets.token_urlsafe(32)
        with self._lock:
            self._issued[key] = _Issued(token, self.clock() + self.expires_in)
        return {"access_token": token, "token_type": "Bearer", "expires_in": self.expires_in}


def _error(error: str, description: str) -> dict[str, Any]:
    return {"error": error, "error_description": description}


def _handler(endpoint: TokenEndpoint) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = min(int(self.headers.get("Content-Length") or 0), _MAX_BODY)
            body = self.rfile.read(length).decode("utf-8", "replace")
            form = {name: values[-1] for name, values in parse_qs(body).items()}
            with endpoint._lock:
                endpoint.requests += 1
                endpoint.forms.append(form)
            if endpoint._stalled.is_set():
                endpoint._released.wait()
                return  # no answer; the connection closes
            if endpoint._canned is not None:
                status, content = endpoint._canned
            else:
                status, document = endpoint._answer(self.path, form)
                content = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(content)))
            self.send_header("Cache-Control", "no-store")
            self.end_headers()
            self.wfile.write(content)

        def do_GET(self) -> None:
            self.send_response(405)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler

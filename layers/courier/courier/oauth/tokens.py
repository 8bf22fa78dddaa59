"""Access tokens for token login: fetched from the token endpoint, cached per process.

:class:`Tokens` is the process-wide cache. :meth:`Tokens.source` gives a session its
``TokenSource`` (``source(refresh) -> token``): a token is reused until shortly before it
expires (:data:`REFRESH_MARGIN_SECONDS`), ``refresh=True`` fetches a new one (the server refused
the old one), and sessions of one project in parallel threads share one fetch.

The endpoint is called through :func:`courier.https_fetch.https_request`: ``https://`` only,
verified TLS, the SSRF guard on the address connected to, no redirect, the whole call bounded
in time, the answer in size. What it answers becomes one of courier's errors
(:func:`courier.oauth.refusals.token_error`).

Nothing here puts the client secret, the private key, the JWT assertion or a token in a
message, a log line, a ``repr`` or an exception chain.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from courier.deadline import Deadline
from courier.errors import ConfigError, TokenUnavailableError
from courier.https_fetch import HttpsAnswer, HttpsFailure, https_request
from courier.oauth.refusals import host_of, token_error, unreachable_error
from courier.oauth.settings import (
    ClientCredentials,
    OAuthSettings,
    ServiceAccount,
    load_rsa_private_key,
)
from courier.sasl import TokenSource

__all__ = [
    "DEFAULT_LIFETIME_SECONDS",
    "JWT_BEARER",
    "MAX_ANSWER_BYTES",
    "REFRESH_MARGIN_SECONDS",
    "TOKEN_TIMEOUT_SECONDS",
    "TokenSource",
    "Tokens",
]


TOKEN_TIMEOUT_SECONDS = 5.0
"""The whole call to the token endpoint: resolving, connecting, TLS, the request and the answer."""
REFRESH_MARGIN_SECONDS = 60.0
"""A token is fetched anew this long before it expires (half its lifetime, if that is less)."""
DEFAULT_LIFETIME_SECONDS = 300.0
"""A token's lifetime when the endpoint does not say (``expires_in``)."""
MAX_ANSWER_BYTES = 64 * 1024
"""The most of the endpoint's answer read: a token answer is a few KiB."""
JWT_BEARER = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_JWT_LIFETIME = 3600  # Google's most
_MAX_ENTRIES = 1024

logger = logging.getLogger(__name__)


class _Slot:
    """One (settings, mailbox)'s token, and the lock that makes its fetches one at a time.

    ``generation`` counts the fetches that ended: a thread that waited for the lock sees
    whether one ended meanwhile, and takes its outcome instead of fetching again.
    """

    __slots__ = ("failure", "generation", "lock", "token", "usable_until")

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.token: str | None = None
        self.usable_until = 0.0
        self.generation = 0
        self.failure: ConfigError | TokenUnavailableError | None = None

    def __repr__(self) -> str:
        return f"<token slot: generation {self.generation}, usable until {self.usable_until}>"


class Tokens:
    """The process's access tokens, by settings and mailbox.

    Construction does no I/O.

    Parameters
    ----------
    timeout:
        The whole call to the token endpoint, in seconds.
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``: a token endpoint on a private address is allowed.
    clock:
        Wall-clock seconds, for expiry and the JWT's ``iat``/``exp`` (injectable for tests).

    Example
    -------
    >>> tokens = Tokens(timeout=5.0)
    >>> mailbox = config.connection_uri.token_user  # doctest: +SKIP
    >>> source = tokens.source(config.oauth, mailbox=mailbox)  # doctest: +SKIP
    >>> source(False)  # doctest: +SKIP
    'eyJ0eXAiOiJKV1Qi...'
    """

    def __init__(
        self,
        *,
        timeout: float = TOKEN_TIMEOUT_SECONDS,
        allow_private_hosts: bool = False,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not timeout > 0:
            raise ValueError("timeout must be more than 0 seconds")
        self.timeout = timeout
        self.allow_private_hosts = allow_private_hosts
        self._clock = clock
        self._slots: dict[tuple[OAuthSettings, str], _Slot] = {}
        self._slots_lock = threading.Lock()

    def source(
        self, settings: OAuthSettings, *, mailbox: str, deadline: Deadline | None = None
    ) -> TokenSource:
        """The tokens of ``mailbox`` under ``settings``, for one session (or many).

        Parameters
        ----------
        settings:
            The project's :attr:`ProjectConfig.oauth <courier.config.ProjectConfig>`.
        mailbox:
            The mailbox logged in as (the URI's :attr:`~courier.uri.ConnectionUri.token_user`):
            the JWT's subject for a service account.
        deadline:
            When the session's work must be done: a fetch gets at most the time left before
            it (and never more than :attr:`timeout`).

        Returns
        -------
        TokenSource
            ``source(refresh)``: see :meth:`token`.
        """
        return _Source(self, settings, mailbox, deadline)

    def token(
        self,
        settings: OAuthSettings,
        *,
        mailbox: str,
        refresh: bool = False,
        deadline: Deadline | None = None,
    ) -> str:
        """A token for ``mailbox``: the cached one while it is fresh, else a new one.

        Parameters
        ----------
        refresh:
            Fetch a new one even if the cached one is fresh (the server refused it), unless
            another thread fetched one while this one waited.
        deadline:
            A fetch ends by it (or by :attr:`timeout`, whichever is sooner).

        Raises
        ------
        TokenUnavailableError
            The endpoint is down, slow, refuses the connection, answers 5xx or 429, or
            answers without a token (transient: retried).
        ConfigError
            ``oauth_client_refused`` (the endpoint refused the client, with its error and
            description and a fix), ``oauth_token_url_wrong`` (a redirect, 404 or 405), or
            ``oauth2_token_url_not_public`` (the SSRF guard).
        """
        slot = self._slot((settings, mailbox))
        seen = slot.generation
        with slot.lock:
            if slot.generation != seen:  # a fetch ended while this thread waited: share it
                if slot.failure is not None:
                    raise _copy(slot.failure)
                if slot.token is not None:
                    return slot.token
            if not refresh and slot.token is not None and self._clock() < slot.usable_until:
                return slot.token
            started = self._clock()
            try:
                token, lifetime = self._fetch(
                    settings, mailbox, now=started, timeout=self._time_for(settings, deadline)
                )
            except (ConfigError, TokenUnavailableError) as exc:
                slot.token, slot.failure = None, exc
                slot.generation += 1
                raise
            slot.token, slot.failure = token, None
            slot.usable_until = started + _usable_for(lifetime)
            slot.generation += 1
            return token

    def clear(self) -> None:
        """Forget every token."""
        with self._slots_lock:
            self._slots.clear()

    def _slot(self, key: tuple[OAuthSettings, str]) -> _Slot:
        with self._slots_lock:
            slot = self._slots.get(key)
            if slot is None:
                if len(self._slots) >= _MAX_ENTRIES:
                    now = self._clock()
                    self._slots = {k: s for k, s in self._slots.items() if s.usable_until > now}
                    if len(self._slots) >= _MAX_ENTRIES:
                        del self._slots[next(iter(self._slots))]
                slot = self._slots[key] = _Slot()
            return slot

    def _time_for(self, settings: OAuthSettings, deadline: Deadline | None) -> float:
        """The fetch's timeout: :attr:`timeout`, or less when the deadline is nearer."""
        if deadline is None:
            return self.timeout
        left = deadline.remaining()
        if left <= 0:
            raise TokenUnavailableError(
                f"no time was left to ask {host_of(settings.token_url)} for a token (the "
                "invocation's deadline had passed)"
            )
        return min(self.timeout, left)

    def _fetch(
        self, settings: OAuthSettings, mailbox: str, *, now: float, timeout: float
    ) -> tuple[str, float]:
        """A new token and its lifetime in seconds, from the endpoint."""
        outcome = self._call(settings, _request_body(settings, mailbox, now=now), timeout)
        if isinstance(outcome, HttpsFailure):
            error: ConfigError | TokenUnavailableError = unreachable_error(outcome, settings)
        else:
            answer = _token_answer(outcome)
            if answer is not None:
                token, lifetime = answer
                logger.debug(
                    "OAuth token for %s from %s (expires in %.0f s)",
                    mailbox,
                    host_of(settings.token_url),
                    lifetime,
                )
                return token, lifetime
            error = token_error(outcome, settings)
        raise error

    def _call(
        self, settings: OAuthSettings, body: bytes, timeout: float
    ) -> HttpsAnswer | HttpsFailure:
        """The endpoint's answer, or why there is none: returned, not raised, so that no
        traceback holds this frame (and the body: the secret or the assertion)."""
        try:
            return https_request(
                settings.token_url,
                method="POST",
                body=body,
                headers={
                    "Content-Type": "application/x-www-form-urlencoded",
                    "Accept": "application/json",
                },
                allow_private_hosts=self.allow_private_hosts,
                timeout=timeout,
                max_bytes=MAX_ANSWER_BYTES,
            )
        except HttpsFailure as exc:
            exc.__traceback__ = None
            return exc


class _Source:
    """A :data:`TokenSource` over :class:`Tokens`; its ``repr`` shows no secret."""

    def __init__(
        self, tokens: Tokens, settings: OAuthSettings, mailbox: str, deadline: Deadline | None
    ) -> None:
        self._tokens, self._settings, self.mailbox = tokens, settings, mailbox
        self._deadline = deadline

    def __call__(self, refresh: bool = False) -> str:
        return self._tokens.token(
            self._settings, mailbox=self.mailbox, refresh=refresh, deadline=self._deadline
        )

    def __repr__(self) -> str:
        return (
            f"<TokenSource {self._settings.grant} for {self.mailbox} from "
            f"{host_of(self._settings.token_url)}>"
        )


def _request_body(settings: OAuthSettings, mailbox: str, *, now: float) -> bytes:
    """The form the grant posts (RFC 6749 §4.4.2; RFC 7523 §2.1)."""
    if isinstance(settings, ClientCredentials):
        form = {
            "grant_type": "client_credentials",
            "client_id": settings.client_id,
            "client_secret": settings.client_secret,
            "scope": settings.scope,
        }
    else:
        form = {"grant_type": JWT_BEARER, "assertion": _assertion(settings, mailbox, now=now)}
    return urlencode(form).encode("ascii")


def _assertion(settings: ServiceAccount, mailbox: str, *, now: float) -> str:
    """The service account's JWT (RS256): for ``mailbox``, with the scope, for the endpoint."""
    import jwt  # only a service account needs PyJWT (and cryptography): not at cold start

    issued = int(now)
    claims = {
        "iss": settings.client_email,
        "sub": mailbox,
        "scope": settings.scope,
        "aud": settings.token_uri,
        "iat": issued,
        "exp": issued + _JWT_LIFETIME,
    }
    headers = {"kid": settings.private_key_id} if settings.private_key_id else None
    key = load_rsa_private_key(settings.private_key)
    return jwt.encode(claims, key, algorithm="RS256", headers=headers)


def _token_answer(answer: HttpsAnswer) -> tuple[str, float] | None:
    """The token and its lifetime of a 200 answer that holds one, else ``None``."""
    if answer.status != 200 or not answer.complete:
        return None
    try:
        document: Any = json.loads(answer.body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict):
        return None
    token = document.get("access_token")
    token_type = document.get("token_type", "Bearer")
    if not isinstance(token, str) or not _usable_token(token):
        return None
    if not isinstance(token_type, str) or token_type.lower() != "bearer":
        return None
    return token, _lifetime(document.get("expires_in"))


def _usable_token(token: str) -> bool:
    """A token SASL can carry: visible ASCII, no spaces (RFC 6750's b64token, loosely)."""
    return 0 < len(token) <= 16 * 1024 and all("!" <= char <= "~" for char in token)


def _lifetime(expires_in: object) -> float:
    """``expires_in`` in seconds (a number, or a numeric string as some endpoints send)."""
    try:
        seconds = float(expires_in) if isinstance(expires_in, int | float | str) else None
    except ValueError:
        seconds = None
    if seconds is None or not seconds > 0 or seconds != seconds or seconds == float("inf"):
        return DEFAULT_LIFETIME_SECONDS
    return seconds


def _usable_for(lifetime: float) -> float:
    """How long a token of ``lifetime`` seconds is reused."""
    if lifetime > 2 * REFRESH_MARGIN_SECONDS:
        return lifetime - REFRESH_MARGIN_SECONDS
    return lifetime / 2


def _copy(error: ConfigError | TokenUnavailableError) -> ConfigError | TokenUnavailableError:
    """The same error, new (an instance is raised by one thread only)."""
    if isinstance(error, ConfigError):
        return ConfigError(error.field, error.code, error.message)
    return TokenUnavailableError(str(error))

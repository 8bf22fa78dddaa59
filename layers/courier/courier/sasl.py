"""The SASL messages of an OAuth 2.0 token login over SMTP: XOAUTH2 and OAUTHBEARER (RFC 7628).

:class:`TokenLogin` builds the initial response of either mechanism, answers the error
challenge a server sends when it refuses the token (``334`` and base64 JSON: XOAUTH2 wants an
empty line, OAUTHBEARER ``%x01``), and keeps that challenge for the error message. It is the
``authobject`` of :meth:`BoundedSMTP.auth <courier.smtp_client.BoundedSMTP.auth>`.

The access token is a secret as the password is. Its ``repr()`` never shows it, and
:meth:`TokenLogin.scrub` takes out of a server's text any run of characters that shares twelve
or more with the token or with its base64 forms (a server that echoes the AUTH command echoes
the token), before that text goes into an error or to a listener.

Example
-------
>>> login = TokenLogin(
...     mechanism=AuthMechanism.OAUTHBEARER, mailbox="a,b@example.com", host="smtp.example.com",
...     port=587, token="ya29.a0Af-secret",
... )
>>> login
TokenLogin(mechanism=<AuthMechanism.OAUTHBEARER: 'oauthbearer'>, mailbox='a,b@example.com')
>>> login.initial_response().split("\\x01")[:3]
['n,a=a=2Cb@example.com,', 'host=smtp.example.com', 'port=587']
>>> login.scrub(b"501 bad token ya29.a0Af-secret")
b'501 bad token ***'
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from courier.errors import SmtpError, Step, TokenUnavailableError, step_error
from courier.uri import AuthMechanism

__all__ = ["REFUSED_HINT", "TokenLogin", "TokenSource", "check_offered", "check_token"]

TokenSource = Callable[[bool], str]
"""The OAuth 2.0 access token of a token login: called with ``False`` for the current one (a
cached token, say), with ``True`` for a new one (after the server refused the current one). It
may raise any :class:`~courier.errors.CourierError` (a :class:`~courier.errors.ConfigError`, a
:class:`~courier.errors.TokenUnavailableError`): :meth:`Transport.open
<courier.transport.Transport.open>` raises it as it is. :meth:`courier.oauth.Tokens.source`
makes one."""

REFUSED_HINT = (
    "The server refused the OAuth 2.0 access token twice (the current one and a new one): check "
    "that the app of …/smtp/oauth2 may send as the URI's user (its permission or admin consent, "
    "SMTP AUTH enabled for the mailbox), that the URI's user is that mailbox, and that the "
    "token's scope is the one the server wants (Gmail: https://mail.google.com/; Microsoft 365: "
    "https://outlook.office365.com/.default)"
)

_BEARER_TOKEN = re.compile(r"[A-Za-z0-9._~+/-]+=*")
"""RFC 6750 §2.1 ``b64token``: what may follow ``Bearer`` (no space, no control character)."""
_SHORTEST_SHOWN_SECRET = 12
"""A run of this many characters of the token (or of its base64) in a server's text is hidden."""
_WORD = re.compile(rb"[A-Za-z0-9._~+/=-]{%d,}" % _SHORTEST_SHOWN_SECRET)
_CHALLENGE_FIELDS = ("status", "schemes", "scope")
"""What a refusal's JSON says (RFC 7628 §3.2.2; Google's XOAUTH2 says the same)."""
_SHOWN_FIELD = re.compile(r"[\w.:/~+=,;@ -]{1,200}")
_MECHANISM_NAME = re.compile(r"[A-Z0-9_-]{1,20}")
"""A SASL mechanism's name (RFC 4422 §3.1)."""


def check_offered(offered: str, mechanism: AuthMechanism, *, endpoint: str) -> None:
    """Raise the ``Step.AUTH`` error unless ``offered`` (what the server's EHLO says after
    ``AUTH``) names ``mechanism``; the error names what it offers and the fix.

    Example
    -------
    >>> try:
    ...     check_offered("LOGIN XOAUTH2", AuthMechanism.OAUTHBEARER, endpoint="smtp://mx/")
    ... except SmtpError as error:
    ...     print(error.reply, error.hint, sep="\\n")
    the server offers AUTH LOGIN XOAUTH2, not OAUTHBEARER (auth=oauthbearer)
    Use auth=xoauth2 in the connection URI, which this server offers
    """
    names = offered.upper().split()
    if mechanism.upper() in names:
        return
    # Only mechanism names are shown: they are the server's text, but nothing else of it is.
    shown = [name for name in names if _MECHANISM_NAME.fullmatch(name)][:12]
    others = [m for m in AuthMechanism if m is not mechanism and m.upper() in names]
    if others:
        hint = f"Use auth={others[0]} in the connection URI, which this server offers"
    else:
        hint = (
            "This server takes no OAuth 2.0 token login: remove auth= from the URI and log in "
            "with a password (smtp://user:password@host/), or send through a server that does"
        )
    what = f"offers AUTH {' '.join(shown)}" if shown else "offers no AUTH"
    raise step_error(
        Step.AUTH,
        None,
        f"the server {what}, not {mechanism.upper()} (auth={mechanism})",
        endpoint=endpoint,
        hint=hint,
    )


def check_token(token: object, mechanism: AuthMechanism) -> str:
    """``token`` if it can follow ``Bearer`` in a SASL message; raise without quoting it.

    Raises
    ------
    TokenUnavailableError
        Not a string of RFC 6750 token characters (the token source gave no usable token).
    """
    if isinstance(token, str) and _BEARER_TOKEN.fullmatch(token):
        return token
    raise TokenUnavailableError(
        f"the OAuth 2.0 access token for auth={mechanism} is not a bearer token (RFC 6750: "
        "letters, digits and -._~+/ only, then any '='); nothing was sent with it"
    )


@dataclass(kw_only=True)
class TokenLogin:
    """One token login: the messages of ``mechanism`` for ``mailbox`` with ``token``.

    Parameters
    ----------
    mechanism:
        XOAUTH2 or OAUTHBEARER.
    mailbox:
        Whom the token is for (the connection URI's user).
    host, port:
        Where the session is connected (OAUTHBEARER names them; XOAUTH2 does not).
    token:
        The access token, checked by :func:`check_token`.
    """

    mechanism: AuthMechanism
    mailbox: str
    host: str = field(repr=False)
    port: int = field(repr=False)
    token: str = field(repr=False)
    challenges: list[bytes] = field(default_factory=list, repr=False)
    """The server's challenges (base64-decoded), each answered with the mechanism's abort."""

    @property
    def name(self) -> str:
        """The mechanism as AUTH names it: ``XOAUTH2``, ``OAUTHBEARER``."""
        return self.mechanism.upper()

    def initial_response(self) -> str:
        """The client's first message (sent with AUTH, base64-encoded by the client)."""
        bearer = f"auth=Bearer {self.token}\x01\x01"
        if self.mechanism is AuthMechanism.XOAUTH2:
            return f"user={self.mailbox}\x01{bearer}"
        # RFC 5801 §4: the authzid is a saslname, "=" and "," escaped ("=" first).
        authzid = self.mailbox.replace("=", "=3D").replace(",", "=2C")
        return f"n,a={authzid},\x01host={self.host}\x01port={self.port}\x01{bearer}"

    def __call__(self, challenge: bytes | None = None) -> str:
        """The response to ``challenge``: the initial response first, then the abort.

        A server challenges a token login only to say why it refuses the token (RFC 7628
        §3.2.3: the client must answer ``%x01``; XOAUTH2 takes an empty response), and then
        sends its final reply.
        """
        if challenge is None:
            return self.initial_response()
        self.challenges.append(challenge)
        return "" if self.mechanism is AuthMechanism.XOAUTH2 else "\x01"

    def scrub(self, text: bytes) -> bytes:
        """``text`` (a server's) with any run that shares twelve characters with the token, or
        with one of its base64 forms, replaced by ``***``."""
        secrets = _forms(self.token)
        grams = {
            secret[i : i + _SHORTEST_SHOWN_SECRET]
            for secret in secrets
            for i in range(len(secret) - _SHORTEST_SHOWN_SECRET + 1)
        }

        def hide(match: re.Match[bytes]) -> bytes:
            word = match.group()
            size = _SHORTEST_SHOWN_SECRET
            leaked = any(word[i : i + size] in grams for i in range(len(word) - size + 1))
            return b"***" if leaked else word

        return _WORD.sub(hide, text)

    def refused_token(self, code: int) -> bool:
        """Whether the final reply ``code`` is a verdict on the token (a new one may pass): a
        ``535``, or a 5xx after the server's error challenge; not a 4xx (temporary)."""
        return code == 535 or (500 <= code < 600 and bool(self.challenges))

    def refusal_error(self, code: int, reply: bytes, *, endpoint: str) -> SmtpError:
        """The ``Step.AUTH`` error of the final refusal ``code`` ``reply`` (scrubbed already),
        with what the server's challenge said, and what to check."""
        said = self.refusal()
        text = reply.decode("utf-8", "replace") + (f" (the server said: {said})" if said else "")
        return step_error(Step.AUTH, code, text, endpoint=endpoint, hint=REFUSED_HINT)

    def refusal(self) -> str | None:
        """What the server's first challenge said of the token (``status 401, scope ...``), or
        ``None`` without a challenge or a JSON object in it."""
        if not self.challenges:
            return None
        try:
            said = json.loads(self.scrub(self.challenges[0]))
        except ValueError:
            return None
        if not isinstance(said, dict):
            return None
        shown = [
            f"{name} {said[name]}"
            for name in _CHALLENGE_FIELDS
            if isinstance(said.get(name), str) and _SHOWN_FIELD.fullmatch(said[name])
        ]
        return ", ".join(shown) or None


def _forms(token: str) -> tuple[bytes, ...]:
    """The token, and its base64 at each of the three alignments it can have inside a longer
    base64 text (the AUTH command's), less the characters that encode its neighbours."""
    raw = token.encode("utf-8")
    forms = [raw]
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw).rstrip(b"=")
        forms.append(encoded[(4 * offset + 2) // 3 :][: (len(raw) * 4) // 3])
    return tuple(forms)

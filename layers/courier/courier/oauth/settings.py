"""The SecureString ``{prefix}/P/smtp/oauth2``: where a token login's token comes from.

Its JSON is one of the two shapes in :mod:`courier.oauth`'s docstring. :func:`check_settings`
reads it into :class:`ClientCredentials` or :class:`ServiceAccount` and lists every mistake,
each a :class:`~courier.errors.ConfigError` on ``smtp.oauth2.<key>`` that says what to put
there; :mod:`courier.config_rules` turns them into the rule set's problems.

No message quotes a value of the parameter: not the secret, the private key, the client id nor
the scope (a value pasted into the wrong key is still a secret), only the names of keys.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, ClassVar, Final, Literal

from courier.errors import ConfigError
from courier.https_fetch import HttpsUrlError, https_target
from courier.network import why_not_public

__all__ = [
    "CLIENT_CREDENTIALS",
    "DEFAULT_GOOGLE_SCOPE",
    "EXAMPLE",
    "FIELD",
    "SERVICE_ACCOUNT",
    "ClientCredentials",
    "OAuthSettings",
    "ServiceAccount",
    "SettingsCheck",
    "check_settings",
    "load_rsa_private_key",
]

FIELD = "smtp.oauth2"
"""The field every error about the parameter names (``smtp.oauth2.token_url``, ...)."""
CLIENT_CREDENTIALS: Final = "client_credentials"
SERVICE_ACCOUNT: Final = "service_account"
DEFAULT_GOOGLE_SCOPE = "https://mail.google.com/"
"""Gmail's SMTP scope: the service account's default."""
MAX_SETTINGS_BYTES = 16 * 1024
_MIN_RSA_BITS = 2048
_MAX_VALUE_LENGTH = 4096
_GUID = r"[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12}"  # compiled on first use
_LOCAL_SUFFIXES = (".localhost", ".local", ".internal")

_KEYS: Mapping[str, tuple[frozenset[str], frozenset[str]]] = {
    # grant: (required keys, optional keys)
    CLIENT_CREDENTIALS: (
        frozenset({"grant", "token_url", "client_id", "client_secret", "scope"}),
        frozenset(),
    ),
    SERVICE_ACCOUNT: (frozenset({"grant", "service_account_key"}), frozenset({"scope"})),
}
_MISPLACED: Mapping[str, str] = {
    "token_uri": "the client_credentials grant's endpoint is token_url",
    "tenant": "the tenant goes in token_url: https://login.microsoftonline.com/<tenant id>/"
    "oauth2/v2.0/token",
    "tenant_id": "the tenant goes in token_url: https://login.microsoftonline.com/<tenant id>/"
    "oauth2/v2.0/token",
    "client_email": "it belongs inside service_account_key, Google's key file as downloaded",
    "private_key": "it belongs inside service_account_key, Google's key file as downloaded",
    "type": "it belongs inside service_account_key, Google's key file as downloaded",
    "subject": "the mailbox a token is for is the connection URI's user",
    "mailbox": "the mailbox a token is for is the connection URI's user",
    "grant_type": "the key is grant",
    "scopes": "the key is scope (one string; separate several scopes with spaces)",
}


@dataclass(frozen=True, kw_only=True)
class ClientCredentials:
    """The OAuth 2.0 client credentials grant (RFC 6749 §4.4): Microsoft 365, and most others.

    ``repr()`` never shows :attr:`client_secret`.
    """

    grant: ClassVar[Literal["client_credentials"]] = CLIENT_CREDENTIALS
    token_url: str
    client_id: str
    client_secret: str = field(repr=False)
    scope: str
    parameter: str = field(default="…/smtp/oauth2", compare=False)
    """The SecureString the settings come from, for messages."""


@dataclass(frozen=True, kw_only=True)
class ServiceAccount:
    """A Google service account with domain-wide delegation (RFC 7523 JWT bearer grant): the
    token is for the mailbox the JWT names as its subject.

    ``repr()`` never shows :attr:`private_key`.
    """

    grant: ClassVar[Literal["service_account"]] = SERVICE_ACCOUNT
    client_email: str
    private_key: str = field(repr=False)
    token_uri: str
    private_key_id: str | None = None
    client_id: str | None = None
    """The service account's OAuth client id: what domain-wide delegation is granted to."""
    scope: str = DEFAULT_GOOGLE_SCOPE
    parameter: str = field(default="…/smtp/oauth2", compare=False)
    """The SecureString the settings come from, for messages."""

    @property
    def token_url(self) -> str:
        """The token endpoint: the key's ``token_uri``."""
        return self.token_uri


OAuthSettings = ClientCredentials | ServiceAccount


class SettingsCheck:
    """What :func:`check_settings` found: the settings when there is no error, and every
    error and warning (each a :class:`~courier.errors.ConfigError`, not raised)."""

    __slots__ = ("errors", "settings", "warnings")

    def __init__(
        self,
        settings: OAuthSettings | None,
        errors: tuple[ConfigError, ...] = (),
        warnings: tuple[ConfigError, ...] = (),
    ) -> None:
        self.settings, self.errors, self.warnings = settings, errors, warnings

    def __repr__(self) -> str:
        codes = [problem.code for problem in (*self.errors, *self.warnings)]
        return f"SettingsCheck({self.settings!r}, problems={codes})"


def check_settings(text: str, *, parameter: str, allow_private_hosts: bool) -> SettingsCheck:
    """Read the parameter's JSON ``text``; list every mistake.

    The result is cached (for the same text, the private key is loaded once per process).

    Parameters
    ----------
    text:
        The SecureString's value.
    parameter:
        Its name, for messages.
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``: a token endpoint on a private address is allowed.

    Returns
    -------
    SettingsCheck
        Errors ``oauth2_not_json``, ``oauth2_not_object``, ``oauth2_grant_unknown``,
        ``oauth2_key_missing``, ``oauth2_key_unknown``, ``oauth2_value_invalid``,
        ``oauth2_token_url_insecure``, ``oauth2_token_url_invalid``,
        ``oauth2_token_url_not_public``, ``oauth2_service_account_key_invalid`` and
        ``oauth2_private_key_invalid``; warnings ``oauth2_client_secret_looks_like_id`` and
        ``oauth2_scope_not_default``.

    Example
    -------
    >>> found = check_settings('{"grant": "password"}', parameter="/courier/acme/smtp/oauth2",
    ...                        allow_private_hosts=False)
    >>> [(error.field, error.code) for error in found.errors]
    [('smtp.oauth2.grant', 'oauth2_grant_unknown')]
    """
    return _check_settings(text, parameter, allow_private_hosts)


@lru_cache(maxsize=64)
def _check_settings(text: str, parameter: str, allow_private_hosts: bool) -> SettingsCheck:
    reader = _Reader(parameter, allow_private_hosts)
    settings = reader.read(text)
    errors = tuple(e for e, warning in reader.found if not warning)
    warnings = tuple(e for e, warning in reader.found if warning)
    return SettingsCheck(None if errors else settings, errors, warnings)


class _Reader:
    """Reads one parameter's JSON, collecting every mistake in :attr:`found`."""

    def __init__(self, parameter: str, allow_private_hosts: bool) -> None:
        self.parameter = parameter
        self.allow_private_hosts = allow_private_hosts
        self.found: list[tuple[ConfigError, bool]] = []

    def error(self, key: str, code: str, message: str) -> None:
        self.found.append((ConfigError(_field(key), code, message), False))

    def warning(self, key: str, code: str, message: str) -> None:
        self.found.append((ConfigError(_field(key), code, message), True))

    def read(self, text: str) -> OAuthSettings | None:
        tree = self._json(text)
        if tree is None:
            return None
        grant = tree.get("grant")
        if not isinstance(grant, str) or grant not in _KEYS:
            self.error(
                "grant",
                "oauth2_grant_unknown",
                f"{'is missing' if grant is None else 'is not a grant courier knows'}: set "
                f'"grant" to "{CLIENT_CREDENTIALS}" (a client id and secret: Microsoft 365 and '
                f'most providers) or "{SERVICE_ACCOUNT}" (a Google service account key with '
                f"domain-wide delegation), in {self.parameter}",
            )
            return None
        self._keys(tree, grant)
        if grant == CLIENT_CREDENTIALS:
            return self._client_credentials(tree)
        return self._service_account(tree)

    def _json(self, text: str) -> dict[str, Any] | None:
        if not isinstance(text, str) or len(text.encode("utf-8", "replace")) > MAX_SETTINGS_BYTES:
            self.error(
                "", "oauth2_not_json", f"{self.parameter} is not a JSON object of token settings"
            )
            return None
        try:
            tree = json.loads(text)
        except json.JSONDecodeError as exc:
            # exc.msg never quotes the document, which holds secrets.
            self.error(
                "",
                "oauth2_not_json",
                f"{self.parameter} is not valid JSON: {exc.msg} at line {exc.lineno} column "
                f"{exc.colno}; store one object such as {EXAMPLE}",
            )
            return None
        except RecursionError:
            self.error("", "oauth2_not_json", f"{self.parameter} is nested too deeply to be read")
            return None
        if not isinstance(tree, dict):
            self.error(
                "",
                "oauth2_not_object",
                f"{self.parameter} holds JSON that is not an object: store one object such as "
                f"{EXAMPLE}",
            )
            return None
        return tree

    def _keys(self, tree: dict[str, Any], grant: str) -> None:
        required, optional = _KEYS[grant]
        for key in sorted(required - tree.keys()):
            self.error(
                key,
                "oauth2_key_missing",
                f"the {grant} grant needs {key}: {_WHAT[key]}; add it to {self.parameter}",
            )
        for key in tree.keys() - required - optional:
            hint = _MISPLACED.get(key, f"the keys of the {grant} grant are " + _names(grant))
            self.error(
                _safe_key(key),
                "oauth2_key_unknown",
                f"is not a setting of the {grant} grant ({hint}): remove it from {self.parameter}",
            )

    def _text(self, tree: Mapping[str, Any], key: str, *, where: str = "") -> str | None:
        if key not in tree:
            return None  # reported as missing, or optional
        value = tree[key]
        name = f"{where}.{key}" if where else key
        if (
            not isinstance(value, str)
            or not value.strip()
            or len(value) > _MAX_VALUE_LENGTH
            or not value.isprintable()
        ):
            self.error(
                name,
                "oauth2_value_invalid",
                f"must be one line of text ({_WHAT.get(key, 'see the grant')}), not empty, "
                f"without control characters; fix it in {self.parameter}",
            )
            return None
        return value

    def _url(self, tree: Mapping[str, Any], key: str, *, where: str = "") -> str | None:
        url = self._text(tree, key, where=where)
        if url is None:
            return None
        name = f"{where}.{key}" if where else key
        try:
            target = https_target(url)
        except HttpsUrlError as exc:
            if exc.insecure:
                self.error(
                    name,
                    "oauth2_token_url_insecure",
                    "is an http:// URL: the token endpoint is sent the client's secret and "
                    f"answers with a token, so courier speaks to it only over https://; fix it "
                    f"in {self.parameter}",
                )
            else:
                self.error(
                    name,
                    "oauth2_token_url_invalid",
                    "is not an https:// URL with a host (and without user:password@ or "
                    f"#fragment), such as {_WHAT[key]}; fix it in {self.parameter}",
                )
            return None
        reason = None if self.allow_private_hosts else _not_public(target.host)
        if reason is not None:
            self.error(
                name,
                "oauth2_token_url_not_public",
                f"names a host that is {reason}; courier only speaks to token endpoints on "
                "globally routable unicast addresses unless the stack parameter "
                "AllowPrivateSmtpHosts is true",
            )
            return None
        return url

    def _client_credentials(self, tree: dict[str, Any]) -> ClientCredentials | None:
        token_url = self._url(tree, "token_url")
        client_id = self._text(tree, "client_id")
        client_secret = self._text(tree, "client_secret")
        scope = self._text(tree, "scope")
        if client_secret is not None and re.fullmatch(_GUID, client_secret.strip()):
            self.warning(
                "client_secret",
                "oauth2_client_secret_looks_like_id",
                "looks like an ID (a GUID), not a secret: in Microsoft Entra (Certificates & "
                "secrets) a client secret has a Secret ID and a Value; client_secret is the "
                "Value, shown only when the secret is created (AADSTS7000215 otherwise)",
            )
        if (
            token_url is not None
            and scope is not None
            and _is_microsoft(token_url)
            and not all(part.endswith("/.default") for part in scope.split())
        ):
            self.warning(
                "scope",
                "oauth2_scope_not_default",
                "the client credentials grant of Microsoft's identity platform takes only "
                "a resource's .default scope: for SMTP, https://outlook.office365.com/"
                ".default (AADSTS1002012 otherwise)",
            )
        if token_url is None or client_id is None or client_secret is None or scope is None:
            return None
        return ClientCredentials(
            token_url=token_url,
            client_id=client_id,
            client_secret=client_secret,
            scope=scope,
            parameter=self.parameter,
        )

    def _service_account(self, tree: dict[str, Any]) -> ServiceAccount | None:
        scope = self._text(tree, "scope") if "scope" in tree else DEFAULT_GOOGLE_SCOPE
        if "service_account_key" not in tree:
            return None  # reported as missing
        key = tree["service_account_key"]
        if not isinstance(key, dict):
            looks_json = isinstance(key, str) and key.lstrip().startswith("{")
            self.error(
                "service_account_key",
                "oauth2_value_invalid",
                "must be the service account key itself, the JSON object Google's console "
                "downloads (IAM → Service accounts → Keys → Add key → JSON)"
                + (", not a string holding it: paste the object unquoted" if looks_json else "")
                + f"; fix it in {self.parameter}",
            )
            return None
        where = "service_account_key"
        if key.get("type") != "service_account":
            self.error(
                f"{where}.type",
                "oauth2_service_account_key_invalid",
                "is not service_account: service_account_key must be a service account's key "
                "(IAM → Service accounts → Keys → Add key → JSON), not an OAuth client or a "
                "user's credentials",
            )
        for name in ("client_email", "private_key", "token_uri"):
            if name not in key:
                self.error(
                    f"{where}.{name}",
                    "oauth2_service_account_key_invalid",
                    f"is missing: service_account_key must be the key file as Google's console "
                    f"downloads it, which has {name}; download a new key if it was edited",
                )
        client_email = self._text(key, "client_email", where=where)
        if client_email is not None and "@" not in client_email:
            self.error(
                f"{where}.client_email",
                "oauth2_service_account_key_invalid",
                "is not an address (the service account's, …@….iam.gserviceaccount.com)",
            )
            client_email = None
        token_uri = self._url(key, "token_uri", where=where)
        private_key = (
            self._private_key(key["private_key"], f"{where}.private_key")
            if "private_key" in key
            else None
        )
        key_id = self._text(key, "private_key_id", where=where)
        client_id = self._text(key, "client_id", where=where)
        if client_email is None or token_uri is None or private_key is None or scope is None:
            return None
        return ServiceAccount(
            client_email=client_email,
            private_key=private_key,
            token_uri=token_uri,
            private_key_id=key_id,
            client_id=client_id,
            scope=scope,
            parameter=self.parameter,
        )

    def _private_key(self, pem: object, name: str) -> str | None:
        fix = "download a new key (IAM → Service accounts → Keys → Add key → JSON)"
        if not isinstance(pem, str) or "-----BEGIN" not in pem:
            self.error(
                name,
                "oauth2_private_key_invalid",
                f"is not a PEM private key (-----BEGIN PRIVATE KEY-----...); {fix}",
            )
            return None
        if "\\n" in pem and "\n" not in pem.strip():
            self.error(
                name,
                "oauth2_private_key_invalid",
                "holds the two characters \\n where the key's line breaks belong (escaped "
                "twice): paste the key file's JSON as it is, where JSON's \\n is a line break",
            )
            return None
        problem = _rsa_key_problem(pem)
        if problem is not None:
            self.error(name, "oauth2_private_key_invalid", f"{problem}; {fix}")
            return None
        return pem


def load_rsa_private_key(pem: str) -> Any:
    """The RSA private key of a checked service account key (``cryptography``, imported now).

    Cached per process; :func:`check_settings` has refused any key this cannot load.
    """
    return _load_rsa_private_key(pem)


@lru_cache(maxsize=64)
def _load_rsa_private_key(pem: str) -> Any:
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    return load_pem_private_key(pem.encode("utf-8"), password=None)


def _rsa_key_problem(pem: str) -> str | None:
    """Why ``pem`` is not a usable RSA private key, or ``None``. Never quotes the key nor keeps
    the library's exception (which may)."""
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

    try:
        key = _load_rsa_private_key(pem)
    except TypeError:
        return "is encrypted (it needs a passphrase, which courier never asks for)"
    except (ValueError, UnicodeError):
        return "is not a readable PEM private key"
    except Exception:  # cryptography's UnsupportedAlgorithm and the like
        return "is not a private key courier can read"
    if not isinstance(key, RSAPrivateKey):
        return "is not an RSA key (Google signs service account JWTs with RS256)"
    if key.key_size < _MIN_RSA_BITS:
        return f"is an RSA key of {key.key_size} bits, fewer than {_MIN_RSA_BITS}"
    return None


def _not_public(host: str) -> str | None:
    """Why a token endpoint's host is plainly not public, without resolving it: an address
    literal the SSRF guard refuses, or a local name. The addresses a name resolves to are
    checked when the endpoint is called."""
    try:
        ip = ipaddress.ip_address(host.split("%", 1)[0])
    except ValueError:
        name = host.lower().rstrip(".")
        local = name == "localhost" or name.endswith(_LOCAL_SUFFIXES)
        return "a local name, not a host on the internet" if local else None
    return why_not_public(ip)


def _is_microsoft(url: str) -> bool:
    host = https_target(url).host.lower()
    return host == "login.microsoftonline.com" or host.endswith(".microsoftonline.com")


def _field(key: str) -> str:
    return f"{FIELD}.{key}" if key else FIELD


def _safe_key(key: object) -> str:
    """A key as a field name: printable, bounded (the key is the user's text)."""
    text = "".join(char for char in str(key) if char.isprintable())[:64]
    return text or "?"


def _names(grant: str) -> str:
    required, optional = _KEYS[grant]
    return ", ".join(sorted(required | optional))


EXAMPLE = (
    '{"grant": "client_credentials", "token_url": "https://login.microsoftonline.com/<tenant '
    'id>/oauth2/v2.0/token", "client_id": "…", "client_secret": "…", "scope": '
    '"https://outlook.office365.com/.default"} or {"grant": "service_account", '
    '"service_account_key": {…the key file Google downloads…}}'
)
_WHAT: Mapping[str, str] = {
    "grant": f'"{CLIENT_CREDENTIALS}" or "{SERVICE_ACCOUNT}"',
    "token_url": "https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token for "
    "Microsoft 365",
    "token_uri": "https://oauth2.googleapis.com/token",
    "client_id": "the application (client) ID",
    "client_secret": "the client secret's value",
    "scope": "the scope the token is asked for: https://outlook.office365.com/.default for "
    "Microsoft 365 SMTP, https://mail.google.com/ for Gmail",
    "service_account_key": "the service account's key, the JSON object Google's console "
    "downloads (IAM → Service accounts → Keys → Add key → JSON)",
    "client_email": "the service account's address",
    "private_key_id": "the key's id",
}

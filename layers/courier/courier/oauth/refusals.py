"""What a token endpoint's failure means, as one of courier's errors with a fix.

* No answer (down, slow, the connection refused, DNS), a 5xx, 408 or 429, an OAuth
  ``temporarily_unavailable``/``server_error``, or an answer that is not a token:
  :class:`~courier.errors.TokenUnavailableError` (transient, retried).
* An OAuth error (RFC 6749 §5.2: ``invalid_client``, ``unauthorized_client``,
  ``invalid_grant``, ``invalid_scope``, ``unsupported_grant_type``, ``invalid_request``...):
  ``ConfigError("smtp.oauth2", "oauth_client_refused", ...)`` with the endpoint's ``error`` and
  ``error_description`` (quoted, bounded, control characters removed, any secret of the
  settings taken out) and what to change, for Microsoft's and Google's usual causes.
* A redirect, 404 or 405: ``oauth_token_url_wrong`` (the URL is not the token endpoint).
* The SSRF guard: ``oauth2_token_url_not_public``.

Messages name the endpoint by its host (``login.microsoftonline.com``), never by a secret.
"""

from __future__ import annotations

import json
from typing import Any

from courier.errors import ConfigError, TokenUnavailableError
from courier.https_fetch import (
    ExchangeFailedError,
    HostNotPublicError,
    HostUnresolvedError,
    HttpsAnswer,
    HttpsFailure,
    HttpsUrlError,
    https_target,
)
from courier.oauth.settings import FIELD, ClientCredentials, OAuthSettings, ServiceAccount

__all__ = ["host_of", "token_error", "unreachable_error"]

_TRANSIENT_STATUSES = frozenset({408, 425, 429})
_TRANSIENT_ERRORS = frozenset({"temporarily_unavailable", "server_error"})
_WRONG_URL_STATUSES = frozenset({404, 405})
_MAX_QUOTED = 400
_RETRIED = "courier retries the project's mail meanwhile"


def host_of(url: str) -> str:
    """The endpoint's ``host[:port]``, for messages.

    Example
    -------
    >>> host_of("https://login.microsoftonline.com/t/oauth2/v2.0/token")
    'login.microsoftonline.com'
    """
    try:
        target = https_target(url)
    except HttpsUrlError:
        return "the token endpoint"
    return target.host if target.port == 443 else f"{target.host}:{target.port}"


def unreachable_error(
    failure: HttpsFailure, settings: OAuthSettings
) -> ConfigError | TokenUnavailableError:
    """The error of a call that got no answer."""
    host = host_of(settings.token_url)
    if isinstance(failure, HostNotPublicError):
        return ConfigError(
            _url_field(settings),
            "oauth2_token_url_not_public",
            f"{failure.host} resolves to {failure.ip}, {failure.reason}; courier only speaks "
            "to token endpoints on globally routable unicast addresses unless the stack "
            f"parameter AllowPrivateSmtpHosts is true (the token endpoint of {settings.parameter})",
        )
    if isinstance(failure, HttpsUrlError):  # refused by the rules already: not reached
        return ConfigError(
            _url_field(settings),
            "oauth2_token_url_invalid",
            f"is not an https:// URL with a host; fix it in {settings.parameter}",
        )
    if isinstance(failure, HostUnresolvedError):
        what = failure.reason
    elif isinstance(failure, ExchangeFailedError) and failure.timed_out:
        what = "did not answer in time"
    elif isinstance(failure, ExchangeFailedError) and failure.refused:
        what = "refused the connection (nothing listens there)"
    else:
        what = f"could not be reached: {failure.reason}"
    return TokenUnavailableError(f"the OAuth 2.0 token endpoint {host} {what}; {_RETRIED}")


def token_error(
    answer: HttpsAnswer, settings: OAuthSettings
) -> ConfigError | TokenUnavailableError:
    """The error of an answer that is not a token."""
    host = host_of(settings.token_url)
    status = f"{answer.status} {_clean(answer.reason, 60)}".strip()
    if answer.status == 200:
        return TokenUnavailableError(
            f"the OAuth 2.0 token endpoint {host} answered 200 without a usable Bearer "
            f"access_token; {_RETRIED}"
        )
    if 300 <= answer.status < 400 or answer.status in _WRONG_URL_STATUSES:
        moved = " (a redirect, which courier does not follow)" if answer.status < 400 else ""
        return ConfigError(
            _url_field(settings),
            "oauth_token_url_wrong",
            f"the token endpoint {host} answered {status}{moved}: the URL is not the "
            f"endpoint itself; give its exact URL ({_url_example(settings)}) in "
            f"{settings.parameter}",
        )
    oauth = _oauth_error(answer)
    if (
        answer.status >= 500
        or answer.status in _TRANSIENT_STATUSES
        or oauth is None
        or oauth[0] in _TRANSIENT_ERRORS
    ):
        said = f" ({_quoted(oauth, settings)})" if oauth is not None else ""
        return TokenUnavailableError(
            f"the OAuth 2.0 token endpoint {host} answered {status}{said}; {_RETRIED}"
        )
    return ConfigError(
        FIELD,
        "oauth_client_refused",
        f"the token endpoint {host} refused to issue a token: {status}, "
        f"{_quoted(oauth, settings)}. {_fix(oauth, settings)}; change {settings.parameter} "
        "(courier retries the project's mail meanwhile)",
    )


def _oauth_error(answer: HttpsAnswer) -> tuple[str, str] | None:
    """``(error, error_description)`` of an OAuth error answer (RFC 6749 §5.2), else ``None``."""
    if not answer.complete:
        return None
    try:
        document: Any = json.loads(answer.body)
    except (ValueError, RecursionError):
        return None
    if not isinstance(document, dict) or not isinstance(document.get("error"), str):
        return None
    description = document.get("error_description")
    return document["error"], description if isinstance(description, str) else ""


def _quoted(oauth: tuple[str, str], settings: OAuthSettings) -> str:
    """``error "…"`` and the description, bounded and printable, with any secret taken out."""
    error = _clean(_redacted(oauth[0], settings), 80)
    description = _clean(_redacted(oauth[1], settings), _MAX_QUOTED)
    text = f'error "{error}"'
    return f'{text}: "{description}"' if description else text


def _clean(text: str, limit: int) -> str:
    """``text`` on one line: control and format characters removed, at most ``limit`` long."""
    import unicodedata  # only for an endpoint's refusal: not at cold start

    kept = "".join(
        " " if char.isspace() else char
        for char in text
        if char.isspace() or unicodedata.category(char)[0] != "C"
    )
    kept = " ".join(kept.split()).replace('"', "'")
    return kept if len(kept) <= limit else kept[: limit - 1] + "…"


def _redacted(text: str, settings: OAuthSettings) -> str:
    secret = (
        settings.client_secret
        if isinstance(settings, ClientCredentials)
        else settings.private_key.strip()
    )
    return text.replace(secret, "***") if secret else text


def _fix(oauth: tuple[str, str], settings: OAuthSettings) -> str:
    """What to change for the endpoint's ``error`` (and Microsoft's AADSTS code)."""
    error, description = oauth
    if isinstance(settings, ServiceAccount):
        return _service_account_fix(error, description, settings)
    aadsts = description.split(":", 1)[0].strip() if description.startswith("AADSTS") else ""
    fixes = {
        "AADSTS7000215": "client_secret is not the secret's value: in Microsoft Entra "
        "(App registrations → the app → Certificates & secrets) a secret has a Secret ID and a "
        "Value; put the Value (shown only when the secret is created: create a new one if it "
        "is no longer shown), not the Secret ID",
        "AADSTS7000222": "the client secret has expired: create a new one (Certificates & "
        "secrets) and put its Value as client_secret",
        "AADSTS700016": "client_id is not an application of the tenant in token_url: check "
        "client_id (the Application (client) ID) and the tenant id in token_url",
        "AADSTS90002": "the tenant in token_url does not exist: use "
        "https://login.microsoftonline.com/<Directory (tenant) ID>/oauth2/v2.0/token",
        "AADSTS1002012": "the scope must be a resource's .default scope: "
        "https://outlook.office365.com/.default for SMTP",
        "AADSTS70011": "the scope is not valid: https://outlook.office365.com/.default for "
        "Microsoft 365 SMTP",
    }
    if aadsts in fixes:
        return fixes[aadsts]
    return {
        "invalid_client": "the endpoint does not accept client_id with client_secret: check "
        "both (a secret may have expired or been deleted; for Microsoft, client_secret is the "
        "secret's Value, not its Secret ID)",
        "unauthorized_client": "the application may not use the client credentials grant, or "
        "not for this scope: for Microsoft 365, give the app the Office 365 Exchange Online "
        "permission SMTP.SendAsApp (application), grant admin consent, and register its "
        "service principal in Exchange with access to the mailbox",
        "invalid_grant": "the endpoint refused the grant: check client_id, client_secret and "
        "the tenant in token_url",
        "invalid_scope": "the scope is not one the application may ask for: "
        "https://outlook.office365.com/.default for Microsoft 365 SMTP",
        "unsupported_grant_type": "the endpoint does not offer the client credentials grant: "
        "is token_url the provider's token endpoint (for Microsoft, "
        "https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token)?",
    }.get(error, "check token_url, client_id, client_secret and scope")


def _service_account_fix(error: str, description: str, settings: ServiceAccount) -> str:
    client = f"client ID {settings.client_id}" if settings.client_id else "its client ID"
    delegation = (
        f"give the service account domain-wide delegation for the mailbox's domain: in the "
        f"Google Workspace admin console (Security → Access and data control → API controls → "
        f"Domain-wide delegation) add {client} with the scope {settings.scope}"
    )
    if error == "unauthorized_client":
        return delegation
    if error == "invalid_grant" and "signature" in description.lower():
        return (
            "the service account key is no longer valid (deleted or disabled in the Cloud "
            "console): create a new key and store it as service_account_key"
        )
    if error == "invalid_grant":
        return (
            "the mailbox (the connection URI's user) must be a user of the Workspace domain "
            "the service account is delegated for (and this machine's clock right); else "
            + delegation
        )
    if error == "invalid_client":
        return (
            "the service account or its key no longer exists: create a new key and store it "
            "as service_account_key"
        )
    if error == "invalid_scope":
        return "the scope is not valid: https://mail.google.com/ for Gmail SMTP"
    if error == "unsupported_grant_type":
        return (
            "the endpoint does not offer the JWT bearer grant: token_uri of the key must be "
            "Google's token endpoint, https://oauth2.googleapis.com/token"
        )
    return "check service_account_key and scope"


def _url_field(settings: OAuthSettings) -> str:
    if isinstance(settings, ServiceAccount):
        return f"{FIELD}.service_account_key.token_uri"
    return f"{FIELD}.token_url"


def _url_example(settings: OAuthSettings) -> str:
    if isinstance(settings, ServiceAccount):
        return "https://oauth2.googleapis.com/token"
    return "for Microsoft, https://login.microsoftonline.com/<tenant id>/oauth2/v2.0/token"

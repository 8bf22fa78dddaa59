"""Kratos's ``https://`` templates: fetched once when a project's config is read, bounded.

Kratos fetches a remote template when it renders; courier fetches it when it reads (or
validates) the config, and the source is cached with the config
(``POWERTOOLS_PARAMETERS_MAX_AGE``), so a mail never waits for a web server, and a template that
cannot be fetched is a config error (retried while an operator fixes it), never a lost mail.

The fetch is bounded and guarded as an SMTP connection is (:func:`courier.https_fetch.
https_request`, shared with the OAuth 2.0 token endpoint): only ``https://`` (a template is
mail content: over plain ``http://`` anyone on the path could rewrite a recovery mail), the
certificate verified against the system trust store, the host's addresses checked by the SSRF
guard (:func:`courier.network.why_not_public`, unless ``AllowPrivateSmtpHosts``) and the
connection made to the address that was checked, one request with no redirect followed, at
most :data:`MAX_TEMPLATE_BYTES` of UTF-8 text, and the whole fetch within
:data:`FETCH_TIMEOUT_SECONDS`.
"""

from __future__ import annotations

from courier.errors import ConfigError
from courier.https_fetch import (
    HostNotPublicError,
    HostUnresolvedError,
    HttpsAnswer,
    HttpsFailure,
    HttpsUrlError,
    https_request,
)

__all__ = ["FETCH_TIMEOUT_SECONDS", "MAX_TEMPLATE_BYTES", "fetch_template"]

MAX_TEMPLATE_BYTES = 256 * 1024
"""The largest template fetched; a mail template is a few KiB."""
FETCH_TIMEOUT_SECONDS = 5.0
"""The whole fetch: resolving, connecting, TLS, the request and the whole body."""


def fetch_template(
    url: str,
    *,
    field: str,
    allow_private_hosts: bool,
    timeout: float = FETCH_TIMEOUT_SECONDS,
) -> str:
    """The template source at ``url``.

    Parameters
    ----------
    url:
        An ``https://`` URL.
    field:
        The setting being read, for errors.
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``: the SSRF guard off.
    timeout:
        The whole fetch's bound, in seconds.

    Raises
    ------
    ConfigError
        ``template_remote_insecure`` (``http://``), ``template_remote_url_invalid``,
        ``template_remote_not_public`` (the SSRF guard), ``template_remote_failed`` (DNS, TCP,
        TLS, a status other than 200, a redirect, or the time bound), ``template_too_large`` or
        ``template_remote_not_text``.
    """
    try:
        answer = https_request(
            url,
            headers={"Accept": "text/plain, text/html, */*"},
            allow_private_hosts=allow_private_hosts,
            timeout=timeout,
            max_bytes=MAX_TEMPLATE_BYTES,
        )
    except HttpsFailure as exc:
        error = _fetch_error(exc, field=field)
    else:
        return _template(answer, field=field)
    raise error


def _fetch_error(failure: HttpsFailure, *, field: str) -> ConfigError:
    if isinstance(failure, HttpsUrlError):
        if failure.insecure:
            return ConfigError(
                field,
                "template_remote_insecure",
                "http:// templates are refused: anyone between courier and the web server "
                "could rewrite the mail; serve the template over https://, or inline it as "
                "base64://",
            )
        return ConfigError(
            field,
            "template_remote_url_invalid",
            "is not an https:// URL with a host (and without user:password@)",
        )
    if isinstance(failure, HostUnresolvedError):
        return ConfigError(field, "template_remote_failed", failure.reason)
    if isinstance(failure, HostNotPublicError):
        return ConfigError(
            field,
            "template_remote_not_public",
            f"{failure.host} resolves to {failure.ip}, {failure.reason}; courier only fetches "
            "templates from globally routable unicast addresses unless the stack parameter "
            "AllowPrivateSmtpHosts is true",
        )
    return ConfigError(
        field,
        "template_remote_failed",
        f"{failure.where} could not be fetched: {failure.reason}; courier retries the "
        "project's mail until it can be (or inline the template as base64://)",
    )


def _template(answer: HttpsAnswer, *, field: str) -> str:
    """The text of a 200 answer of at most :data:`MAX_TEMPLATE_BYTES`."""
    where = answer.where
    if answer.status != 200:
        location = answer.headers.get("location")
        moved = f" to {location!r}" if 300 <= answer.status < 400 else ""
        raise ConfigError(
            field,
            "template_remote_failed",
            f"{where} answered {answer.status} {answer.reason}{moved}; courier needs 200 "
            "with the template (redirects are not followed: give the final URL)",
        )
    if not answer.complete:
        raise ConfigError(
            field,
            "template_too_large",
            f"{where} is larger than {MAX_TEMPLATE_BYTES // 1024} KiB: not a mail template",
        )
    try:
        return answer.body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    raise ConfigError(field, "template_remote_not_text", f"{where} is not UTF-8 text")

"""A project's courier configuration: what SSM holds, turned into one typed :class:`ProjectConfig`.

Per project ``P``, under a prefix (``/courier`` by default), SSM holds ``{prefix}/P/smtp/
connection_uri`` (a SecureString: the connection URI, password included) and ``{prefix}/P/config``
(a String: the rest of Kratos's ``courier`` tree as JSON, checked against
``schemas/config.schema.json``), and optionally the SecureStrings ``{prefix}/P/smtp/client_cert``
and ``client_key`` (a client certificate) and ``{prefix}/P/smtp/oauth2`` (token login's
settings, :mod:`courier.oauth`). :func:`parse_project_config` applies the rules without any I/O;
:mod:`courier.config_provider` reads the parameters and caches the result.

Every mistake is a :class:`~courier.errors.ConfigError` naming the dotted field, and no message
repeats a value that may be secret.

Example
-------
>>> config = parse_project_config(
...     "acme",
...     config_json='{"smtp": {"from_address": "hi@acme.example"}}',
...     connection_uri="smtps://mailer:s3cret@smtp.acme.example/",
...     default_connection_uri=None,
...     default_from_address="no-reply@example.com",
... )
>>> config.from_address, str(config.connection_uri), config.message_retries
('hi@acme.example', 'smtps://mailer:***@smtp.acme.example:465/', 5)
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, NamedTuple

from courier.config_rules import (
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_MESSAGE_RETRIES,
    MAX_CONNECTIONS_MAX,
    ConfigContext,
    Problem,
    canonical_tree,
    check_config,
    client_certificate,
    config_schema,
    oauth_settings,
    template_settings,
)
from courier.errors import ConfigError
from courier.oauth import OAuthSettings
from courier.template_data import TEMPLATE_TYPES
from courier.templates import TemplateOverride
from courier.tls import ClientCertificate
from courier.uri import ConnectionUri

__all__ = [
    "CONFIG_SCHEMA",
    "DEFAULT_FROM_ADDRESS",
    "DEFAULT_LOCAL_NAME",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MESSAGE_RETRIES",
    "DEFAULT_PREFIX",
    "DEFAULT_PROJECT",
    "MAX_CONNECTIONS_MAX",
    "PROJECT_ID_PATTERN",
    "ParameterNames",
    "ProjectConfig",
    "check_project_id",
    "is_known_project",
    "parameter_names",
    "parse_project_config",
    "project_context",
    "project_unknown",
]

DEFAULT_PREFIX = "/courier"
DEFAULT_PROJECT = "default"
DEFAULT_FROM_ADDRESS = "no-reply@example.com"
DEFAULT_LOCAL_NAME = "localhost"
# The message schema's pattern: a project id is one SSM path segment, never a way to another's.
PROJECT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
_PREFIX_PATTERN = re.compile(r"^(/[a-zA-Z0-9_.-]+)+$")

CONFIG_SCHEMA: dict[str, Any] = config_schema()
"""The JSON Schema (draft-07) of the courier tree, from :mod:`courier.config_rules` (shipped
as ``schemas/config.schema.json``)."""


class ParameterNames(NamedTuple):
    """The SSM parameter names of one project."""

    connection_uri: str
    config: str
    client_cert: str
    """SecureString: the PEM client certificate the session presents (optional)."""
    client_key: str
    """SecureString: the PEM private key of :attr:`client_cert` (optional)."""
    oauth2: str
    """SecureString: token login's settings, JSON (:mod:`courier.oauth`; optional)."""


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Everything the sender needs to deliver one project's mail.

    ``repr()`` never shows a secret: :class:`~courier.uri.ConnectionUri` hides the password,
    :class:`~courier.tls.ClientCertificate` the key, and :attr:`oauth` the client secret or the
    private key.

    Attributes
    ----------
    uses_default_sender:
        ``True`` when the project has no connection URI of its own and sends through the
        stack's default server (and so from the stack's ``DefaultFromAddress``).
    templates:
        The project's template overrides by template type, with their URIs as configured
        (``base64://`` or ``file://``, not decoded here).
    max_connections:
        ``smtp.max_connections``: the most SMTP sessions a batch opens to the project's server
        at once; ``None``: the stack's ``SmtpConnectionsPerProject``.
    oauth:
        Where token login's tokens come from (``{prefix}/P/smtp/oauth2``), when the
        connection URI logs in with one (:attr:`ConnectionUri.auth
        <courier.uri.ConnectionUri>`): give it to :meth:`courier.oauth.Tokens.source` with the
        URI's :attr:`~courier.uri.ConnectionUri.token_user`; ``None`` otherwise.
    broken_templates:
        The template types one of whose parts does not load, compile or render, with that
        part's problem (its override is left out of :attr:`templates`): see
        :meth:`template_error`.
    """

    project_id: str
    connection_uri: ConnectionUri
    uses_default_sender: bool
    from_address: str
    from_name: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, hash=False)
    local_name: str = DEFAULT_LOCAL_NAME
    templates: Mapping[str, TemplateOverride] = field(default_factory=dict, hash=False)
    message_retries: int = DEFAULT_MESSAGE_RETRIES
    client_certificate: ClientCertificate | None = None
    max_connections: int | None = None
    oauth: OAuthSettings | None = None
    broken_templates: Mapping[str, Problem] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        # Frozen means frozen: a caller's dict is copied behind a read-only view.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "templates", MappingProxyType(dict(self.templates)))
        object.__setattr__(self, "broken_templates", MappingProxyType(dict(self.broken_templates)))

    def template_error(self, template_type: str | None) -> ConfigError | None:
        """Why a ``template_type`` mail cannot be rendered with this config, or ``None``.

        A part of one type's template that does not load (an ``https://`` server that does
        not answer, bad base64), compile or render costs that type's mail only: its messages
        fail with this config error (retried, with the project's ``message_retries``), and the
        project's other types are sent as usual.
        """
        problem = self.broken_templates.get(template_type) if template_type else None
        if problem is None:
            return None
        error = problem.as_error()
        error.message_retries = self.message_retries
        return error


def parameter_names(project_id: str, *, prefix: str = DEFAULT_PREFIX) -> ParameterNames:
    """The names of ``project_id``'s SSM parameters under ``prefix``.

    Raises
    ------
    ConfigError
        ``project_id_invalid`` or ``prefix_invalid``: either is not a plain SSM path segment.

    Example
    -------
    >>> parameter_names("acme").connection_uri
    '/courier/acme/smtp/connection_uri'
    >>> parameter_names("acme", prefix="/mail").config
    '/mail/acme/config'
    """
    check_project_id(project_id)
    if not _PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(
            "prefix",
            "prefix_invalid",
            f"{prefix!r} is not an SSM path such as /courier (leading slash, no trailing slash)",
        )
    return ParameterNames(
        connection_uri=f"{prefix}/{project_id}/smtp/connection_uri",
        config=f"{prefix}/{project_id}/config",
        client_cert=f"{prefix}/{project_id}/smtp/client_cert",
        client_key=f"{prefix}/{project_id}/smtp/client_key",
        oauth2=f"{prefix}/{project_id}/smtp/oauth2",
    )


def check_project_id(project_id: object) -> None:
    """Raise ``project_id_invalid`` unless ``project_id`` is one plain SSM path segment.

    Example
    -------
    >>> check_project_id("acme-prod")
    >>> check_project_id("acme/../other")
    Traceback (most recent call last):
    ...
    courier.errors.ConfigError: project_id: a project id is 1 to 64 letters, digits, '_', '.' or '-'
    """
    if not isinstance(project_id, str) or not PROJECT_ID_PATTERN.fullmatch(project_id):
        raise ConfigError(
            "project_id",
            "project_id_invalid",
            "a project id is 1 to 64 letters, digits, '_', '.' or '-'",
        )


def parse_project_config(
    project_id: str,
    *,
    config_json: str | None,
    connection_uri: str | None,
    default_connection_uri: str | None,
    default_from_address: str,
    prefix: str = DEFAULT_PREFIX,
    default_connection_uri_parameter: str | None = None,
    default_project: str = DEFAULT_PROJECT,
    client_cert_pem: str | None = None,
    client_key_pem: str | None = None,
    oauth2_json: str | None = None,
    allow_private_hosts: bool = False,
) -> ProjectConfig:
    """Build the :class:`ProjectConfig` of ``project_id`` from its parameters' values.

    No I/O but the bundled files and the ``https://`` templates a config names (fetched once
    here, and kept in the result). ``None`` means the parameter does not exist.

    Parameters
    ----------
    project_id:
        The project.
    config_json:
        The value of ``{prefix}/P/config`` (JSON), if it exists.
    connection_uri:
        The decrypted value of ``{prefix}/P/smtp/connection_uri``, if it exists.
    default_connection_uri:
        The stack's default sender URI, used when the project has none of its own.
    default_from_address:
        The stack's ``DefaultFromAddress``.
    prefix, default_connection_uri_parameter:
        Only to name the parameters in error messages.
    default_project:
        The stack's ``DefaultProject``, which is known without parameters of its own.
    client_cert_pem, client_key_pem:
        The SecureStrings ``{prefix}/P/smtp/client_cert`` and ``…/client_key``, if they exist.
    oauth2_json:
        The SecureString ``{prefix}/P/smtp/oauth2`` (token login's settings), if it exists.
    allow_private_hosts:
        The stack's ``AllowPrivateSmtpHosts``, for ``https://`` templates and token endpoints.

    Raises
    ------
    ConfigError
        ``project_unknown``, ``config_not_json``, the first error of
        :func:`courier.config_rules.check_config` (naming the dotted field), and the
        ``connection_uri.*`` errors of :meth:`ConnectionUri.parse`.

    Example
    -------
    >>> try:
    ...     parse_project_config(
    ...         "acme",
    ...         config_json='{"smtp": {"from_name": "Acme"}}',
    ...         connection_uri=None,
    ...         default_connection_uri="smtp://mx.example.com/",
    ...         default_from_address="no-reply@example.com",
    ...     )
    ... except ConfigError as exc:
    ...     print(exc.field, exc.code)
    smtp.from_name sender_requires_own_server
    """
    names = parameter_names(project_id, prefix=prefix)
    if not is_known_project(
        project_id,
        has_config=config_json is not None,
        has_connection_uri=connection_uri is not None,
        default_project=default_project,
    ):
        raise project_unknown(project_id, names)
    tree = _load_json(config_json, names)
    uri: ConnectionUri | None = None
    uri_error: ConfigError | None = None
    raw_uri = connection_uri if connection_uri is not None else default_connection_uri
    if raw_uri is not None:
        try:
            uri = _parse_uri(
                raw_uri,
                parameter=names.connection_uri
                if connection_uri is not None
                else default_connection_uri_parameter or "the stack's default sender",
            )
        except ConfigError as exc:
            uri_error = exc
    context = project_context(
        names,
        has_own_uri=connection_uri is not None,
        default_sender_exists=default_connection_uri is not None,
        default_connection_uri_parameter=default_connection_uri_parameter,
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
        oauth2_json=oauth2_json,
        connection_uri=uri,
        allow_private_hosts=allow_private_hosts,
    )
    problems = check_config(tree, context)
    errors = [problem for problem in problems if problem.is_error]
    message_retries = _message_retries(tree, problems)
    broken_templates: dict[str, Problem] = {}
    for problem in errors:
        if problem.template_type is not None:
            broken_templates.setdefault(problem.template_type, problem)
    errors = [problem for problem in errors if problem.template_type is None]
    if errors:
        error = errors[0].as_error()
        error.message_retries = message_retries
        raise error from None
    if uri_error is not None:
        # The settings themselves were read: their retries apply to this error too.
        uri_error.message_retries = message_retries
        raise uri_error from None
    assert uri is not None  # no URI at all is connection_uri_missing, an error of the rules
    tree = canonical_tree(tree)
    smtp: dict[str, Any] = tree.get("smtp", {})
    templates: dict[str, Any] = tree.get("templates", {})
    return ProjectConfig(
        project_id=project_id,
        connection_uri=uri,
        uses_default_sender=connection_uri is None,
        from_address=smtp.get("from_address", default_from_address),
        from_name=smtp.get("from_name"),
        headers=smtp.get("headers", {}),
        local_name=smtp.get("local_name", DEFAULT_LOCAL_NAME),
        templates=_template_overrides(
            templates, fetched=context.fetched, broken=broken_templates.keys()
        ),
        message_retries=message_retries,
        client_certificate=client_certificate(smtp, context),
        max_connections=int(smtp["max_connections"]) if "max_connections" in smtp else None,
        oauth=oauth_settings(context),
        broken_templates=broken_templates,
    )


def project_context(
    names: ParameterNames,
    *,
    has_own_uri: bool,
    default_sender_exists: bool,
    default_connection_uri_parameter: str | None,
    client_cert_pem: str | None,
    client_key_pem: str | None,
    oauth2_json: str | None,
    connection_uri: ConnectionUri | None,
    allow_private_hosts: bool,
) -> ConfigContext:
    """What the rules need to know of a project besides its tree, with its parameters named
    as the messages name them: for the sender reading a config and the validator alike."""
    return ConfigContext(
        has_own_uri=has_own_uri,
        uri_parameter=f"the SecureString {names.connection_uri}",
        default_sender_exists=default_sender_exists,
        default_sender_parameter=default_connection_uri_parameter
        or "DefaultConnectionUriParameter",
        client_cert_pem=client_cert_pem,
        client_key_pem=client_key_pem,
        client_secret_parameters=(names.client_cert, names.client_key),
        oauth2_json=oauth2_json,
        oauth2_parameter=names.oauth2,
        connection_uri=connection_uri,
        allow_private_hosts=allow_private_hosts,
    )


def is_known_project(
    project_id: str, *, has_config: bool, has_connection_uri: bool, default_project: str
) -> bool:
    """Whether ``project_id`` exists: it has a connection URI or a config parameter of its own,
    or it is the stack's default project. A message for any other project is not sent through
    the stack's default sender (a misspelt ``project_id`` would otherwise go out silently)."""
    return has_config or has_connection_uri or project_id == default_project


def project_unknown(project_id: str, names: ParameterNames) -> ConfigError:
    """The error of a message for a project that does not exist (see :func:`is_known_project`)."""
    return ConfigError(
        "project_id",
        "project_unknown",
        f"project {project_id!r} does not exist: neither {names.connection_uri} nor "
        f"{names.config} is set. Check the message's project_id; if the project is being "
        "created, its messages are retried meanwhile",
    )


def _load_json(config_json: str | None, names: ParameterNames) -> Any:
    if config_json is None:
        return {}
    try:
        return json.loads(config_json)
    except json.JSONDecodeError as exc:
        # exc.msg never quotes the document, which may hold a secret by mistake.
        raise ConfigError(
            "config",
            "config_not_json",
            f"{names.config} is not valid JSON: {exc.msg} at line {exc.lineno} column "
            f"{exc.colno} (character {exc.pos})",
        ) from None
    except RecursionError:
        raise ConfigError(
            "config", "config_not_json", f"{names.config} is nested too deeply to be read"
        ) from None


def _parse_uri(raw: str, *, parameter: str) -> ConnectionUri:
    try:
        return ConnectionUri.parse(raw)
    except ConfigError as exc:
        raise ConfigError(exc.field, exc.code, f"{parameter}: {exc.message}") from exc


def _message_retries(tree: Any, problems: list[Problem]) -> int:
    """The tree's ``message_retries`` when it is valid, else the default."""
    if any(problem.parts == ("message_retries",) for problem in problems):
        return DEFAULT_MESSAGE_RETRIES
    value = tree.get("message_retries") if isinstance(tree, dict) else None
    return int(value) if isinstance(value, int | float) else DEFAULT_MESSAGE_RETRIES


def _template_overrides(
    templates: Mapping[str, Any], *, fetched: Mapping[str, str], broken: Collection[str]
) -> dict[str, TemplateOverride]:
    """The overrides by template type, but for the ``broken`` types; an ``https://`` part is its
    fetched source, inlined, so that no mail waits for a web server."""

    def part(uri: str | None) -> str | None:
        if uri is None or uri not in fetched:
            return uri
        return "base64://" + base64.b64encode(fetched[uri].encode("utf-8")).decode("ascii")

    overrides = {}
    for template_type in TEMPLATE_TYPES:
        settings = template_settings(templates, template_type)
        if template_type in broken or not isinstance(settings, dict) or "email" not in settings:
            continue
        email = settings["email"]
        body = email.get("body", {})
        overrides[template_type] = TemplateOverride(
            subject=part(email.get("subject")),
            html=part(body.get("html")),
            plaintext=part(body.get("plaintext")),
        )
    return overrides

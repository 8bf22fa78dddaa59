"""A project's courier configuration: what SSM holds, turned into one typed :class:`ProjectConfig`.

Per project ``P``, under a prefix (``/courier`` by default), SSM holds ``{prefix}/P/smtp/
connection_uri`` (a SecureString: the connection URI, password included) and ``{prefix}/P/config``
(a String: the rest of Kratos's ``courier`` tree as JSON, checked against
``schemas/config.schema.json``). :func:`parse_project_config` applies the rules without any I/O;
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

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, NamedTuple

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from courier.errors import ConfigError, MessageError
from courier.message import check_header_value
from courier.templates import TemplateOverride
from courier.uri import ConnectionUri

__all__ = [
    "CONFIG_SCHEMA",
    "DEFAULT_FROM_ADDRESS",
    "DEFAULT_LOCAL_NAME",
    "DEFAULT_MESSAGE_RETRIES",
    "DEFAULT_PREFIX",
    "DEFAULT_PROJECT",
    "PROJECT_ID_PATTERN",
    "ParameterNames",
    "ProjectConfig",
    "check_project_id",
    "is_known_project",
    "parameter_names",
    "parse_project_config",
    "project_unknown",
    "validate_config_tree",
]

DEFAULT_PREFIX = "/courier"
DEFAULT_PROJECT = "default"
DEFAULT_FROM_ADDRESS = "no-reply@example.com"
DEFAULT_LOCAL_NAME = "localhost"
DEFAULT_MESSAGE_RETRIES = 5
# The message schema's pattern: a project id is one SSM path segment, never a way to another's.
PROJECT_ID_PATTERN = re.compile(r"^[a-zA-Z0-9_.-]{1,64}$")
_PREFIX_PATTERN = re.compile(r"^(/[a-zA-Z0-9_.-]+)+$")
# The transport writes these itself; a project without its own server must not reach From
# through headers either (the Ory rule).
_RESERVED_HEADERS = frozenset(
    {"from", "sender", "to", "cc", "bcc", "subject", "date", "message-id", "mime-version"}
    | {"content-type", "content-transfer-encoding"}
)

CONFIG_SCHEMA: dict[str, Any] = json.loads(
    (Path(__file__).parent / "schemas" / "config.schema.json").read_text(encoding="utf-8")
)
"""The JSON Schema (draft-07) of the courier tree; read-only."""


class ParameterNames(NamedTuple):
    """The SSM parameter names of one project."""

    connection_uri: str
    config: str
    client_cert: str
    """SecureString: the PEM client certificate the session presents (optional)."""
    client_key: str
    """SecureString: the PEM private key of :attr:`client_cert` (optional)."""


@dataclass(frozen=True, kw_only=True)
class ProjectConfig:
    """Everything the sender needs to deliver one project's mail.

    ``repr()`` never shows the password: :class:`~courier.uri.ConnectionUri` hides it.

    Attributes
    ----------
    uses_default_sender:
        ``True`` when the project has no connection URI of its own and sends through the
        stack's default server (and so from the stack's ``DefaultFromAddress``).
    templates:
        The project's template overrides by template type, with their URIs as configured
        (``base64://`` or ``file://``, not decoded here).
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

    def __post_init__(self) -> None:
        # Frozen means frozen: a caller's dict is copied behind a read-only view.
        object.__setattr__(self, "headers", MappingProxyType(dict(self.headers)))
        object.__setattr__(self, "templates", MappingProxyType(dict(self.templates)))


def parameter_names(project_id: str, *, prefix: str = DEFAULT_PREFIX) -> ParameterNames:
    """The names of ``project_id``'s two SSM parameters under ``prefix``.

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
) -> ProjectConfig:
    """Build the :class:`ProjectConfig` of ``project_id`` from its parameters' values.

    Pure: no I/O. ``None`` means the parameter does not exist, which is normal for both.

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

    Raises
    ------
    ConfigError
        ``config_not_json``; ``connection_uri_in_plain_config``; ``config_schema`` (naming the
        dotted field); ``header_reserved``; ``header_crlf``; ``connection_uri_missing``;
        ``sender_requires_own_server`` (Ory's rule: without its own connection URI a project
        may not set ``smtp.from_address``, ``smtp.from_name`` or ``templates``); and the
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
    smtp = tree.get("smtp") if isinstance(tree, dict) else None
    if isinstance(smtp, dict) and "connection_uri" in smtp:
        raise ConfigError(
            "smtp.connection_uri",
            "connection_uri_in_plain_config",
            f"the connection URI (and its password) must not be in the String parameter "
            f"{names.config}, which anyone who may read parameters can see: store it as the "
            f"SecureString {names.connection_uri} and remove smtp.connection_uri from the config",
        )
    validate_config_tree(tree)
    smtp = tree.get("smtp", {})
    templates: dict[str, Any] = tree.get("templates", {})
    message_retries = int(tree.get("message_retries", DEFAULT_MESSAGE_RETRIES))
    try:
        uri = _connection_uri(
            project_id,
            smtp=smtp,
            templates=templates,
            names=names,
            connection_uri=connection_uri,
            default_connection_uri=default_connection_uri,
            default_connection_uri_parameter=default_connection_uri_parameter,
        )
        overrides = {name: _template_override(value) for name, value in templates.items()}
    except ConfigError as exc:
        # The settings themselves were read: their retries apply to this error too.
        exc.message_retries = message_retries
        raise
    return ProjectConfig(
        project_id=project_id,
        connection_uri=uri,
        uses_default_sender=connection_uri is None,
        from_address=smtp.get("from_address", default_from_address),
        from_name=smtp.get("from_name"),
        headers=smtp.get("headers", {}),
        local_name=smtp.get("local_name", DEFAULT_LOCAL_NAME),
        templates=overrides,
        message_retries=message_retries,
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


def _connection_uri(
    project_id: str,
    *,
    smtp: dict[str, Any],
    templates: dict[str, Any],
    names: ParameterNames,
    connection_uri: str | None,
    default_connection_uri: str | None,
    default_connection_uri_parameter: str | None,
) -> ConnectionUri:
    """The project's own connection URI, or the stack's default sender if it may use it."""
    if connection_uri is None:
        _check_sender_not_set(smtp, templates, names)
        if default_connection_uri is None:
            raise ConfigError(
                "smtp.connection_uri",
                "connection_uri_missing",
                f"project {project_id!r} has no connection URI: set the SecureString "
                f"{names.connection_uri}, or the stack's default sender "
                f"{default_connection_uri_parameter or '(DefaultConnectionUriParameter)'}",
            )
        return _parse_uri(
            default_connection_uri,
            parameter=default_connection_uri_parameter or "the stack's default sender",
        )
    return _parse_uri(connection_uri, parameter=names.connection_uri)


def validate_config_tree(tree: object) -> None:
    """Check a courier tree against :data:`CONFIG_SCHEMA` and the header rules.

    The tree may carry ``smtp.connection_uri`` (the config validator checks whole trees); its
    value is not parsed here.

    Raises
    ------
    ConfigError
        ``config_schema`` naming the dotted field (``smtp.headers.X-Tag``, ``message_retries``);
        ``header_reserved``; or ``header_crlf``: ``smtp.from_name`` or a header's value breaks
        the mail's rule for header values (:func:`courier.message.check_header_value`: no line
        break, not even one an RFC 2047 encoded word decodes to).

    Example
    -------
    >>> validate_config_tree({"message_retries": 21})
    Traceback (most recent call last):
    ...
    courier.errors.ConfigError: message_retries: must be smaller than or equal to 20
    """
    try:
        valid: dict[str, Any] = validate(event=tree, schema=CONFIG_SCHEMA)
        error = None
    except SchemaValidationError as exc:
        error = _schema_error(exc)
    if error is not None:
        # Raised outside the except block, so not even __context__ keeps the library's
        # exception: its message quotes the offending value, which may be a password.
        raise error
    smtp = valid.get("smtp", {})
    if "from_name" in smtp:
        _check_header_value(smtp["from_name"], "smtp.from_name")
    for name, value in smtp.get("headers", {}).items():
        if name.lower() in _RESERVED_HEADERS:
            raise ConfigError(
                f"smtp.headers.{name}",
                "header_reserved",
                f"{name} is written by courier itself and cannot be set as an extra header "
                "(the sender is smtp.from_address and smtp.from_name)",
            )
        _check_header_value(value, f"smtp.headers.{name}")


def _check_header_value(value: str, field_name: str) -> None:
    """The mail's rule for a header value (:func:`courier.message.check_header_value`)."""
    try:
        check_header_value(value, field_name)
    except MessageError as exc:
        # A setting, not a message: an operator fixes it, so it is a ConfigError.
        raise ConfigError(exc.field, exc.code, exc.message) from None


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


def _schema_error(exc: SchemaValidationError) -> ConfigError:
    path = [str(part) for part in (exc.path or ["data"])[1:]]
    definition = exc.definition if isinstance(exc.definition, dict) else {}
    value = exc.value
    if exc.rule == "additionalProperties" and isinstance(value, dict):
        known = list(definition.get("properties", {}))
        unknown = sorted(key for key in value if key not in known)
        if unknown:
            return ConfigError(
                ".".join([*path, unknown[0]]),
                "config_schema",
                f"is not a setting here; the settings are: {', '.join(known)}",
            )
    if exc.rule == "propertyNames" and isinstance(value, dict):
        names = definition["propertyNames"]
        pattern, longest = re.compile(names["pattern"]), names["maxLength"]
        bad = sorted(key for key in value if not pattern.search(key) or len(key) > longest)
        shown = repr(bad[0]) if bad else "a name"
        return ConfigError(
            ".".join(path),
            "config_schema",
            f"{shown} is not {names['description']} (at most {longest} characters)",
        )
    text = exc.validation_message or "is not valid"
    # fastjsonschema starts with the path ("data.smtp.from_name must ..."): keep the rest.
    text = text.removeprefix(f"{exc.name} ") if exc.name else text
    if exc.rule == "pattern" and "description" in definition:
        text = f"must be {definition['description']}"
    return ConfigError(".".join(path) or "config", "config_schema", text)


def _check_sender_not_set(
    smtp: Mapping[str, Any], templates: Mapping[str, Any], names: ParameterNames
) -> None:
    rule = (
        "the sender address and name, and the templates, can only be changed together with "
        f"the project's own SMTP server: set {names.connection_uri}, or remove "
    )
    for key in ("from_address", "from_name"):
        if key in smtp:
            raise ConfigError(f"smtp.{key}", "sender_requires_own_server", f"{rule}smtp.{key}")
    if templates:
        first = next(iter(templates))
        raise ConfigError(f"templates.{first}", "sender_requires_own_server", f"{rule}templates")


def _parse_uri(raw: str, *, parameter: str) -> ConnectionUri:
    try:
        return ConnectionUri.parse(raw)
    except ConfigError as exc:
        raise ConfigError(exc.field, exc.code, f"{parameter}: {exc.message}") from exc


def _template_override(value: Mapping[str, Any]) -> TemplateOverride:
    email = value.get("email", {})
    body = email.get("body", {})
    return TemplateOverride(
        subject=email.get("subject"), html=body.get("html"), plaintext=body.get("plaintext")
    )

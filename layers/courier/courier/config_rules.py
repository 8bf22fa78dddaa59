"""The rules of a project's courier configuration: the one definition of a valid config.

:data:`COURIER_TREE` describes every setting of Kratos's ``courier`` tree, as Kratos writes it
(``templates.recovery_code.valid.email.body.html``; courier's older flat keys such as
``templates.recovery_code_valid`` are read too), with the rule of each value. Everything else
is derived from it:

* :func:`check_config` walks a tree once and returns every :class:`Problem` (path, code, a
  message that says what to do), then applies the rules that join settings (Ory's
  ``sender_requires_own_server``, a missing URI, the client certificate);
* :func:`courier.config.parse_project_config` raises the first error of that list (one about a
  single template type's part is kept with the config instead, for that type's mail); the config
  validator turns the whole list into findings; :func:`courier.message.build_email` checks the
  mail with the same header rules (:mod:`courier.headers`);
* :func:`config_schema` is the JSON Schema shipped as ``schemas/config.schema.json`` (a test
  keeps the file equal to it).

Example
-------
>>> context = ConfigContext(has_own_uri=True)
>>> [(p.field, p.code) for p in check_config({"smtp": {"from_name": 7}, "message_retries": 21},
...                                          context)]
[('smtp.from_name', 'config_schema'), ('message_retries', 'message_retries_out_of_range')]
"""

from __future__ import annotations

import copy
import json
import re
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from courier.bundle import BundledKind, read_bundled_file
from courier.errors import ConfigError, MessageError
from courier.headers import (
    FIELD_NAME_MAX_LENGTH,
    FIELD_NAME_PATTERN,
    HEADER_VALUE_MAX_LENGTH,
    check_extra_header,
    check_header_value,
)
from courier.message import check_sender_address
from courier.oauth.settings import EXAMPLE as OAUTH2_EXAMPLE
from courier.oauth.settings import FIELD as OAUTH2_FIELD
from courier.oauth.settings import OAuthSettings, check_settings
from courier.remote_templates import fetch_template
from courier.template_data import TEMPLATE_TYPES, config_key
from courier.templates import (
    URI_SCHEMES,
    Part,
    check_template_renders,
    check_template_source,
    converted_jinja,
    load_override_source,
)
from courier.tls import (
    CLIENT_CERT_FIELD,
    CLIENT_KEY_FIELD,
    ClientCertificate,
    check_client_certificate_mode,
    load_client_certificate,
)
from courier.uri import ConnectionUri

__all__ = [
    "CERT_DIR",
    "COURIER_TREE",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_MESSAGE_RETRIES",
    "MAX_CONNECTIONS_MAX",
    "MESSAGE_RETRIES_MAX",
    "ConfigContext",
    "Problem",
    "canonical_tree",
    "check_config",
    "client_certificate",
    "config_schema",
    "oauth_settings",
    "read_bundled_pem",
    "template_node",
    "template_settings",
]

Parts = tuple[str, ...]
Severity = Literal["error", "warning"]

CERT_DIR = Path(__file__).resolve().parent / "certs"
"""The bundled folder ``smtp.client_cert_path`` and ``client_key_path`` are read from."""
MESSAGE_RETRIES_MAX = 20
DEFAULT_MESSAGE_RETRIES = 5
"""Kratos's default: a failed delivery is retried five times (six attempts)."""
MAX_CONNECTIONS_MAX = 10
"""The most SMTP sessions one project may have at once (a batch holds at most 10 messages)."""
DEFAULT_MAX_CONNECTIONS = 2
"""Sessions a project may have at once when neither it nor the stack says
(``smtp.max_connections``, the stack parameter ``SmtpConnectionsPerProject``)."""
_PEM_MAX_BYTES = 64 * 1024


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one setting.

    Attributes
    ----------
    parts:
        Where, below the courier tree (``("smtp", "headers", "X-Tag")``); ``()`` for the whole.
    code:
        Stable and machine-readable (``config_schema``, ``header_reserved``, ...).
    message:
        What is wrong and what to do; never a secret.
    severity:
        ``error`` (the config cannot be used) or ``warning`` (it can, but likely not as meant).
    template_type:
        The template type whose part this is about (a part that does not load, compile or
        render): such an error costs only that type's mail, not the project's.
    """

    parts: Parts
    code: str
    message: str
    severity: Severity = "error"
    template_type: str | None = None

    @property
    def field(self) -> str:
        """The dotted field name, as :class:`~courier.errors.ConfigError` has it."""
        return ".".join(self.parts) or "config"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"

    def as_error(self) -> ConfigError:
        return ConfigError(self.field, self.code, self.message)


@dataclass(frozen=True, kw_only=True)
class ConfigContext:
    """What the rules that join settings need to know besides the tree.

    Attributes
    ----------
    has_own_uri:
        The project has (or gets) a connection URI of its own.
    uri_parameter:
        The SecureString of the project's URI, to name in messages.
    default_sender_exists:
        The stack's default sender URI is set (it is used without a URI of its own).
    default_sender_parameter:
        Its parameter, to name in messages.
    client_cert_pem, client_key_pem:
        The SecureStrings ``…/smtp/client_cert`` and ``…/smtp/client_key``, if set.
    client_secret_parameters:
        Their names, to name in messages.
    connection_uri:
        The URI the project sends through (its own, or the stack's default), when it parses.
    oauth2_json, oauth2_parameter:
        The SecureString ``…/smtp/oauth2`` (token login's settings, :mod:`courier.oauth`), if
        set, and its name.
    """

    has_own_uri: bool
    uri_parameter: str = "the SecureString …/smtp/connection_uri"
    default_sender_exists: bool = True
    default_sender_parameter: str = "DefaultConnectionUriParameter"
    client_cert_pem: str | None = None
    client_key_pem: str | None = field(default=None, repr=False)
    client_secret_parameters: tuple[str, str] = ("…/smtp/client_cert", "…/smtp/client_key")
    connection_uri: ConnectionUri | None = None
    oauth2_json: str | None = field(default=None, repr=False)
    oauth2_parameter: str = "…/smtp/oauth2"
    allow_private_hosts: bool = False
    """The stack's ``AllowPrivateSmtpHosts``: the SSRF guard off, for https:// templates too."""
    fetched: dict[str, str] = field(default_factory=dict, compare=False)
    """The ``https://`` templates fetched while checking, by URL: the reading's cache."""
    converted: dict[Parts, str] = field(default_factory=dict, compare=False)
    """The Jinja each Go template override converts to, by its place: for review."""

    def fetch(self, uri: str, field: str) -> str:
        """The ``https://`` template ``uri``, fetched once per reading (:attr:`fetched`)."""
        if uri not in self.fetched:
            self.fetched[uri] = fetch_template(
                uri, field=field, allow_private_hosts=self.allow_private_hosts
            )
        return self.fetched[uri]


# --- the kinds of setting ------------------------------------------------------------------


class Rule:
    """The rule of one value: its schema, and its check."""

    description: str

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        raise NotImplementedError


ValueCheck = Callable[[str, Parts], Iterator[Problem]]


@dataclass(frozen=True, kw_only=True)
class Text(Rule):
    """A string, with bounds, a pattern (ECMA and Python alike) and a check of its own."""

    description: str
    max_length: int
    min_length: int = 0
    pattern: str | None = None
    value_check: ValueCheck | None = None

    def schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = {"description": self.description, "type": "string"}
        if self.min_length:
            schema["minLength"] = self.min_length
        schema["maxLength"] = self.max_length
        if self.pattern is not None:
            schema["pattern"] = self.pattern
        return schema

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        if not isinstance(value, str):
            yield _wrong_kind(parts, self.description, value)
        elif len(value) < self.min_length:
            yield Problem(parts, "config_schema", f"must not be empty: {self.description}")
        elif len(value) > self.max_length:
            yield Problem(
                parts,
                "config_schema",
                f"is {len(value)} characters long; at most {self.max_length} are allowed",
            )
        elif self.pattern is not None and not re.search(self.pattern, value):
            yield Problem(parts, "config_schema", f"must be {self.description}")
        elif self.value_check is not None:
            yield from self.value_check(value, parts)


@dataclass(frozen=True, kw_only=True)
class Integer(Rule):
    description: str
    minimum: int
    maximum: int

    def schema(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "type": "integer",
            "minimum": self.minimum,
            "maximum": self.maximum,
        }

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        whole = isinstance(value, int) or (isinstance(value, float) and value.is_integer())
        if not whole or isinstance(value, bool) or not isinstance(value, int | float):
            yield _wrong_kind(parts, f"a whole number: {self.description}", value)
        elif not self.minimum <= value <= self.maximum:
            yield Problem(
                parts,
                f"{parts[-1]}_out_of_range",
                f"must be a whole number from {self.minimum} to {self.maximum}: {self.description}",
            )


@dataclass(frozen=True, kw_only=True)
class Settings(Rule):
    """An object of named settings; any other name is refused, with the known ones listed."""

    description: str
    properties: Mapping[str, Rule]
    unknown_hint: Callable[[str], str] | None = None
    schema_ref: str | None = None
    """The name of this rule's schema in the schema's ``definitions``, when it is shared."""

    def schema(self) -> dict[str, Any]:
        if self.schema_ref is not None:
            return {"$ref": f"#/definitions/{self.schema_ref}"}
        return self.own_schema()

    def own_schema(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "type": "object",
            "additionalProperties": False,
            "properties": {name: rule.schema() for name, rule in self.properties.items()},
        }

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        if not isinstance(value, dict):
            yield _wrong_kind(parts, f"an object of settings ({self.description})", value)
            return
        for name, item in value.items():
            rule = self.properties.get(name)
            if rule is None:
                hint = self.unknown_hint(name) if self.unknown_hint is not None else ""
                yield Problem(
                    (*parts, name),
                    "config_schema",
                    f"is not a setting here; the settings are: {', '.join(self.properties)}" + hint,
                )
            else:
                yield from rule.check(item, (*parts, name), context)


@dataclass(frozen=True, kw_only=True)
class Entries(Rule):
    """An object of user-chosen names (headers), each name and value checked."""

    description: str
    name: Text
    value: Text
    entry_check: Callable[[str, str, Parts], Iterator[Problem]]

    def schema(self) -> dict[str, Any]:
        names = self.name.schema()
        del names["type"]
        return {
            "description": self.description,
            "type": "object",
            "propertyNames": names,
            "additionalProperties": self.value.schema(),
        }

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        if not isinstance(value, dict):
            yield _wrong_kind(parts, f"an object ({self.description})", value)
            return
        for name, item in value.items():
            where = (*parts, name)
            problems = list(self.value.check(item, where, context))
            yield from problems
            if not problems:  # the name's rule is the entry's (the schema states its pattern)
                yield from self.entry_check(name, item, where)


@dataclass(frozen=True, kw_only=True)
class Ignored(Rule):
    """A Kratos setting courier has no use for: accepted, with a warning that says why."""

    description: str
    reason: str

    def schema(self) -> dict[str, Any]:
        return {"description": f"{self.description} Ignored: {self.reason}."}

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        yield Problem(
            parts, "kratos_setting_ignored", f"is ignored: {self.reason}", severity="warning"
        )


@dataclass(frozen=True, kw_only=True)
class Refused(Rule):
    """A Kratos setting courier cannot honour: refused, saying what to use instead."""

    description: str
    code: str
    message: str

    def schema(self) -> dict[str, Any]:
        return {"description": f"{self.description} Not supported: {self.message}.", "not": {}}

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        yield Problem(parts, self.code, self.message)


@dataclass(frozen=True, kw_only=True)
class Elsewhere(Rule):
    """A setting kept elsewhere than the tree (the URI: a SecureString); see
    :func:`check_config`."""

    description: str
    max_length: int

    def schema(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "type": "string",
            "minLength": 1,
            "maxLength": self.max_length,
        }

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        return iter(())


@dataclass(frozen=True, kw_only=True)
class TemplateUri(Rule):
    """One part of one template type: loaded, compiled and rendered with Kratos's data for
    the type, as the sender would (:mod:`courier.templates`)."""

    template_type: str
    part: Part
    description: str = (
        "a base64:// URI (the template's source, Jinja2 or Kratos's Go template syntax, "
        "base64-encoded), a file:// URI (a file in courier's bundled template folder) or an "
        "https:// URL (fetched when the config is read, and cached with it)"
    )

    def schema(self) -> dict[str, Any]:
        return {
            "description": self.description,
            "type": "string",
            "pattern": f"^({'|'.join(URI_SCHEMES)})://",
        }

    def check(self, value: object, parts: Parts, context: ConfigContext) -> Iterator[Problem]:
        if not isinstance(value, str):
            yield replace(
                _wrong_kind(parts, self.description, value), template_type=self.template_type
            )
            return
        field_name = ".".join(parts)
        try:
            source = load_override_source(value, field=field_name, fetch=context.fetch)
            converted = converted_jinja(source, field=field_name)
            if converted is not None:
                context.converted[parts] = converted
            check_template_source(source, field=field_name)
            check_template_renders(self.template_type, self.part, source, field=field_name)
        except ConfigError as exc:
            if exc.code == "template_data_missing":  # a producer may send more than Kratos
                yield Problem(
                    parts,
                    exc.code,
                    f"{exc.message}: Kratos sends no such value for this type, so every "
                    "message without it in template_data would be dead-lettered",
                    severity="warning",
                    template_type=self.template_type,
                )
            else:
                yield Problem(parts, exc.code, exc.message, template_type=self.template_type)


def _wrong_kind(parts: Parts, description: str, value: object) -> Problem:
    return Problem(parts, "config_schema", f"must be {description}, not {_kind(value)}")


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


# --- the checks of single values -----------------------------------------------------------


def _from_message_error(check: Callable[[str, str], object]) -> ValueCheck:
    """A value check from one of the mail's rules, which raise MessageError."""

    def value_check(value: str, parts: Parts) -> Iterator[Problem]:
        try:
            check(value, ".".join(parts))
        except MessageError as exc:
            yield Problem(parts, exc.code, exc.message)

    return value_check


def _extra_header(name: str, value: str, parts: Parts) -> Iterator[Problem]:
    try:
        check_extra_header(name, value, ".".join(parts))
    except MessageError as exc:
        yield Problem(parts, exc.code, exc.message)


def _delivery_strategy(value: str, parts: Parts) -> Iterator[Problem]:
    if value != "smtp":
        yield Problem(
            parts,
            "delivery_strategy_unsupported",
            f"courier delivers by SMTP only; {value!r} delivery is not available: remove "
            "delivery_strategy (or set it to smtp) and set smtp.connection_uri",
        )


def _bundled_pem(path: str, parts: Parts) -> Iterator[Problem]:
    try:
        read_bundled_pem(path, field=".".join(parts))
    except ConfigError as exc:
        yield Problem(parts, exc.code, exc.message)


_CERT_FILE = BundledKind(
    "client_cert_file",
    "certificate",
    "",
    "copy the PEM file there (layers/courier/courier/certs/, before sam build) and give its "
    "name, or store the PEM as the SecureStrings …/smtp/client_cert and …/smtp/client_key "
    "beside the connection URI and remove this setting",
)


def read_bundled_pem(path: str, *, field: str) -> str:
    """The PEM text of ``path``, a file in :data:`CERT_DIR` (relative, or absolute inside it).

    Raises
    ------
    ConfigError
        ``client_cert_file_outside``, ``client_cert_file_missing`` or
        ``client_cert_file_unreadable``.
    """
    return read_bundled_file(
        path, root=CERT_DIR, field=field, kind=_CERT_FILE, max_bytes=_PEM_MAX_BYTES
    )


# --- the tree ------------------------------------------------------------------------------


def template_node(template_type: str) -> Settings:
    """The rule of one template type's settings (``….email.subject``, ``….email.body.*``)."""
    email = Settings(
        description="the templates of the mail",
        properties={
            "subject": TemplateUri(template_type=template_type, part="subject"),
            "body": Settings(
                description="the bodies of the mail",
                properties={
                    "html": TemplateUri(template_type=template_type, part="html"),
                    "plaintext": TemplateUri(template_type=template_type, part="plaintext"),
                },
            ),
        },
    )
    return Settings(
        description="the templates of one template type",
        schema_ref="template",
        properties={
            "email": email,
            "sms": Ignored(
                description="Kratos's SMS template.", reason="courier sends email, not SMS"
            ),
        },
    )


def _template_tree() -> Settings:
    nested: dict[str, dict[str, Rule]] = {}
    single: dict[str, Rule] = {}
    for template_type in TEMPLATE_TYPES:
        key = config_key(template_type)
        if len(key) == 2:
            nested.setdefault(key[0], {})[key[1]] = template_node(template_type)
        else:
            single[key[0]] = template_node(template_type)
    properties: dict[str, Rule] = {
        flow: Settings(description=f"the {flow} mails", properties=levels)
        for flow, levels in nested.items()
    }
    properties.update(single)
    for template_type in TEMPLATE_TYPES:  # courier's earlier flat names, still read
        if template_type not in properties:
            node = template_node(template_type)
            properties[template_type] = node
    return Settings(
        description="replacements of the built-in templates, by flow as Kratos names them "
        "(templates.recovery_code.valid); courier's flat names (templates.recovery_code_valid) "
        "are read too, and stored nested. Only with the project's own connection URI",
        properties=properties,
    )


_SMTP = Settings(
    description="how mail is sent",
    properties={
        "connection_uri": Elsewhere(
            description="smtp:// or smtps:// connection URI, password included; kept only in "
            "the SecureString {prefix}/P/smtp/connection_uri, never in {prefix}/P/config",
            max_length=4096,
        ),
        "from_address": Text(
            description="an email address such as no-reply@example.com (the stack's "
            "DefaultFromAddress when unset; only with the project's own connection URI)",
            max_length=320,
            value_check=_from_message_error(check_sender_address),
        ),
        "from_name": Text(
            description="one line of text, shown as the sender's name (only with the "
            "project's own connection URI)",
            min_length=1,
            max_length=256,
            value_check=_from_message_error(check_header_value),
        ),
        "headers": Entries(
            description="extra headers of every mail, by name",
            name=Text(
                description="a header field name: printable ASCII without spaces or colons",
                max_length=FIELD_NAME_MAX_LENGTH,
                pattern=FIELD_NAME_PATTERN,
            ),
            value=Text(description="one line of text", max_length=HEADER_VALUE_MAX_LENGTH),
            entry_check=_extra_header,
        ),
        "local_name": Text(
            description="a host name or [address literal], sent in EHLO (localhost when unset)",
            max_length=253,
            pattern=r"^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_](?:[A-Za-z0-9_.-]*[A-Za-z0-9_])?)$",
        ),
        "client_cert_path": Text(
            description="a PEM client certificate (chain) in courier's bundled folder certs/, "
            "presented to the server (with client_key_path; only with the project's own "
            "connection URI)",
            min_length=1,
            max_length=1024,
            value_check=_bundled_pem,
        ),
        "client_key_path": Text(
            description="the unencrypted PEM private key of client_cert_path, in certs/",
            min_length=1,
            max_length=1024,
            value_check=_bundled_pem,
        ),
        "max_connections": Integer(
            description="how many SMTP sessions a batch may open to the project's server at "
            "once (its connection limit); the stack parameter SmtpConnectionsPerProject "
            f"({DEFAULT_MAX_CONNECTIONS} by default) when unset. Not Kratos's: courier's own",
            minimum=1,
            maximum=MAX_CONNECTIONS_MAX,
        ),
    },
)


def _kratos_hint(name: str) -> str:
    if name == "sms":
        return ". courier sends email only"
    return ""


COURIER_TREE = Settings(
    description="A project's courier configuration: Ory Kratos's courier tree. In SSM the "
    "String parameter {prefix}/P/config holds all of it but smtp.connection_uri, which lives "
    "in the SecureString {prefix}/P/smtp/connection_uri. Defaults are stated in descriptions "
    "(no 'default' keywords: a validator that fills them in would change the data it checks).",
    properties={
        "smtp": _SMTP,
        "templates": _template_tree(),
        "message_retries": Integer(
            description=f"how many times a failed delivery is retried; "
            f"{DEFAULT_MESSAGE_RETRIES} when unset",
            minimum=0,
            maximum=MESSAGE_RETRIES_MAX,
        ),
        "template_override_path": Refused(
            description="Kratos's folder of template files.",
            code="template_override_path_unsupported",
            message="the sender runs on AWS Lambda and has no template folder of yours to "
            "read: give each template as a base64:// URI (or a file:// path in courier's "
            "bundled template folder) under templates.<flow>.<valid|invalid>.email (see "
            "docs/go-templates.md), and remove template_override_path",
        ),
        "delivery_strategy": Text(
            description="smtp (courier delivers by SMTP only)",
            max_length=16,
            value_check=_delivery_strategy,
        ),
        "worker": Ignored(
            description="Kratos's queue worker.",
            reason="SQS and the sender's event source mapping do the work of Kratos's worker "
            "(batch size and concurrency are stack parameters)",
        ),
        "channels": Ignored(
            description="Kratos's HTTP and SMS channels.",
            reason="courier delivers email by SMTP only",
        ),
        "http": Ignored(
            description="Kratos's HTTP delivery.", reason="courier delivers email by SMTP only"
        ),
    },
    unknown_hint=_kratos_hint,
)
"""Every setting of the courier tree and its rule."""


def config_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) of :data:`COURIER_TREE`: ``schemas/config.schema.json``."""
    return {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "courier configuration",
        **COURIER_TREE.schema(),
        "definitions": {"template": template_node(TEMPLATE_TYPES[0]).own_schema()},
    }


# --- a whole config ------------------------------------------------------------------------


def check_config(tree: object, context: ConfigContext) -> list[Problem]:
    """Every problem of the courier tree ``tree``, in one pass.

    Parameters
    ----------
    tree:
        The courier tree as stored in ``{prefix}/P/config`` (without the connection URI).
    context:
        The project's URI and certificates, and the stack's default sender.

    Returns
    -------
    list[Problem]
        Errors and warnings, in the tree's order, then those of the rules that join settings:
        ``connection_uri_in_plain_config``, ``sender_requires_own_server`` (Ory's rule: the
        sender and the templates change only with the project's own server),
        ``connection_uri_missing``, ``template_set_twice``, the client certificate's and token
        login's (:func:`oauth_problems`).
    """
    problems = list(COURIER_TREE.check(tree, (), context))
    if not isinstance(tree, dict):
        return problems
    smtp, templates = _object(tree, "smtp"), _object(tree, "templates")
    if "connection_uri" in smtp:
        problems.append(
            Problem(
                ("smtp", "connection_uri"),
                "connection_uri_in_plain_config",
                "the connection URI (and its password) must not be in the String parameter "
                "that holds the config, which anyone who may read parameters can see: store "
                f"it as {context.uri_parameter} and remove smtp.connection_uri from the config",
            )
        )
    if not context.has_own_uri:
        problems.extend(_needs_own_server(smtp, templates, context))
    problems.extend(_templates_set_twice(templates))
    try:
        client_certificate(smtp, context)
    except ConfigError as exc:
        problems.append(Problem(tuple(exc.field.split(".")), exc.code, exc.message))
    problems.extend(oauth_problems(context))
    return problems


def _object(tree: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = tree.get(key)
    return value if isinstance(value, dict) else {}


def _needs_own_server(
    smtp: Mapping[str, Any], templates: Mapping[str, Any], context: ConfigContext
) -> Iterator[Problem]:
    rule = (
        "the sender address and name, the client certificate and the templates can only be "
        f"changed together with the project's own SMTP server: set {context.uri_parameter} "
        "(smtp.connection_uri in a patch), or remove "
    )
    for key in ("from_address", "from_name", "client_cert_path", "client_key_path"):
        if key in smtp:
            yield Problem(("smtp", key), "sender_requires_own_server", f"{rule}smtp.{key}")
    for key in templates:
        yield Problem(("templates", key), "sender_requires_own_server", f"{rule}templates.{key}")
    if not context.default_sender_exists:
        yield Problem(
            ("smtp", "connection_uri"),
            "connection_uri_missing",
            f"the project has no connection URI of its own ({context.uri_parameter}), and the "
            f"stack has no default sender ({context.default_sender_parameter} does not "
            "exist): set smtp.connection_uri",
        )


def _templates_set_twice(templates: Mapping[str, Any]) -> Iterator[Problem]:
    for template_type in TEMPLATE_TYPES:
        key = config_key(template_type)
        if len(key) == 2 and template_type in templates and _at(templates, key) is not None:
            yield Problem(
                ("templates", template_type),
                "template_set_twice",
                f"the {template_type} templates are also set as templates.{'.'.join(key)}, "
                "Kratos's name for them: keep only that one",
            )


def client_certificate(smtp: Mapping[str, Any], context: ConfigContext) -> ClientCertificate | None:
    """The client certificate the project's sessions present, from the bundled files that
    ``smtp.client_cert_path``/``client_key_path`` name or from the SecureStrings.

    Raises
    ------
    ConfigError
        ``client_cert_incomplete`` (one of the pair), ``client_cert_set_twice`` (files and
        SecureStrings), ``client_cert_without_tls``, the file errors of
        :func:`read_bundled_pem`, and those of :func:`courier.tls.load_client_certificate`.
    """
    cert_path, key_path = smtp.get("client_cert_path"), smtp.get("client_key_path")
    secret_cert, secret_key = context.client_secret_parameters
    paths = (cert_path is not None) or (key_path is not None)
    secrets = (context.client_cert_pem is not None) or (context.client_key_pem is not None)
    if not paths and not secrets:
        return None
    if paths and secrets:
        raise ConfigError(
            "smtp.client_cert_path" if cert_path is not None else "smtp.client_key_path",
            "client_cert_set_twice",
            f"the client certificate is set both as files (smtp.client_cert_path, "
            f"client_key_path) and as the SecureStrings {secret_cert} and {secret_key}: keep "
            "one (the SecureStrings keep the key out of the deployment package)",
        )
    if paths:
        if cert_path is None or key_path is None:
            missing = "client_cert_path" if cert_path is None else "client_key_path"
            raise ConfigError(
                f"smtp.{missing}",
                "client_cert_incomplete",
                "a client certificate needs both smtp.client_cert_path and "
                f"smtp.client_key_path: set smtp.{missing} too",
            )
        if not isinstance(cert_path, str) or not isinstance(key_path, str):
            return None  # reported by the tree's rules
        cert_pem = read_bundled_pem(cert_path, field="smtp.client_cert_path")
        key_pem = read_bundled_pem(key_path, field="smtp.client_key_path")
        where, key_where = "smtp.client_cert_path", "smtp.client_key_path"
    else:
        if context.client_cert_pem is None or context.client_key_pem is None:
            missing = secret_cert if context.client_cert_pem is None else secret_key
            raise ConfigError(
                CLIENT_CERT_FIELD if context.client_cert_pem is None else CLIENT_KEY_FIELD,
                "client_cert_incomplete",
                f"a client certificate needs both SecureStrings {secret_cert} and "
                f"{secret_key}: set {missing} too (or delete the other)",
            )
        cert_pem, key_pem = context.client_cert_pem, context.client_key_pem
        where, key_where = CLIENT_CERT_FIELD, CLIENT_KEY_FIELD
    certificate = load_client_certificate(cert_pem, key_pem, field=where, key_field=key_where)
    if context.connection_uri is not None:
        check_client_certificate_mode(context.connection_uri, certificate, field=where)
    return certificate


def oauth_problems(context: ConfigContext) -> list[Problem]:
    """The problems of token login: the URI's ``auth`` against the SecureString ``…/smtp/oauth2``
    and what that holds (:func:`courier.oauth.check_settings`).

    Returns
    -------
    list[Problem]
        ``oauth2_settings_missing`` (the URI logs in with a token, and the parameter does not
        exist), ``oauth2_default_sender_unsupported`` (the stack's default sender does),
        the warning ``oauth2_unused`` (the parameter exists, and the URI logs in otherwise), and
        the errors and warnings of the parameter's JSON, on ``smtp.oauth2.<key>``.
    """
    uri = context.connection_uri
    auth = uri.auth if uri is not None else None
    parameter = context.oauth2_parameter
    where = _parts(OAUTH2_FIELD)
    problems: list[Problem] = []
    if auth is not None and not context.has_own_uri:
        problems.append(
            Problem(
                ("smtp", "connection_uri"),
                "oauth2_default_sender_unsupported",
                f"the project sends through the stack's default sender "
                f"({context.default_sender_parameter}), which logs in with a token "
                f"(auth={auth}); courier reads token settings only beside a project's own "
                f"connection URI: set {context.uri_parameter} and {parameter}, or make the "
                "default sender log in with a password",
            )
        )
    if context.oauth2_json is None:
        if _uses_token(context):
            problems.append(
                Problem(
                    where,
                    "oauth2_settings_missing",
                    f"the connection URI logs in with an OAuth 2.0 token (auth={auth}), and "
                    f"{parameter} does not exist: store the token endpoint's settings there, "
                    f"as a SecureString holding {OAUTH2_EXAMPLE} (the mailbox is the URI's "
                    "user)",
                )
            )
        return problems
    if not _uses_token(context) and not (context.has_own_uri and uri is None):
        why = (
            "the connection URI does not log in with a token: add ?auth=xoauth2 (or "
            "auth=oauthbearer) to the URI, with the mailbox as its user and no password, or "
            "delete the parameter"
            if context.has_own_uri
            else "courier reads token settings only with the project's own connection URI: "
            f"set {context.uri_parameter} with ?auth=xoauth2, or delete the parameter"
        )
        problems.append(
            Problem(
                where, "oauth2_unused", f"{parameter} is set, but {why}; it is not read", "warning"
            )
        )
        return problems
    # Checked also while the project's own URI does not parse: both can be fixed at once.
    found = check_settings(
        context.oauth2_json, parameter=parameter, allow_private_hosts=context.allow_private_hosts
    )
    problems.extend(Problem(_parts(e.field), e.code, e.message) for e in found.errors)
    problems.extend(Problem(_parts(w.field), w.code, w.message, "warning") for w in found.warnings)
    return problems


def oauth_settings(context: ConfigContext) -> OAuthSettings | None:
    """The token settings of a project whose own URI logs in with a token, else ``None``.

    Raises
    ------
    ConfigError
        The first error of the parameter's JSON (:func:`oauth_problems` lists them all).
    """
    if context.oauth2_json is None or not _uses_token(context):
        return None
    found = check_settings(
        context.oauth2_json,
        parameter=context.oauth2_parameter,
        allow_private_hosts=context.allow_private_hosts,
    )
    if found.errors:
        first = found.errors[0]
        raise ConfigError(first.field, first.code, first.message)
    return found.settings


def _parts(dotted: str) -> Parts:
    return tuple(dotted.split("."))


def _uses_token(context: ConfigContext) -> bool:
    uri = context.connection_uri
    return context.has_own_uri and uri is not None and uri.auth is not None


def canonical_tree(tree: Mapping[str, Any]) -> dict[str, Any]:
    """``tree`` with courier's flat template names moved to Kratos's nested ones (the stored
    form); a type set both ways is left as it is (:func:`check_config` reports it).

    Example
    -------
    >>> canonical_tree({"templates": {"login_code_valid": {"email": {}}}})
    {'templates': {'login_code': {'valid': {'email': {}}}}}
    """
    result = copy.deepcopy(dict(tree))
    templates = result.get("templates")
    if not isinstance(templates, dict):
        return result
    for template_type in TEMPLATE_TYPES:
        key = config_key(template_type)
        if len(key) != 2 or template_type not in templates or _at(templates, key) is not None:
            continue
        flow = templates.setdefault(key[0], {})
        if isinstance(flow, dict):
            flow[key[1]] = templates.pop(template_type)
    return result


def template_settings(templates: Mapping[str, Any], template_type: str) -> Any:
    """The settings of ``template_type`` in a checked ``templates`` tree, whichever name."""
    nested = _at(templates, config_key(template_type))
    return nested if nested is not None else templates.get(template_type)


def _at(node: Any, key: tuple[str, ...]) -> Any:
    for part in key:
        node = node.get(part) if isinstance(node, Mapping) else None
    return node


if __name__ == "__main__":  # python -m courier.config_rules > schemas/config.schema.json
    json.dump(config_schema(), sys.stdout, indent=2, ensure_ascii=False)
    sys.stdout.write("\n")

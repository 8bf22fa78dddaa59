"""Checks of a whole courier tree, collecting every finding rather than stopping at the first.

The rules live where the sender applies them; this module only asks them and translates their
:class:`~courier.errors.ConfigError` and :class:`~courier.errors.MessageError` into findings on
the paths a patch uses:

* :func:`~courier.config.parse_project_config` (the schema, reserved headers, Ory's
  ``sender_requires_own_server``, a missing URI) raises at the first error, so it is asked
  again with each reported setting taken out ("peeled") until it accepts what remains;
* :mod:`.mail_checks` builds a mail as the sender would, to check the sender address and name
  and each extra header;
* :func:`~courier.templates.load_override_source`,
  :func:`~courier.templates.check_template_source` and
  :func:`~courier.templates.check_template_renders` load, compile and render each template
  override (with Kratos's data for its type, under the sandbox's bounds, as the sender would).

Example
-------
>>> findings = check_tree({"message_retries": 21}, has_own_uri=True, context=CheckContext(
...     project_id="acme", default_connection_uri=None, default_from_address="a@example.com"))
>>> [(finding.path, finding.code) for finding in findings]
[('/services/identity/config/courier/message_retries', 'message_retries_out_of_range')]
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import Any

from courier.config import DEFAULT_PREFIX, parse_project_config
from courier.errors import ConfigError
from courier.templates import (
    TEMPLATE_TYPES,
    Part,
    check_template_renders,
    check_template_source,
    load_override_source,
)
from courier.validation.mail_checks import check_sender_and_headers
from courier.validation.paths import URI_POINTER, field_parts, pointer
from courier.validation.types import Finding

__all__ = ["SSM_ADVANCED_LIMIT", "SSM_STANDARD_LIMIT", "CheckContext", "check_tree", "merged"]

SSM_STANDARD_LIMIT = 4096
SSM_ADVANCED_LIMIT = 8192
# Any URI that parses: stands in for a project's own URI that is broken (reported elsewhere).
_PLACEHOLDER_URI = "smtp://localhost/"
_MAX_PEELS = 500
_TEMPLATE_PARTS = (("subject",), ("body", "html"), ("body", "plaintext"))
_PART_NAMES: dict[tuple[str, ...], Part] = {
    ("subject",): "subject",
    ("body", "html"): "html",
    ("body", "plaintext"): "plaintext",
}


@dataclass(frozen=True, kw_only=True)
class CheckContext:
    """What the checks need to know about the project and the stack."""

    project_id: str
    default_connection_uri: str | None
    """The stack's default sender URI, if its parameter exists."""
    default_from_address: str
    prefix: str = DEFAULT_PREFIX
    default_connection_uri_parameter: str | None = None


def check_tree(
    config: dict[str, Any], *, has_own_uri: bool, context: CheckContext
) -> list[Finding]:
    """Every finding about ``config`` (the tree without its connection URI).

    Parameters
    ----------
    config:
        The courier tree as it would be stored in ``{prefix}/P/config``.
    has_own_uri:
        Whether the project keeps (or gets) a connection URI of its own.
    context:
        The project and the stack's defaults.

    Returns
    -------
    list[Finding]
        Errors ``config_schema``, ``header_reserved``, ``sender_requires_own_server``,
        ``connection_uri_missing``, ``message_retries_out_of_range``, ``from_address_invalid``,
        ``header_crlf``, ``header_name_invalid``, ``template_*``, ``config_too_large``; notes
        ``uses_default_sender`` and ``advanced_parameter``.
    """
    findings = [
        *_sender_findings(config, has_own_uri=has_own_uri, context=context),
        *check_sender_and_headers(config, default_from_address=context.default_from_address),
        *_template_findings(config),
        *_size_findings(config),
    ]
    if not has_own_uri:
        findings.append(
            Finding.note(
                URI_POINTER,
                "uses_default_sender",
                "the project has no connection URI of its own: its mail goes through the "
                f"stack's default sender ({context.default_connection_uri_parameter or 'none'}) "
                f"from {context.default_from_address}",
            )
        )
    return findings


def _sender_findings(
    config: dict[str, Any], *, has_own_uri: bool, context: CheckContext
) -> list[Finding]:
    """Ask :func:`parse_project_config` until it accepts what is left (see the module)."""
    work = copy.deepcopy(config)
    findings: list[Finding] = []
    for _ in range(_MAX_PEELS):
        try:
            parse_project_config(
                context.project_id,
                config_json=json.dumps(work),
                connection_uri=_PLACEHOLDER_URI if has_own_uri else None,
                default_connection_uri=context.default_connection_uri,
                default_from_address=context.default_from_address,
                prefix=context.prefix,
                default_connection_uri_parameter=context.default_connection_uri_parameter,
            )
        except ConfigError as exc:
            parts = field_parts(exc.field, work)
            findings.append(_translate(exc, parts, work, context))
            if not parts or parts == ["smtp", "connection_uri"] or not _remove(work, parts):
                break
        else:
            break
    return findings


def _translate(
    exc: ConfigError, parts: list[str], tree: dict[str, Any], context: CheckContext
) -> Finding:
    path = pointer(*parts)
    message = exc.message
    if exc.code == "sender_requires_own_server":
        message = (
            "the sender address and name, and the templates, can only be changed together "
            f"with the project's own SMTP server: set {URI_POINTER} in the same patch, or "
            f"remove {path}"
        )
    elif exc.code == "connection_uri_missing":
        parameter = context.default_connection_uri_parameter or "DefaultConnectionUriParameter"
        message = (
            "the project has no connection URI of its own, and the stack has no default sender "
            f"({parameter} does not exist): set {URI_POINTER}"
        )
    elif exc.code == "config_schema" and parts == ["message_retries"]:
        value = tree.get("message_retries")
        if isinstance(value, int | float) and not isinstance(value, bool) and not 0 <= value <= 20:
            return Finding.error(
                path,
                "message_retries_out_of_range",
                "must be a whole number from 0 to 20: how many times a failed delivery is "
                "retried (5 when unset)",
            )
    elif exc.code == "config_schema" and parts[:1] == ["templates"] and len(parts) == 2:
        name = parts[1]
        if f"{name}_valid" in TEMPLATE_TYPES:
            message += (
                f". Kratos nests templates as {name}/valid; courier names them flat: "
                f"templates/{name}_valid (or {name}_invalid)"
            )
    return Finding.error(path, exc.code, message)


def _remove(tree: dict[str, Any], parts: list[str]) -> bool:
    node: Any = tree
    for part in parts[:-1]:
        node = node.get(part) if isinstance(node, dict) else None
    if isinstance(node, dict) and parts[-1] in node:
        del node[parts[-1]]
        return True
    return False


def _template_findings(config: dict[str, Any]) -> list[Finding]:
    templates = config.get("templates")
    findings: list[Finding] = []
    for template_type, template in templates.items() if isinstance(templates, dict) else ():
        email = template.get("email") if isinstance(template, dict) else None
        for part in _TEMPLATE_PARTS if isinstance(email, dict) else ():
            value: Any = email
            for key in part:
                value = value.get(key) if isinstance(value, dict) else None
            if not isinstance(value, str):
                continue
            parts = ["templates", template_type, "email", *part]
            field = ".".join(parts)
            try:
                source = load_override_source(value, field=field)
                check_template_source(source, field=field)
                if template_type in TEMPLATE_TYPES:
                    check_template_renders(template_type, _PART_NAMES[part], source, field=field)
            except ConfigError as exc:
                findings.append(_template_finding(pointer(*parts), exc))
    return findings


def _template_finding(path: str, exc: ConfigError) -> Finding:
    if exc.code == "template_data_missing":  # a producer may send more than Kratos does
        return Finding.warning(
            path,
            exc.code,
            f"{exc.message}: Kratos sends no such value for this type, so every message "
            "without it in template_data would be dead-lettered",
        )
    return Finding.error(path, exc.code, exc.message)


def _size_findings(config: dict[str, Any]) -> list[Finding]:
    size = len(json.dumps(config, ensure_ascii=False).encode("utf-8"))
    if size > SSM_ADVANCED_LIMIT:
        return [
            Finding.error(
                pointer(),
                "config_too_large",
                f"the configuration takes {size} bytes, more than the {SSM_ADVANCED_LIMIT} an "
                "SSM parameter can hold: shorten the template overrides (or use the built-in "
                "templates)",
            )
        ]
    if size > SSM_STANDARD_LIMIT:
        return [
            Finding.note(
                pointer(),
                "advanced_parameter",
                f"the configuration takes {size} bytes, more than the {SSM_STANDARD_LIMIT} of "
                "a standard SSM parameter: it is stored as an advanced parameter, which AWS "
                "charges for",
            )
        ]
    return []


def merged(findings: list[Finding]) -> list[Finding]:
    """``findings`` without repeats, the most specific error of each place first.

    A finding repeats another of the same severity, path and code. A ``config_schema`` error is
    left out where a more specific error names the same place or a place inside it (a line
    break in ``from_name`` is ``header_crlf``, not a pattern mismatch).

    Example
    -------
    >>> path = "/services/identity/config/courier/smtp/from_name"
    >>> [f.code for f in merged([Finding.error(path, "config_schema", "must match"),
    ...                          Finding.error(path, "header_crlf", "one line")])]
    ['header_crlf']
    """
    specific = [f.path for f in findings if f.is_error and f.code != "config_schema"]
    seen: set[tuple[str, str, str]] = set()
    kept = []
    for finding in findings:
        key = (finding.severity, finding.path, finding.code)
        if key in seen:
            continue
        if finding.code == "config_schema" and any(
            path == finding.path or path.startswith(f"{finding.path}/") for path in specific
        ):
            continue
        seen.add(key)
        kept.append(finding)
    return kept

"""Reading a validation request: the project, the patch and the options.

A request carries an RFC 6902 patch (``patch``: add, remove, replace, test, move, copy), the
``ory patch project`` forms (``add`` and ``replace``: ``/path=<JSON value>``, the value after
the first ``=``; ``remove``: ``/path``), or both; they run in the order patch, add, replace,
remove, as the Ory CLI orders its flags. Every entry is checked before anything is applied, and
every mistake is reported, not only the first. No value is ever repeated in a message: it may be
a password.

Example
-------
>>> request, findings = parse_request({
...     "project_id": "acme",
...     "replace": ['/services/identity/config/courier/smtp/from_name="Acme"'],
... })
>>> request.operations[0].op, findings
({'op': 'replace', 'path': '/services/identity/config/courier/smtp/from_name', 'value': 'Acme'}, [])
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email

from courier.config import check_project_id
from courier.errors import ConfigError, MessageError
from courier.message import check_header_value
from courier.validation.paths import COURIER_POINTER, courier_parts, looks_secret, pointer
from courier.validation.types import Finding, Versions

__all__ = ["OPERATIONS", "Operation", "PatchRequest", "parse_request"]

OPERATIONS = ("add", "remove", "replace", "test", "move", "copy")
CLI_FORMS = ("add", "replace", "remove")
_NEEDS_VALUE = frozenset({"add", "replace", "test"})
_NEEDS_FROM = frozenset({"move", "copy"})
_KEYS = frozenset(
    {
        "project_id",
        "patch",
        "dry_run",
        "check_connection",
        "send_test_to",
        "show_converted",
        "expected_versions",
        *CLI_FORMS,
    }
)
_EXAMPLE = pointer("smtp", "from_address") + '="hello@example.org"'


@dataclass(frozen=True, kw_only=True)
class Operation:
    """One RFC 6902 operation, and where the request had it (``/patch/0``, ``/replace/1``)."""

    where: str
    op: dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class PatchRequest:
    """A request, read; only meaningful when :func:`parse_request` found no error."""

    project_id: str
    operations: tuple[Operation, ...] = ()
    dry_run: bool = True
    check_connection: bool = False
    """Run a session with the server (always, with :attr:`send_test_to`)."""
    send_test_to: str | None = None
    """Send a test mail to this address in the connection check (normalized)."""
    show_converted: bool = False
    """Return the Jinja each Go template override converts to (``converted_templates``)."""
    expected_versions: Versions | None = None


def parse_request(
    data: object, *, dry_run: bool | None = None
) -> tuple[PatchRequest, list[Finding]]:
    """Read ``data`` into a :class:`PatchRequest`, with every mistake as a finding.

    Parameters
    ----------
    data:
        The request: ``project_id``, ``patch`` and/or ``add``/``replace``/``remove``,
        ``dry_run`` (default ``true``), ``check_connection`` (default ``false``),
        ``send_test_to`` (an address: the connection check sends it a test mail),
        ``show_converted`` (default ``false``),
        ``expected_versions`` (``{"connection_uri": n, "config": n}``, ``null`` for absent).
    dry_run:
        Decided by the caller (an HTTP route) instead of by ``data``.

    Returns
    -------
    tuple[PatchRequest, list[Finding]]
        The request and its errors: ``request_invalid``, ``project_id_invalid``,
        ``patch_op_invalid``, ``cli_value_missing``, ``value_not_json``, ``path_outside_courier``,
        ``send_test_to_invalid``.

    Example
    -------
    >>> _, findings = parse_request({"project_id": "acme", "remove": ["/smtp/from_name"]})
    >>> findings[0].code
    'path_outside_courier'
    """
    findings: list[Finding] = []
    if not isinstance(data, Mapping):
        error = Finding.error("", "request_invalid", "the request must be a JSON object")
        return PatchRequest(project_id=""), [error]
    for key in sorted(set(data) - _KEYS, key=str):
        findings.append(
            Finding.error(
                f"/{key}",
                "request_invalid",
                f"is not a request field; the fields are: {', '.join(sorted(_KEYS))}",
            )
        )
    project_id = data.get("project_id")
    try:
        check_project_id(project_id)
    except ConfigError as exc:
        findings.append(Finding.error("/project_id", exc.code, exc.message))
    operations = _patch_operations(data.get("patch", []), findings)
    for form in CLI_FORMS:
        operations.extend(_cli_operations(form, data.get(form, []), findings))
    for operation in operations:
        findings.extend(_check_operation(operation))
    send_test_to = _test_recipient(data.get("send_test_to"), findings)
    check_connection = _flag(data, "check_connection", False, findings)
    request = PatchRequest(
        project_id=project_id if isinstance(project_id, str) else "",
        operations=tuple(operations),
        dry_run=dry_run if dry_run is not None else _flag(data, "dry_run", True, findings),
        check_connection=check_connection or send_test_to is not None,
        send_test_to=send_test_to,
        show_converted=_flag(data, "show_converted", False, findings),
        expected_versions=_versions(data.get("expected_versions"), findings),
    )
    return request, findings


def _patch_operations(patch: object, findings: list[Finding]) -> list[Operation]:
    if not isinstance(patch, list):
        findings.append(
            Finding.error("/patch", "request_invalid", "must be a list of RFC 6902 operations")
        )
        return []
    operations = []
    for index, op in enumerate(patch):
        where = f"/patch/{index}"
        if not isinstance(op, Mapping):
            message = 'must be an operation such as {"op": "replace", "path": ..., "value": ...}'
            findings.append(Finding.error(where, "patch_op_invalid", message))
            continue
        operations.append(Operation(where=where, op=dict(op)))
    return operations


def _cli_operations(form: str, entries: object, findings: list[Finding]) -> list[Operation]:
    shape = "/path" if form == "remove" else "/path=<JSON value>"
    if not isinstance(entries, list):
        findings.append(Finding.error(f"/{form}", "request_invalid", f"must be a list of {shape}"))
        return []
    operations = []
    for index, entry in enumerate(entries):
        where = f"/{form}/{index}"
        if not isinstance(entry, str):
            findings.append(Finding.error(where, "request_invalid", f"must be a string {shape}"))
            continue
        if form == "remove":
            operations.append(Operation(where=where, op={"op": "remove", "path": entry}))
            continue
        path, equals, raw = entry.partition("=")
        if not equals:
            findings.append(
                Finding.error(
                    where,
                    "cli_value_missing",
                    f"has no '='; write {shape}, e.g. {_EXAMPLE}",
                )
            )
            continue
        try:
            value = json.loads(raw, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            findings.append(_not_json(where, path, exc))
            continue
        operations.append(Operation(where=where, op={"op": form, "path": path, "value": value}))
    return operations


def _not_json(where: str, path: str, exc: ValueError | RecursionError) -> Finding:
    # Never the value itself: it may be a connection URI with its password.
    if isinstance(exc, json.JSONDecodeError):
        reason = f"{exc.msg.removesuffix(' at')} at character {exc.pos}"
    elif isinstance(exc, RecursionError):
        reason = "it is nested too deeply"
    else:
        reason = str(exc)
    shown = path if path.startswith(COURIER_POINTER) and not looks_secret(path) else None
    example = f'{shown}="..."' if shown else _EXAMPLE
    return Finding.error(
        shown or where,
        "value_not_json",
        f"the value after '=' is not valid JSON ({reason}). A text value needs a double quote "
        f"at each end, as in {example}; in a shell, wrap the whole argument in single quotes",
    )


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check_operation(operation: Operation) -> list[Finding]:
    op, where = operation.op, operation.where
    name = op.get("op")
    if name not in OPERATIONS:
        return [
            Finding.error(
                where, "patch_op_invalid", f"'op' must be one of: {', '.join(OPERATIONS)}"
            )
        ]
    findings = []
    if name in _NEEDS_VALUE and "value" not in op:
        findings.append(Finding.error(where, "patch_op_invalid", f"{name} needs a 'value'"))
    if name in _NEEDS_FROM and "from" not in op:
        findings.append(Finding.error(where, "patch_op_invalid", f"{name} needs a 'from' path"))
    for key in ("path", "from"):
        if key not in op:
            if key == "path":
                findings.append(Finding.error(where, "patch_op_invalid", "needs a 'path'"))
            continue
        try:
            # One form from here on, whichever the request used.
            op[key] = pointer(*courier_parts(op[key]))
        except ValueError as exc:
            code = "path_outside_courier" if isinstance(op[key], str) else "patch_op_invalid"
            findings.append(Finding.error(where, code, f"'{key}' {exc}"))
    return findings


def _flag(data: Mapping[str, Any], key: str, default: bool, findings: list[Finding]) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        findings.append(Finding.error(f"/{key}", "request_invalid", "must be true or false"))
        return default
    return value


def _test_recipient(value: object, findings: list[Finding]) -> str | None:
    """``send_test_to``, checked as a message's recipient is (email-validator, no SMTPUTF8)."""
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise EmailNotValidError("it must be a string")
        address = validate_email(
            check_header_value(value, "send_test_to"),
            check_deliverability=False,
            allow_smtputf8=False,
        )
    except (EmailNotValidError, MessageError) as exc:
        reason = exc.message if isinstance(exc, MessageError) else str(exc)
        findings.append(
            Finding.error(
                "/send_test_to",
                "send_test_to_invalid",
                f"is not an address to send a test mail to ({reason}); write one such as "
                '"you@example.org"',
            )
        )
        return None
    return address.normalized


def _versions(value: object, findings: list[Finding]) -> Versions | None:
    if value is None:
        return None
    fields = ("connection_uri", "config")
    if (
        isinstance(value, Mapping)
        and set(value) == set(fields)
        and all(_is_version(value[key]) for key in fields)
    ):
        return Versions(connection_uri=value["connection_uri"], config=value["config"])
    findings.append(
        Finding.error(
            "/expected_versions",
            "request_invalid",
            'must be {"connection_uri": <version or null>, "config": <version or null>}, as '
            "a previous response's versions",
        )
    )
    return None


def _is_version(value: object) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool) and value > 0)

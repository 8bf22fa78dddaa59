"""The courier tree a patch is applied to, built from SSM and split back into SSM's two values.

The tree is the JSON config (``{prefix}/P/config``) with ``smtp.connection_uri`` taken from the
SecureString (``{prefix}/P/smtp/connection_uri``); a patch sees it at
``/services/identity/config/courier``, as in a project configuration. ``smtp`` and ``templates``
are always there (empty when unset), so ``add`` works on a new project's first setting.

Operations are applied one by one with ``jsonpatch``, so the one that fails is named; its
message is courier's own, because ``jsonpatch`` quotes the document, password included.

Example
-------
>>> from courier.validation.request import Operation
>>> tree, findings = apply_patch({"smtp": {}}, [Operation(where="/replace/0", op={
...     "op": "add", "path": "/services/identity/config/courier/smtp/from_name", "value": "Acme"})])
>>> split_tree(tree)
({'smtp': {'from_name': 'Acme'}}, None)
"""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from typing import Any

import jsonpatch
from jsonpointer import JsonPointerException, resolve_pointer

from courier.uri import ConnectionUri
from courier.validation.paths import COURIER_PARTS, COURIER_POINTER, courier_parts, pointer
from courier.validation.request import Operation
from courier.validation.types import Finding

__all__ = [
    "apply_patch",
    "parsed_uri",
    "redacted_tree",
    "replaces_whole_tree",
    "secret_copies",
    "split_tree",
    "stored_tree",
]

_CONTAINERS = ("smtp", "templates")
_MISSING = object()
# Shorter passwords turn up in ordinary text ("p" in every address): look for the URI instead.
_MIN_SECRET_LENGTH = 8
HIDDEN_URI = "(hidden: the connection URI does not parse)"


def stored_tree(
    *, config_json: str | None, connection_uri: str | None, config_parameter: str
) -> tuple[dict[str, Any], list[Finding]]:
    """The current courier tree of a project, from its parameters' values.

    Returns
    -------
    tuple[dict, list[Finding]]
        The tree (``{}`` when the stored config cannot be read), and ``stored_config_invalid``
        (an error) or ``connection_uri_in_plain_config`` (a warning).
    """
    findings: list[Finding] = []
    tree, reason = _stored_object(config_json)
    if reason is not None:
        # Without a readable tree the URI has no place to be: only a whole new tree can help.
        findings.append(
            Finding.error(
                COURIER_POINTER,
                "stored_config_invalid",
                f"the stored configuration {config_parameter} cannot be read: {reason}; "
                f"replace the whole tree, e.g. replace {COURIER_POINTER} with the settings you "
                "want (the connection URI included)",
            )
        )
    smtp = tree.get("smtp")
    if isinstance(smtp, dict) and "connection_uri" in smtp:
        findings.append(
            Finding.warning(
                pointer("smtp", "connection_uri"),
                "connection_uri_in_plain_config",
                f"the String parameter {config_parameter} holds a connection URI, which anyone "
                "who may read parameters can see; applying any patch moves the URI to its "
                "SecureString. Change the password afterwards: it may have been read",
            )
        )
        smtp = {key: value for key, value in smtp.items() if key != "connection_uri"}
        if connection_uri is None:
            connection_uri = tree["smtp"]["connection_uri"]
        tree["smtp"] = smtp
    for container in _CONTAINERS:
        tree.setdefault(container, {})
    if connection_uri is not None:
        tree["smtp"] = {**tree["smtp"], "connection_uri": connection_uri}
    return tree, findings


def _stored_object(config_json: str | None) -> tuple[dict[str, Any], str | None]:
    """The stored tree, or ``{}`` and why it cannot be used."""
    if config_json is None:
        return {}, None
    try:
        tree = json.loads(config_json)
    except ValueError as exc:
        detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "bad number"
        return {}, f"it is not JSON ({detail})"
    if not isinstance(tree, dict):
        return {}, "it is not a JSON object"
    if not isinstance(tree.get("smtp", {}), dict):
        return {}, "its smtp setting is not an object"
    return dict(tree), None


def apply_patch(
    tree: dict[str, Any], operations: Sequence[Operation]
) -> tuple[dict[str, Any] | None, list[Finding]]:
    """Apply ``operations`` to ``tree`` (not in place), stopping at the first that fails.

    Returns
    -------
    tuple[dict | None, list[Finding]]
        The new tree (``None`` if an operation failed) and that operation's error:
        ``patch_path_not_found``, ``patch_test_failed`` or ``patch_conflict``.
    """
    document: Any = {}
    node = document
    for part in COURIER_PARTS[:-1]:
        node = node.setdefault(part, {})
    node[COURIER_PARTS[-1]] = copy.deepcopy(tree)
    findings: list[Finding] = []
    for operation in operations:
        op = _with_parents(document, operation, findings)
        try:
            document = jsonpatch.apply_patch(document, [op])
        except jsonpatch.JsonPatchTestFailed:
            return None, [_test_failed(operation)]
        except (jsonpatch.JsonPatchException, JsonPointerException):
            return None, [_not_applicable(document, operation)]
    courier = resolve_pointer(document, COURIER_POINTER, None)
    if courier is None:  # the whole tree was removed: every setting back to its default
        courier = {}
    if not isinstance(courier, dict):
        return None, [
            Finding.error(COURIER_POINTER, "config_schema", "must be an object of settings")
        ]
    return courier, findings


def _with_parents(document: Any, operation: Operation, findings: list[Finding]) -> dict[str, Any]:
    """``operation``, made to work as ``ory patch`` users expect: an ``add`` or ``replace``
    below settings that are not set yet creates them (``…/templates/recovery_code/valid/email/
    subject`` on a project without templates), and a ``replace`` of a setting that is not set
    adds it, with a note."""
    op = operation.op
    if op.get("op") not in ("add", "replace"):
        return op
    parts = courier_parts(op["path"])
    node = resolve_pointer(document, COURIER_POINTER, None)
    for part in parts[:-1]:
        if not isinstance(node, dict):
            return op
        node = node.setdefault(part, {})
    if op["op"] == "replace" and isinstance(node, dict) and parts and parts[-1] not in node:
        findings.append(
            Finding.note(
                op["path"],
                "replace_added",
                "was not set, so replace set it (as add does)",
            )
        )
        return {**op, "op": "add"}
    return op


def replaces_whole_tree(operations: Sequence[Operation]) -> bool:
    """Whether an operation sets the whole courier tree (which repairs an unreadable one)."""
    return any(
        operation.op.get("op") in ("add", "replace") and operation.op.get("path") == COURIER_POINTER
        for operation in operations
    )


def split_tree(tree: dict[str, Any]) -> tuple[dict[str, Any], object]:
    """Split ``tree`` into the JSON config and the connection URI (``None``: none of its own).

    Empty ``smtp`` and ``templates`` objects are left out, as unset. A ``null`` URI is unset.
    """
    config = dict(tree)
    uri: object = None
    smtp = config.get("smtp")
    if isinstance(smtp, dict) and "connection_uri" in smtp:
        uri = smtp["connection_uri"]
        config["smtp"] = {key: value for key, value in smtp.items() if key != "connection_uri"}
    for container in _CONTAINERS:
        if config.get(container) == {}:
            del config[container]
    return config, uri


def redacted_tree(config: dict[str, Any], uri: object) -> dict[str, Any]:
    """``config`` with the connection URI put back, its password replaced by ``***``.

    A URI that does not parse is not shown at all; the password is also masked wherever else
    it was copied to (a patch can ``copy`` the URI anywhere).
    """
    shown = copy.deepcopy(config)
    if uri is None:
        return shown
    parsed = parsed_uri(uri)
    redacted = parsed.redacted() if parsed is not None else HIDDEN_URI
    if isinstance(uri, str):
        shown = _masked(shown, _secrets(uri, parsed))
    smtp = shown.get("smtp")
    shown["smtp"] = {"connection_uri": redacted, **(smtp if isinstance(smtp, dict) else {})}
    return shown


def secret_copies(config: dict[str, Any], uri: object) -> list[str]:
    """The paths in ``config`` whose strings contain the URI or its password (a patch can
    ``copy`` it anywhere)."""
    if not isinstance(uri, str):
        return []
    secrets = _secrets(uri, parsed_uri(uri))
    found: list[str] = []

    def walk(node: object, parts: list[str]) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                walk(value, [*parts, str(key)])
        elif isinstance(node, str) and any(secret in node for secret in secrets):
            found.append(pointer(*parts))

    walk(config, [])
    return found


def parsed_uri(uri: object) -> ConnectionUri | None:
    """``uri`` parsed, or ``None`` if it is not a URI that parses (its errors are reported
    elsewhere)."""
    if not isinstance(uri, str):
        return None
    try:
        return ConnectionUri.parse(uri)
    except ValueError:
        return None


def _secrets(uri: str, parsed: ConnectionUri | None) -> list[str]:
    candidates = [uri, parsed.password if parsed is not None else None]
    return [text for text in candidates if text and len(text) >= _MIN_SECRET_LENGTH]


def _masked(node: Any, secrets: list[str]) -> Any:
    if isinstance(node, dict):
        return {key: _masked(value, secrets) for key, value in node.items()}
    if isinstance(node, str):
        for secret in secrets:
            node = node.replace(secret, "***")
    return node


def _test_failed(operation: Operation) -> Finding:
    return Finding.error(
        _where(operation),
        "patch_test_failed",
        "the test failed: the current value is not the one given (it may have changed since "
        "you read it); read the configuration again and rebuild the patch",
    )


def _not_applicable(document: Any, operation: Operation) -> Finding:
    op = operation.op
    name, path = op["op"], op["path"]
    where = _where(operation)
    parts = courier_parts(path)
    if name == "add" or (name in ("move", "copy") and _exists(document, op["from"])):
        parent = pointer(*parts[:-1])
        if not parts or _exists(document, parent):
            detail = f"{name} cannot put a value at this path"
            return Finding.error(where, "patch_conflict", detail)
        return Finding.error(
            where,
            "patch_path_not_found",
            f"{parent} does not exist yet: add it as an object first, e.g. "
            f'{parent}={{"{parts[-1]}": ...}}',
        )
    missing = op["from"] if name in ("move", "copy") else path
    hint = ""
    if name == "replace":
        hint = "; to set a value that is not there yet, use add (--add), which sets it either way"
    return Finding.error(
        missing if missing == path else where,
        "patch_path_not_found",
        f"there is no value at {missing} to {name} (the project does not set it){hint}",
    )


def _exists(document: Any, path: str) -> bool:
    return resolve_pointer(document, path, _MISSING) is not _MISSING


def _where(operation: Operation) -> str:
    path = operation.op.get("path")
    return path if isinstance(path, str) else operation.where

"""Where things are: the JSON pointers a patch uses, and the library's dotted field names.

A patch addresses the courier tree as a project configuration does,
``/services/identity/config/courier/smtp/connection_uri`` (RFC 6901 pointers, ``~1`` for ``/``
and ``~0`` for ``~`` inside a name). The library's :class:`~courier.errors.ConfigError` names
fields with dots (``smtp.headers.X-Tag``); :func:`field_parts` turns one back into the parts of a
pointer by walking the tree, so a header name with a dot in it still lands on its header.

Example
-------
>>> pointer("smtp", "headers", "X-Trace/Id")
'/services/identity/config/courier/smtp/headers/X-Trace~1Id'
>>> field_parts("smtp.headers.X.Tag", {"smtp": {"headers": {"X.Tag": "v"}}})
['smtp', 'headers', 'X.Tag']
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from jsonpointer import JsonPointer, JsonPointerException, escape

__all__ = [
    "COURIER_PARTS",
    "COURIER_POINTER",
    "URI_POINTER",
    "courier_parts",
    "field_parts",
    "looks_secret",
    "pointer",
]

COURIER_PARTS = ("services", "identity", "config", "courier")
COURIER_POINTER = "/" + "/".join(COURIER_PARTS)
URI_POINTER = f"{COURIER_POINTER}/smtp/connection_uri"
IDENTITY_CONFIG_ROOT = COURIER_PARTS[-1]
"""``ory patch identity-config`` addresses the same tree from the identity config:
``/courier/smtp/from_name``."""
_SHORT_FORMS = frozenset({"smtp", "templates", "message_retries", "courier", "config"})


def pointer(*parts: str) -> str:
    """The pointer of ``parts`` below the courier tree."""
    return COURIER_POINTER + "".join(f"/{escape(part)}" for part in parts)


def courier_parts(path: object) -> list[str]:
    """The parts of ``path`` below ``/services/identity/config/courier`` (``ory patch
    project``'s form) or ``/courier`` (``ory patch identity-config``'s).

    Raises
    ------
    ValueError
        With a message for a person: ``path`` is not a pointer, or points elsewhere.

    Example
    -------
    >>> courier_parts("/services/identity/config/courier/smtp/from_name")
    ['smtp', 'from_name']
    >>> courier_parts("/courier/templates/recovery_code/valid/email/subject")
    ['templates', 'recovery_code', 'valid', 'email', 'subject']
    """
    if not isinstance(path, str):
        raise ValueError("must be a JSON pointer string such as " + URI_POINTER)
    try:
        parts = JsonPointer(path).parts
    except JsonPointerException:
        raise ValueError(
            f"is not a JSON pointer: it must start with '/', as in {URI_POINTER}"
        ) from None
    if tuple(parts[: len(COURIER_PARTS)]) == COURIER_PARTS:
        return parts[len(COURIER_PARTS) :]
    if parts[:1] == [IDENTITY_CONFIG_ROOT]:  # `ory patch identity-config`: /courier/...
        return parts[1:]
    hint = ""
    tail: list[str] = []
    if "courier" in parts:
        tail = parts[parts.index("courier") + 1 :]
    elif parts and parts[0] in _SHORT_FORMS:
        tail = parts
    if tail and not looks_secret(path):
        hint = f"; did you mean {pointer(*tail)}?"
    raise ValueError(
        f"points outside the courier settings, the only ones changed here: paths start with "
        f"{COURIER_POINTER}/{hint}"
    )


def field_parts(field: str, tree: object) -> list[str]:
    """The pointer parts of a library field name such as ``smtp.headers.X-Tag``.

    Each step takes the longest key of ``tree`` that the rest of ``field`` starts with, so
    dotted keys are found; below keys the tree does not have, the dots separate the parts.
    ``connection_uri.*`` (the URI parser's fields) is the URI's place.
    """
    if field == "connection_uri" or field.startswith("connection_uri."):
        return ["smtp", "connection_uri"]
    if field in ("", "config"):
        return []
    parts: list[str] = []
    node: object = tree
    rest = field
    while rest:
        keys: Sequence[str] = []
        if isinstance(node, Mapping):
            keys = [
                key
                for key in node
                if isinstance(key, str) and (rest == key or rest.startswith(f"{key}."))
            ]
        if keys:
            key = max(keys, key=len)
            parts.append(key)
            node = node[key] if isinstance(node, Mapping) else None
            rest = rest[len(key) + 1 :]
        else:
            head, _, rest = rest.partition(".")
            parts.append(head)
            node = None
    return parts


def looks_secret(text: str) -> bool:
    """Whether ``text`` may carry a URI with a password, so must not be echoed.

    Example
    -------
    >>> looks_secret("/services/identity/config/courier/smtp/from_name")
    False
    >>> looks_secret("/smtp://user:pw@host")
    True
    """
    return "@" in text or "://" in text

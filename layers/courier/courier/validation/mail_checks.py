"""The sender address and name and the extra headers, checked as the sender will use them.

The address must be one email-validator accepts (no display name, a domain with a dot, ASCII
before the ``@``); then :func:`~courier.message.build_email`, which the sender builds each mail
with, is asked to build a mail from the settings: what it refuses (a line break that would start
a header of its own, a header name that is not one, a header courier writes itself) is reported
on the setting, header by header.
"""

from __future__ import annotations

from typing import Any

from email_validator import EmailNotValidError, validate_email

from courier.errors import MessageError
from courier.message import build_email
from courier.validation.paths import pointer
from courier.validation.types import Finding

__all__ = ["check_sender_and_headers"]


def check_sender_and_headers(config: dict[str, Any], *, default_from_address: str) -> list[Finding]:
    """The findings about ``smtp.from_address``, ``smtp.from_name`` and ``smtp.headers``.

    Parameters
    ----------
    config:
        The courier tree.
    default_from_address:
        The stack's ``DefaultFromAddress``: stands in where a check needs a sender.

    Returns
    -------
    list[Finding]
        ``from_address_invalid``, ``header_crlf``, ``header_name_invalid`` and
        ``header_reserved`` errors, each on its setting or header.

    Example
    -------
    >>> [f.code for f in check_sender_and_headers(
    ...     {"smtp": {"from_name": "Acme\\nBcc: x"}}, default_from_address="a@example.com")]
    ['header_crlf']
    """
    smtp = config.get("smtp")
    if not isinstance(smtp, dict):
        return []
    findings: list[Finding] = []
    address, name = smtp.get("from_address"), smtp.get("from_name")
    usable_address: str | None = None
    if isinstance(address, str):
        try:
            validate_email(address, check_deliverability=False, allow_smtputf8=False)
        except EmailNotValidError as exc:
            hint = " Put only the address here, and the name in from_name" if "<" in address else ""
            findings.append(
                Finding.error(
                    pointer("smtp", "from_address"),
                    "from_address_invalid",
                    f"is not a valid email address: {exc}{hint}",
                )
            )
        else:
            usable_address = address
    if usable_address is not None or isinstance(name, str):
        findings.extend(
            _build_findings(
                usable_address or default_from_address,
                name if isinstance(name, str) else None,
                {},
                parts=None,
            )
        )
    headers = smtp.get("headers")
    for header, value in headers.items() if isinstance(headers, dict) else ():
        if isinstance(value, str):
            where = ["smtp", "headers", header]
            findings.extend(
                _build_findings(default_from_address, None, {header: value}, parts=where)
            )
    return findings


def _build_findings(
    from_address: str, from_name: str | None, headers: dict[str, str], *, parts: list[str] | None
) -> list[Finding]:
    """Build a mail as the sender would, from these settings; translate what fails."""
    try:
        build_email(
            subject="check",
            plaintext="check",
            html=None,
            from_address=from_address,
            from_name=from_name,
            recipient=from_address,
            headers=headers,
        )
    except MessageError as exc:
        if parts is None:
            setting = "from_name" if exc.field == "from_name" else "from_address"
            parts = ["smtp", setting]
        if exc.code == "header_crlf":  # courier.message says which: raw, or an encoded word
            message = exc.message
        elif exc.code == "header_reserved":
            message = (
                f"{parts[-1]} cannot be set as an extra header: courier writes it itself (or "
                "it would change how the mail is read)"
            )
        elif exc.code == "address_invalid":
            return [Finding.error(pointer(*parts), "from_address_invalid", exc.message)]
        else:
            message = exc.message
        return [Finding.error(pointer(*parts), exc.code, message)]
    return []

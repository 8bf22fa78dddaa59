"""The message: the SQS body in (:func:`parse_message`), the MIME mail out (:func:`build_email`).

A message is JSON, checked against the schema that ships with the bundle
(``courier/schemas/message.schema.json``), then its recipient against email-validator. Every
mistake is a :class:`~courier.errors.MessageError` with the field at fault and a stable code, so
the sender can dead-letter it at once with its cause:

=======================  ===============================================================
``message_not_json``     the body is not JSON (the message gives the position)
``message_schema``       the body does not match the schema (the field says where)
``recipient_invalid``    the recipient is not a valid address (email-validator's reason)
``header_crlf``          a line break or NUL in a header value, header name or address,
                         or one an RFC 2047 encoded word in it decodes to
``header_reserved``      a configured header that would replace one courier sets
``header_name_invalid``  a configured header name that is not an RFC 5322 field name
``address_invalid``      an address that cannot go into a header or the envelope
=======================  ===============================================================

The mail is built as Django builds it: envelope apart from the headers (:func:`envelope_sender`,
:func:`envelope_recipient`), every header value checked for line breaks by one rule
(:func:`check_header_value`, which :mod:`courier.config` applies to the settings too), bodies
in UTF-8 quoted-printable; so ``mail.as_bytes(policy=email.policy.SMTP)`` is 7-bit ASCII with
CRLF line ends and needs neither 8BITMIME nor SMTPUTF8.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP as SMTP_POLICY
from email.utils import format_datetime, make_msgid
from functools import cache
from importlib import resources
from typing import Any

import fastjsonschema
import idna
from email_validator import EmailNotValidError, validate_email

from courier.errors import MessageError
from courier.headers import check_extra_header, check_header_value

__all__ = [
    "CourierMessage",
    "build_email",
    "check_header_value",
    "check_sender_address",
    "envelope_recipient",
    "envelope_sender",
    "message_schema",
    "parse_message",
    "stable_message_id",
]

_DOMAIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?")
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_DETAIL = 500
_MAX_SHOWN = 64


@dataclass(frozen=True, kw_only=True)
class CourierMessage:
    """One message to deliver: either a template to render or a mail already rendered.

    Attributes
    ----------
    recipient:
        The address, normalized by email-validator (a Unicode domain stays Unicode: see
        :func:`envelope_recipient`).
    template_type, template_data:
        The Kratos template and its data; ``None`` and ``{}`` for a rendered mail.
    subject, plaintext, html:
        The rendered mail; ``None`` for a template (``html`` may be ``None`` either way).
    """

    recipient: str
    id: str | None = None
    project_id: str | None = None
    template_type: str | None = None
    template_data: Mapping[str, Any] = field(default_factory=dict)
    subject: str | None = None
    plaintext: str | None = None
    html: str | None = None

    @property
    def is_rendered(self) -> bool:
        """Whether the message carries its subject and body instead of a template."""
        return self.template_type is None


@cache
def message_schema() -> dict[str, Any]:
    """The JSON Schema (draft-07) a message body must match, as shipped (shared: do not modify)."""
    text = resources.files("courier").joinpath("schemas", "message.schema.json").read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Callable[[Any], Any]:
    # Powertools' validate() is a wrapper around fastjsonschema.validate(), which compiles the
    # schema on every call (about 4.5 ms here); compiling once makes a check take microseconds.
    return fastjsonschema.compile(message_schema(), use_default=False)


def parse_message(body: str) -> CourierMessage:
    """Parse and check an SQS message body.

    Parameters
    ----------
    body:
        The JSON text of the message (docs/design.md §4).

    Returns
    -------
    CourierMessage
        The message, its recipient normalized.

    Raises
    ------
    MessageError
        ``message_not_json``, ``message_schema``, ``recipient_invalid`` or ``header_crlf``,
        naming the field at fault. Such a message can never be delivered.

    Example
    -------
    >>> parse_message('{"recipient": "Ann@Example.COM", "template_type": "login_code_valid", '
    ...               '"template_data": {"login_code": "123456"}}').recipient
    'Ann@example.com'
    >>> parse_message('{"recipient": 42, "template_type": "login_code_valid"}')
    Traceback (most recent call last):
    ...
    courier.errors.MessageError: recipient: must be string
    """
    data = _load_json(body)
    try:
        _validator()(data)
    except fastjsonschema.JsonSchemaValueException as exc:
        raise _schema_error(exc, data) from None
    recipient = check_header_value(data["recipient"], "recipient")
    try:
        address = validate_email(recipient, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise MessageError("recipient", "recipient_invalid", str(exc)) from None
    rendered: Mapping[str, str] = data.get("body", {})
    return CourierMessage(
        id=data.get("id"),
        project_id=data.get("project_id"),
        recipient=address.normalized,
        template_type=data.get("template_type"),
        template_data=data.get("template_data", {}),
        subject=check_header_value(data["subject"], "subject") if "subject" in data else None,
        plaintext=rendered.get("plaintext"),
        html=rendered.get("html") or None,
    )


def build_email(
    *,
    subject: str,
    plaintext: str,
    html: str | None,
    from_address: str,
    from_name: str | None,
    recipient: str,
    headers: Mapping[str, str] | None = None,
    message_id_domain: str | None = None,
    message_key: str | None = None,
    date: datetime | None = None,
) -> EmailMessage:
    """Build the mail: ``multipart/alternative`` (plaintext, then HTML) or ``text/plain``.

    Parameters
    ----------
    subject, plaintext, html:
        The rendered mail; without ``html`` the mail is plain text only.
    from_address, from_name:
        The ``From`` header; a non-ASCII name is RFC 2047 encoded, a non-ASCII domain
        IDNA-encoded.
    recipient:
        The ``To`` header.
    headers:
        Extra headers from the configuration, added after ``From``, ``To``, ``Subject``,
        ``Date`` and ``Message-ID``; they may not replace those, nor set ``Cc``, ``Bcc``,
        ``Sender``, ``Return-Path``, ``MIME-Version`` or ``Content-*``.
    message_id_domain:
        The right-hand side of ``Message-ID``; the domain of ``from_address`` by default.
    message_key:
        Derive ``Message-ID`` from this key (the message's idempotency key), so that every
        attempt at one message carries the same ``Message-ID`` and a receiving system can
        recognise a repeat; a new random one when ``None``.
    date:
        The ``Date`` (in UTC; a naive value is taken as UTC); now by default.

    Raises
    ------
    MessageError
        ``header_crlf``, ``header_reserved``, ``header_name_invalid`` or ``address_invalid``,
        with the field at fault (``subject``, ``headers.X-Name``, ...).

    Example
    -------
    >>> mail = build_email(subject="Your code", plaintext="123456", html="<b>123456</b>",
    ...                    from_address="no-reply@example.org", from_name="Zoë's App",
    ...                    recipient="user@example.com", headers={"X-Kind": "login"})
    >>> mail.get_content_type(), mail["X-Kind"]
    ('multipart/alternative', 'login')
    >>> mail.as_bytes().split(b"\\r\\n")[0]
    b'From: =?utf-8?q?Zo=C3=AB=27s?= App <no-reply@example.org>'
    """
    sender = _header_address(from_address, "from_address", display_name=from_name or "")
    to = _header_address(recipient, "recipient")
    extra = _check_headers(headers or {})
    msg_id_domain = _ascii_domain(
        check_header_value(message_id_domain or sender.domain, "message_id_domain"),
        "message_id_domain",
    )
    if not _DOMAIN.fullmatch(msg_id_domain):
        raise MessageError("message_id_domain", "address_invalid", "is not a domain name")
    when = datetime.now(UTC) if date is None else date
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)

    mail = EmailMessage(policy=SMTP_POLICY)
    mail["From"] = sender
    mail["To"] = to
    mail["Subject"] = check_header_value(subject, "subject")
    mail["Date"] = format_datetime(when)
    mail["Message-ID"] = (
        make_msgid(domain=msg_id_domain)
        if message_key is None
        else stable_message_id(message_key, domain=msg_id_domain)
    )
    for name, value in extra:
        mail[name] = value
    # The default transfer encoding is 8bit under email.policy.SMTP, which needs 8BITMIME.
    mail.set_content(plaintext, subtype="plain", charset="utf-8", cte="quoted-printable")
    if html:
        mail.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
        for part in mail.iter_parts():
            del part["MIME-Version"]  # set_content() adds it to each part; only the top needs it
    return mail


def stable_message_id(key: str, *, domain: str) -> str:
    """The ``Message-ID`` of every attempt at the message with idempotency key ``key``.

    Example
    -------
    >>> stable_message_id("acme:reset-42", domain="acme.example")
    '<courier.7560b959faab7895751ea526151f3d5f@acme.example>'
    """
    digest = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
    return f"<courier.{digest}@{domain}>"


def envelope_sender(from_address: str) -> str:
    """The address for ``MAIL FROM``: ``from_address`` with an IDNA-encoded domain.

    Raises
    ------
    MessageError
        ``header_crlf`` or ``address_invalid`` (field ``from_address``).

    Example
    -------
    >>> envelope_sender("no-reply@bücher.example")
    'no-reply@xn--bcher-kva.example'
    """
    return _envelope_address(from_address, "from_address")


def envelope_recipient(recipient: str) -> str:
    """The address for ``RCPT TO``: ``recipient`` with an IDNA-encoded domain.

    Raises
    ------
    MessageError
        ``header_crlf`` or ``address_invalid`` (field ``recipient``).

    Example
    -------
    >>> envelope_recipient("user@fußball.example")
    'user@xn--fuball-cta.example'
    """
    return _envelope_address(recipient, "recipient")


def _load_json(body: str) -> Any:
    try:
        body.encode("utf-8")  # a raw lone surrogate (never from SQS, but any caller's str)
        data = json.loads(body, parse_constant=_reject_constant)
        if _SURROGATE_ESCAPE.search(body):
            # "\ud83d\ude00" is a valid pair; a lone half is not a character, so never encodable.
            json.dumps(data, ensure_ascii=False).encode("utf-8")
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno} (char {exc.pos})"
        raise MessageError("body", "message_not_json", f"is not JSON: {exc.msg}: {where}") from None
    except UnicodeEncodeError:
        detail = "is not JSON text: it holds or escapes an unpaired UTF-16 surrogate (\\udXXX)"
        raise MessageError("body", "message_not_json", detail) from None
    except ValueError as exc:
        raise MessageError("body", "message_not_json", f"is not JSON: {exc}") from None
    except RecursionError:
        raise MessageError("body", "message_schema", "is nested too deeply") from None
    return data


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _schema_error(exc: fastjsonschema.JsonSchemaValueException, data: Any) -> MessageError:
    path = [str(part) for part in exc.path[1:]]
    detail = exc.message.removeprefix(str(exc.name)).strip()
    if exc.rule == "additionalProperties" and isinstance(exc.value, dict):
        known = exc.definition.get("properties", {})
        path.append(_shown(min(key for key in exc.value if key not in known)))
        detail = f"is not a known property (expected one of: {', '.join(known)})"
    elif exc.rule == "dependencies":
        key, needed = next(
            (key, [d for d in deps if d not in data])
            for key, deps in exc.rule_definition.items()
            if key in data and any(d not in data for d in deps)
        )
        path.append(needed[0])
        detail = f"is required with {key}"
    elif exc.rule == "oneOf":
        templated = "template_type" in data
        path.append("subject" if templated else "template_type")
        detail = (
            "cannot be combined with template_type: send a template or a rendered mail"
            if templated
            else "is required, unless the message carries subject and body already rendered"
        )
    if len(detail) > _MAX_DETAIL:
        detail = detail[: _MAX_DETAIL - 1] + "…"
    return MessageError(".".join(path) or "body", "message_schema", detail)


def _shown(name: str) -> str:
    """``name`` fit for a field path: line breaks escaped, at most ``_MAX_SHOWN`` long."""
    shown = repr(name)[1:-1]
    return shown if len(shown) <= _MAX_SHOWN else shown[: _MAX_SHOWN - 1] + "…"


def _check_headers(headers: Mapping[str, str]) -> list[tuple[str, str]]:
    for name, value in headers.items():
        where = f"headers.{_shown(name)}"
        check_extra_header(name, value, where)
    return list(headers.items())


def check_sender_address(address: str, where: str) -> None:
    """Raise unless ``address`` can be the ``From`` and ``MAIL FROM`` of every mail.

    An address email-validator accepts (no display name, a domain with a dot, ASCII before the
    ``@``) that :func:`build_email` and :func:`envelope_sender` take as it is.

    Raises
    ------
    MessageError
        ``from_address_invalid``, naming ``where``.

    Example
    -------
    >>> try:
    ...     check_sender_address("Acme <no-reply@acme.example>", "smtp.from_address")
    ... except MessageError as exc:
    ...     print(exc.code, exc.message.endswith("the name in from_name"))
    from_address_invalid True
    """
    try:
        validate_email(address, check_deliverability=False, allow_smtputf8=False)
        _header_address(address, where)
    except EmailNotValidError as exc:
        hint = ". Put only the address here, and the name in from_name" if "<" in address else ""
        raise MessageError(
            where, "from_address_invalid", f"is not a valid email address: {exc}{hint}"
        ) from None
    except MessageError as exc:
        raise MessageError(where, "from_address_invalid", exc.message) from None


def _header_address(address: str, where: str, *, display_name: str = "") -> Address:
    check_header_value(display_name, "from_name")
    ascii_address = _envelope_address(address, where)
    if not ascii_address.isascii():
        detail = "has non-ASCII characters before the @, which need SMTPUTF8 (not supported)"
        raise MessageError(where, "address_invalid", detail)
    try:
        return Address(display_name=display_name, addr_spec=ascii_address)
    except Exception as exc:  # the stdlib parser also fails with IndexError, AttributeError...
        raise MessageError(where, "address_invalid", f"is not an address: {exc}") from None


def _envelope_address(address: str, where: str) -> str:
    local, at, domain = check_header_value(address, where).rpartition("@")
    if not (at and local and domain) or any(c.isspace() or c in "<>,;" for c in address):
        raise MessageError(where, "address_invalid", "is not a single address such as a@b.com")
    return f"{local}@{_ascii_domain(domain, where)}"


def _ascii_domain(domain: str, where: str) -> str:
    if domain.isascii():
        return domain
    try:
        # IDNA 2008 with UTS 46, as email-validator does: the codec "idna" (IDNA 2003) would
        # send fußball.example to fussball.example, another domain.
        return idna.encode(domain, uts46=True).decode("ascii")
    except idna.IDNAError as exc:
        raise MessageError(where, "address_invalid", f"has a bad domain: {exc}") from None

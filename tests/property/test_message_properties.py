"""Properties of the message parser: any body in, a CourierMessage or a MessageError out, fast;
and what it accepts makes one mail with the headers courier sets, and no other."""

from __future__ import annotations

import base64
import json
import re
from email.policy import SMTP
from typing import Any

from hypothesis import example, given
from hypothesis import strategies as st

from courier.errors import MessageError
from courier.message import CourierMessage, build_email, message_schema, parse_message
from tests.conftest import CredentialGuard
from tests.property.support import (
    ANY_CHAR,
    ANY_TEXT,
    DEPTHS,
    HUGE_TEXT,
    JSON,
    LABEL,
    TRICKY_TEXT,
    guarded,
    json_text,
    nested_json,
    strings,
)

TEMPLATE_TYPES: list[str] = message_schema()["properties"]["template_type"]["enum"]
DEEP = "__deep__"
"""A placeholder string that :func:`body_text` replaces with deeply nested JSON."""


def parse(body: str) -> CourierMessage | MessageError:
    """The message, or the MessageError; any other exception fails the test."""
    try:
        return parse_message(body)
    except MessageError as exc:
        return exc


# Header text: CR/LF and the other line breaks, RFC 2047 encoded words (some that decode to a
# line break), long lines.

QP_PIECES = st.sampled_from(["=0D=0A", "=0A", "=0D", "=00", "=E2=80=A8", "=C2=85", "_", "Bcc:"])
QP_TEXT = st.lists(st.one_of(QP_PIECES, st.from_regex(r"[A-Za-z0-9]{1,6}", fullmatch=True)))
B64_TEXT = st.one_of(
    st.binary(max_size=24),
    st.lists(st.sampled_from([b"\r\n", b"\n", b"\x00", b"Bcc: x@example.com", b"hi"])).map(
        b"".join
    ),
).map(lambda data: base64.b64encode(data).decode("ascii"))
ENCODED_WORDS = st.one_of(
    st.builds(
        lambda charset, encoding, text: f"=?{charset}?{encoding}?{''.join(text)}?=",
        st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "us-ascii", "bogus", ""]),
        st.sampled_from(["q", "Q"]),
        QP_TEXT,
    ),
    st.builds(
        lambda charset, encoding, text: f"=?{charset}?{encoding}?{text}?=",
        st.sampled_from(["utf-8", "UTF-8", "iso-8859-1", "bogus"]),
        st.sampled_from(["b", "B"]),
        B64_TEXT,
    ),
    st.sampled_from(["=?", "?=", "=?utf-8?q?", "=?utf-8?x?abc?=", "=??="]),
)
HEADER_PIECES = st.one_of(
    st.text(max_size=12),
    st.text(st.sampled_from(list("ab =?_:\r\n\t\x00\x0b\x0c\x1c\x85\u2028\u2029")), max_size=8),
    ENCODED_WORDS,
)
HEADER_TEXT = st.one_of(
    st.lists(HEADER_PIECES, max_size=5).map("".join),
    st.lists(HEADER_PIECES, max_size=5).map(" ".join),
    HUGE_TEXT,
)
"""Header values without lone surrogates (:data:`ANY_TEXT` has them)."""

LOCAL_PARTS = st.one_of(
    st.from_regex(r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]{1,20}", fullmatch=True),
    ENCODED_WORDS,
    st.text(max_size=12),
)
DOMAINS = st.one_of(
    st.lists(LABEL, min_size=2, max_size=3).map(".".join),
    st.sampled_from(["example.com", "bücher.example", "[127.0.0.1]", "xn--bcher-kva.example"]),
    st.sampled_from(["localhost", "exa_mple.com", "example..com", "-a.example", "a" * 64 + ".com"]),
    st.text(max_size=12),
)
RECIPIENTS = st.one_of(
    st.builds(lambda local, domain: f"{local}@{domain}", LOCAL_PARTS, DOMAINS),
    st.sampled_from(["Ann@Example.COM", "a@b", "@example.com", "a@", "a@b@c.com"]),
    HEADER_TEXT,
)


def body_text(message: object, *, ascii_only: bool, depth: int) -> str:
    """The JSON of ``message``, with every :data:`DEEP` string replaced by ``depth`` nested
    arrays."""
    return json_text(message, ascii_only=ascii_only).replace(f'"{DEEP}"', nested_json(depth))


@st.composite
def messages(
    draw: st.DrawFn, text: st.SearchStrategy[str] = HEADER_TEXT, deep: bool = True
) -> dict[str, Any]:
    """A message near the schema: a template, a rendered mail, both or neither, with optional
    fields, unknown keys and values of the wrong type."""
    message: dict[str, Any] = {"recipient": draw(RECIPIENTS)}
    kind = draw(st.sampled_from(["template", "rendered", "rendered", "both", "neither"]))
    if kind in ("template", "both"):
        message["template_type"] = draw(st.one_of(st.sampled_from(TEMPLATE_TYPES), text))
        data = st.dictionaries(st.text(max_size=12), JSON, max_size=4)
        if deep:
            data = st.one_of(data, st.just({"nested": DEEP}))
        if draw(st.booleans()):
            message["template_data"] = draw(data)
    if kind in ("rendered", "both"):
        message["subject"] = draw(text)
        body = {"plaintext": draw(text)}
        if draw(st.booleans()):
            body["html"] = draw(text)
        message["body"] = body
    for key, values in (
        ("id", st.one_of(st.from_regex(r"[A-Za-z0-9._:-]{1,128}", fullmatch=True), text)),
        ("project_id", st.one_of(st.from_regex(r"[a-zA-Z0-9_.-]{1,64}", fullmatch=True), text)),
    ):
        if draw(st.booleans()):
            message[key] = draw(values)
    if draw(st.integers(0, 9)) == 0:  # now and then a value of the wrong type, or a stray key
        key = draw(st.one_of(st.sampled_from(sorted(message)), st.text(max_size=8)))
        message[key] = draw(JSON)
    return message


@given(body=st.one_of(ANY_TEXT, st.text(), TRICKY_TEXT.map(lambda text: "{" + text)))
def test_any_text_is_a_message_or_a_message_error(
    credential_guard: CredentialGuard, body: str
) -> None:
    with guarded(credential_guard):
        parse(body)


@given(value=JSON, ascii_only=st.booleans())
def test_any_json_is_a_message_or_a_message_error(
    credential_guard: CredentialGuard, value: object, ascii_only: bool
) -> None:
    with guarded(credential_guard):
        parse(json_text(value, ascii_only=ascii_only))


@given(
    message=messages(text=st.one_of(HEADER_TEXT, ANY_TEXT)),
    ascii_only=st.booleans(),
    depth=DEPTHS,
)
def test_near_valid_messages_are_a_message_or_a_message_error(
    credential_guard: CredentialGuard, message: dict[str, Any], ascii_only: bool, depth: int
) -> None:
    """Long values, deep nesting, CR/LF, encoded words and lone surrogates included; each
    within the deadline."""
    body = body_text(message, ascii_only=ascii_only, depth=depth)
    with guarded(credential_guard):
        outcome = parse(body)
    if isinstance(outcome, MessageError):
        assert re.fullmatch(r"[a-z][a-z0-9_]*", outcome.code), outcome
        return
    assert outcome.is_rendered is ("template_type" not in message)
    if outcome.is_rendered:
        assert (outcome.subject, outcome.plaintext) == (
            message["subject"],
            message["body"]["plaintext"],
        )
    for header in (outcome.recipient, outcome.subject or ""):
        assert not set(header) & set("\r\n\x00"), header


@given(message=messages(deep=False), html=st.booleans())
@example(
    message={
        "recipient": "user@example.com",
        "subject": "=?utf-8?q?Hi=0D=0ABcc:_all@example.com?=",
        "body": {"plaintext": "x"},
    },
    html=False,
)
def test_an_accepted_message_makes_one_mail_with_courier_s_headers_only(
    credential_guard: CredentialGuard, message: dict[str, Any], html: bool
) -> None:
    """No subject, however encoded, adds a header or a line to the mail (header injection)."""
    with guarded(credential_guard):
        outcome = parse(json_text(message))
        if not isinstance(outcome, CourierMessage):
            return
        try:
            mail = build_email(
                subject=outcome.subject or "Your code",
                plaintext=outcome.plaintext or "123456",
                html=(outcome.html or "<b>123456</b>") if html else None,
                from_address="no-reply@example.org",
                from_name="Acme",
                recipient=outcome.recipient,
                message_key="key",
            )
        except MessageError:
            return
        raw = mail.as_bytes(policy=SMTP)
    head = raw.partition(b"\r\n\r\n")[0]
    assert raw.isascii()
    assert b"\x00" not in head
    assert head.replace(b"\r\n", b"").count(b"\r") == 0
    assert head.replace(b"\r\n", b"").count(b"\n") == 0
    names = sorted(
        line.partition(b":")[0].lower()
        for line in head.split(b"\r\n")
        if line and line[:1] not in (b" ", b"\t")
    )
    expected = [b"content-type", b"date", b"from", b"message-id", b"mime-version", b"subject"]
    expected += [b"to"] + ([] if html else [b"content-transfer-encoding"])
    assert names == sorted(expected), head


@given(message=messages(text=st.text(ANY_CHAR, max_size=8), deep=False))
@example(message={"recipient": "user@example.com", "subject": "\ud800", "body": {"plaintext": ""}})
def test_an_accepted_message_is_all_unicode_text(
    credential_guard: CredentialGuard, message: dict[str, Any]
) -> None:
    """A lone surrogate is no character: a message that holds one cannot be encoded (UTF-8,
    quoted-printable), so it must be refused, raw as escaped."""
    with guarded(credential_guard):
        outcome = parse(json_text(message, ascii_only=False))
    if isinstance(outcome, CourierMessage):
        fields = [outcome.recipient, outcome.subject, outcome.plaintext, outcome.html]
        for text in strings([*fields, outcome.template_data]):
            text.encode("utf-8")


@given(message=messages(deep=False))
def test_a_message_reads_the_same_escaped_or_not(
    credential_guard: CredentialGuard, message: dict[str, Any]
) -> None:
    """JSON escapes (``ensure_ascii``) do not change what a body means."""
    with guarded(credential_guard):
        plain, escaped = parse(json_text(message, ascii_only=False)), parse(json_text(message))
    if isinstance(plain, MessageError) or isinstance(escaped, MessageError):
        assert isinstance(plain, MessageError)
        assert isinstance(escaped, MessageError)
        assert (plain.field, plain.code) == (escaped.field, escaped.code)
    else:
        assert plain == escaped


@given(depth=DEPTHS, kind=st.sampled_from(["[", "{"]), where=st.sampled_from(["body", "data"]))
def test_deep_nesting_is_a_message_error(
    credential_guard: CredentialGuard, depth: int, kind: str, where: str
) -> None:
    nested = nested_json(depth, kind=kind)
    body = (
        nested
        if where == "body"
        else json.dumps({"recipient": "a@example.com", "template_type": "login_code_valid"})[:-1]
        + f', "template_data": {{"x": {nested}}}}}'
    )
    with guarded(credential_guard):
        parse(body)

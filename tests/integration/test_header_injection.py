"""Header injection through RFC 2047 encoded words, against a real SMTP server (issue 10).

On Python 3.11 and 3.12 the email package decodes an encoded word in a header value and writes
a decoded CR/LF out as a real line: ``=?utf-8?q?x=0D=0ABcc:_v@evil.test?=`` as a subject
becomes a ``Bcc:`` header. Each vector of ``tests/unit/test_message.py`` goes here by every path
a header value takes (a pre-rendered subject through :func:`parse_message`, the sender's name,
a configured header) and is refused before anything is sent; the benign encoded words are sent,
and what the server receives has no header courier did not write and the body as it was built.
"""

from __future__ import annotations

import email.policy
import json
import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest

from courier.errors import MessageError
from courier.message import build_email, parse_message
from courier.transport import Transport
from local.smtpd import SmtpServer
from tests.conftest import StartServer
from tests.integration.test_transport import RECIPIENT, SENDER, make_message, transport_for
from tests.unit.test_message import BENIGN_ENCODED_WORDS, ENCODED_BREAKS

VECTOR = "=?utf-8?q?x=0D=0ABcc:_v@evil.test?="
PLAINTEXT = "Your code is 123456.\n"
# The headers courier writes (and one configured header): no other may reach the server.
WRITTEN = frozenset(
    {"from", "to", "subject", "date", "message-id", "x-tag", "reply-to", "mime-version"}
    | {"content-type", "content-transfer-encoding"}
)
_HEADER_LINE = re.compile(rb"([!-9;-~]+):")


def rendered_subject(value: str) -> EmailMessage:
    """The mail of a pre-rendered message with ``value`` as its subject, as the sender builds it."""
    body = {"recipient": RECIPIENT, "subject": value, "body": {"plaintext": PLAINTEXT}}
    message = parse_message(json.dumps(body))
    return build_email(
        subject=message.subject or "",
        plaintext=message.plaintext or "",
        html=message.html,
        from_address=SENDER,
        from_name=None,
        recipient=message.recipient,
    )


def mail(**changes: Any) -> EmailMessage:
    """The mail built from settings, with ``changes``."""
    settings: dict[str, Any] = {
        "subject": "Your code",
        "plaintext": PLAINTEXT,
        "html": None,
        "from_address": SENDER,
        "from_name": "Acme",
        "recipient": RECIPIENT,
    }
    return build_email(**{**settings, **changes})


PATHS: dict[str, Callable[[str], EmailMessage]] = {
    "rendered subject": rendered_subject,
    "from_name": lambda value: mail(from_name=value),
    "header": lambda value: mail(headers={"X-Tag": value}),
    "structured header": lambda value: mail(headers={"Reply-To": f"{value} <help@example.com>"}),
}


@pytest.fixture
def server(start_smtpd: StartServer) -> SmtpServer:
    return start_smtpd(listener="starttls")


@pytest.fixture
def transport(server: SmtpServer) -> Iterator[Transport]:
    with transport_for(f"smtp://user:secret@127.0.0.1:{server.port}/") as opened:
        opened.open()  # the session is up before the mail is built: only the mail decides
        yield opened


def deliver(transport: Transport, build: Callable[[str], EmailMessage], value: str) -> None:
    """Build the mail with ``value`` and send it, as the sender does: no mail, no send."""
    transport.send(build(value), sender=SENDER, recipient=RECIPIENT)


def header_names(raw: bytes) -> list[str]:
    """The field names of the header lines of ``raw``, as the bytes on the wire have them."""
    head, _, _ = raw.partition(b"\r\n\r\n")
    names = []
    for line in re.split(rb"\r\n|\r|\n", head):
        if line[:1] in (b" ", b"\t"):
            continue  # a folded header's next line
        match = _HEADER_LINE.match(line)
        names.append(match.group(1).decode("ascii").lower() if match else repr(line))
    return names


@pytest.mark.parametrize("value", ENCODED_BREAKS.values(), ids=ENCODED_BREAKS)
@pytest.mark.parametrize("path", PATHS)
def test_an_encoded_line_break_never_reaches_the_server(
    server: SmtpServer, transport: Transport, path: str, value: str
) -> None:
    # GIVEN an open session, and a header value whose RFC 2047 decoding holds a line break
    # WHEN a mail with it in a header is built and sent
    with pytest.raises(MessageError) as caught:
        deliver(transport, PATHS[path], value)

    # THEN it is refused as a line break, and nothing reached the server
    assert caught.value.code == "header_crlf"
    assert server.messages == []


@pytest.mark.parametrize(
    ("value", "shown"), BENIGN_ENCODED_WORDS.values(), ids=BENIGN_ENCODED_WORDS
)
@pytest.mark.parametrize("path", PATHS)
def test_a_benign_encoded_word_arrives_as_one_header(
    server: SmtpServer, transport: Transport, path: str, value: str, shown: str
) -> None:
    # GIVEN the mail with an encoded word that decodes to one line
    mail = PATHS[path](value)
    _, _, body = mail.as_bytes(policy=email.policy.SMTP).partition(b"\r\n\r\n")

    # WHEN it is sent
    transport.send(mail, sender=SENDER, recipient=RECIPIENT)

    # THEN the server received only the headers courier wrote, and the body unchanged
    [received] = server.messages
    names = header_names(received.content)
    assert set(names) <= WRITTEN
    assert len(names) == len(set(names))
    assert not re.search(rb"(?im)^bcc:", received.content)
    assert received.content.partition(b"\r\n\r\n")[2] == body
    parsed = received.message
    assert "Bcc" not in parsed
    assert parsed.get_content().replace("\r\n", "\n") == PLAINTEXT
    if path == "rendered subject":
        assert parsed["Subject"] == shown
    elif path == "header":
        assert parsed["X-Tag"] == shown


def test_without_the_check_this_python_writes_the_injected_header(
    server: SmtpServer, transport: Transport
) -> None:
    # GIVEN the stdlib alone: a message with an encoded CRLF in its subject, no courier check
    message = make_message(VECTOR)

    # WHEN it is serialized for SMTP
    raw = message.as_bytes(policy=email.policy.SMTP)

    # THEN this Python's email package wrote the decoded CRLF: a real Bcc header line
    if b"\r\nBcc: v@evil.test\r\n" not in raw:
        pytest.skip("this Python's email package re-encodes the decoded line break")
    assert b"\r\nSubject: x\r\nBcc: v@evil.test\r\n" in raw

    # AND sent as it is, the server reads a Bcc header that no one wrote: what the check stops
    transport.send(message, sender=SENDER, recipient=RECIPIENT)
    [received] = server.messages
    assert received.message["Bcc"] == "v@evil.test"
    assert "bcc" in header_names(received.content)

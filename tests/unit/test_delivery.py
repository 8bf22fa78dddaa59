"""Composing the mail: each of the twelve templates, with a project's sender, as it goes out."""

from __future__ import annotations

import email
import email.policy
from email.message import EmailMessage
from typing import Any

import pytest

from courier.config import ProjectConfig
from courier.delivery import compose
from courier.headers import SMTP_POLICY
from courier.message import CourierMessage
from courier.uri import ConnectionUri
from tests.unit.test_templates import MINIMAL, OPTIONAL

CONFIG = ProjectConfig(
    project_id="acme",
    connection_uri=ConnectionUri.parse("smtp://user:secret@smtp.acme.example/"),
    uses_default_sender=False,
    from_address="hello@acme.example",
    from_name="Zoë at Acme",
    headers={"X-Courier-Project": "acme", "Reply-To": "support@acme.example"},
)


def sent(mail: EmailMessage) -> EmailMessage:
    """The mail as the server receives it: serialized for SMTP and parsed back."""
    raw = mail.as_bytes(policy=email.policy.SMTP)
    assert raw.isascii()
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert isinstance(parsed, EmailMessage)
    return parsed


@pytest.mark.parametrize("template_type", MINIMAL)
def test_each_template_becomes_a_complete_mail(template_type: str) -> None:
    # GIVEN a message of the type, with its data and Kratos's optional fields
    data, shown = MINIMAL[template_type]
    message = CourierMessage(
        id=None,
        project_id="acme",
        recipient="ada@example.com",
        template_type=template_type,
        template_data={**data, **OPTIONAL},
        subject=None,
        plaintext=None,
        html=None,
    )

    # WHEN it is composed for the project
    outgoing = compose(message, CONFIG)
    mail = sent(outgoing.email)

    # THEN the envelope and the headers are the project's, with both parts showing the data
    assert (outgoing.sender, outgoing.recipient) == ("hello@acme.example", "ada@example.com")
    assert mail["From"] == "Zoë at Acme <hello@acme.example>"
    assert mail["To"] == "ada@example.com"
    assert mail["Subject"]
    assert mail["Date"] is not None
    assert mail["Message-ID"].endswith("@acme.example>")
    assert mail["X-Courier-Project"] == "acme"
    assert mail["Reply-To"] == "support@acme.example"
    assert mail.get_content_type() == "multipart/alternative"
    parts: list[Any] = list(mail.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert shown in parts[0].get_content()
    assert shown.replace("&", "&amp;") in parts[1].get_content()


def test_a_pre_rendered_message_is_sent_as_given() -> None:
    message = CourierMessage(
        id="m-1",
        project_id="acme",
        recipient="ada@example.com",
        template_type=None,
        template_data={},
        subject="Welcome",
        plaintext="Hello Ada\n",
        html=None,
    )

    mail = sent(compose(message, CONFIG).email)

    assert mail["Subject"] == "Welcome"
    assert mail.get_content_type() == "text/plain"
    assert mail.get_content().splitlines() == ["Hello Ada"]


def test_the_mail_is_written_as_the_email_packages_smtp_policy_writes_it() -> None:
    # GIVEN a mail with every kind of header courier writes (an encoded display name, custom
    # headers, Message-ID, Date), composed twice: its header classes are made once
    message = CourierMessage(
        recipient="ada@example.org",
        template_type="recovery_code_valid",
        template_data={"recovery_code": "482913"},
    )
    first = compose(message, CONFIG, key="acme:k-1").email
    again = compose(message, CONFIG, key="acme:k-1").email
    assert type(first["Subject"]) is type(again["Subject"])

    # WHEN it is written for SMTP
    written = first.as_bytes(policy=SMTP_POLICY)

    # THEN it is byte for byte what the stdlib's own SMTP policy writes
    assert written == first.as_bytes(policy=email.policy.SMTP)
    assert b"\r\n" in written
    assert b"=?utf-8?" in written  # the display name "Zoë at Acme", encoded

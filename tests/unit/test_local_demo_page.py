"""The demo's page shows every message: delivered with its mail, dead-lettered with its cause,
retried with its tries, each titled by its subject or, never rendered, by what it was; a token
login's message is as documented only with the login its server must have seen."""

from __future__ import annotations

import json
import re
from email.message import EmailMessage
from pathlib import Path

from local.demo_page import write_demo_page
from local.mailbox import Mailbox
from local.mailservers import MODES
from local.render import rendered_subjects
from local.smtpd import ReceivedMessage
from local.summary import DemoResult, MessageOutcome, format_summary
from local.template import resolve_function

ROOT = Path(__file__).resolve().parents[2]
SECTION = re.compile(
    r'<section id="message-(\d+)" class="([a-z-]+)"><h2>(.*?)</h2>(.*?)</section>', re.DOTALL
)


def delivered_mail(mailbox: Mailbox, subject: str) -> Path:
    message = EmailMessage()
    message["From"] = "no-reply@example.com"
    message["To"] = "ada@example.org"
    message["Subject"] = subject
    message.set_content("Your code is 123456")
    message.add_alternative("<p>Your code is <b>123456</b></p><script>x()</script>", subtype="html")
    return mailbox.save(
        MODES[3].name,
        ReceivedMessage(
            mail_from="no-reply@example.com",
            rcpt_tos=("ada@example.org",),
            content=message.as_bytes(),
            tls_version="TLSv1.3",
            auth_login="courier",
        ),
    )


def outcome(number: int, label: str, outcome: str, **fields: object) -> MessageOutcome:
    values: dict[str, object] = {
        "number": number,
        "label": label,
        "project": "smtps",
        "mode": MODES[3],
        "outcome": outcome,
        "expected": outcome,
        "attempts": 1,
        "expected_attempts": 1,
        "tls_version": None,
        "server_name": None,
        "dead_letter": None,
        "retried_because": None,
        **fields,
    }
    return MessageOutcome(**values)  # type: ignore[arg-type]


def test_the_page_shows_each_message_with_its_mail_cause_or_tries(tmp_path: Path) -> None:
    # GIVEN a delivered mail (retried once), a refused one and a body that never rendered
    mailbox = Mailbox(tmp_path)
    mail = delivered_mail(mailbox, "Log in to <your> account")
    outcomes = [
        outcome(
            1,
            "451 once, then accepted",
            "delivered",
            attempts=2,
            expected_attempts=2,
            tls_version="TLSv1.3",
            retried_because="smtp_rcpt (451 4.7.1 greylisted)",
            retries=((1, "smtp_rcpt (451 4.7.1 greylisted)"),),
            subject="Log in to <your> account",
            mail_file=mail,
        ),
        outcome(
            2,
            "550 unknown recipient",
            "dead-lettered",
            subject="Recover access to your account",
            dead_letter={
                "courier.reason": "permanent",
                "courier.error_code": "smtp_rcpt",
                "courier.error_message": "SMTP RCPT failed: 550 5.1.1 <nobody@example.org>",
                "courier.smtp_step": "RCPT",
                "courier.smtp_reply": "550 5.1.1 <nobody@example.org>: user unknown",
            },
        ),
        outcome(
            3,
            "malformed body",
            "dead-lettered",
            project=None,
            mode=None,
            dead_letter={
                "courier.error_code": "message_not_json",
                "courier.error_message": "body: is not JSON: Expecting value",
            },
        ),
    ]
    result = DemoResult(
        outcomes=outcomes,
        seconds=4.2,
        function="SenderFunction (app.lambda_handler, python3.13)",
        backoff_seconds=1,
        preview=tmp_path / "index.html",
        mail_files=1,
        batches=3,
    )

    # WHEN the page is written
    page = write_demo_page(result.preview, result).read_text()

    # THEN one section per message, titled by its subject (escaped), or by what it was
    sections = {int(n): (kind, title, body) for n, kind, title, body in SECTION.findall(page)}
    assert {n: sections[n][:2] for n in sections} == {
        1: ("delivered", "1. Log in to &lt;your&gt; account \N{EM DASH} delivered"),
        2: ("dead-lettered", "2. Recover access to your account \N{EM DASH} dead-lettered"),
        3: ("dead-lettered", "3. malformed body \N{EM DASH} dead-lettered"),
    }
    # ... the delivered one with its tries and its mail (HTML only in a sandboxed frame)
    delivered = sections[1][2]
    assert "<li>try 1: retried after smtp_rcpt (451 4.7.1 greylisted)</li>" in delivered
    assert "<li>try 2: delivered</li>" in delivered
    assert "<th>server saw</th><td>TLSv1.3</td>" in delivered
    assert f'<a href="{mail.name}">' in delivered
    assert "<iframe sandbox" in delivered
    assert "<script>" not in page
    # ... the dead-lettered ones with their cause: code and message, and the server's reply
    refused = sections[2][2]
    assert "<th>error code</th><td>smtp_rcpt</td>" in refused
    assert "<th>error message</th><td>SMTP RCPT failed: 550 5.1.1 &lt;nobody@example.org&gt;" in (
        refused
    )
    assert "<th>SMTP reply</th><td>550 5.1.1 &lt;nobody@example.org&gt;: user unknown" in refused
    malformed = sections[3][2]
    assert "<th>error code</th><td>message_not_json</td>" in malformed
    assert "<th>error message</th><td>body: is not JSON: Expecting value</td>" in malformed
    assert "<iframe" not in refused + malformed


def test_subjects_are_rendered_by_the_bundles_own_code() -> None:
    # GIVEN a template message, a pre-rendered one and a body that is not JSON
    spec = resolve_function(ROOT / "template.yaml", "SenderFunction")
    bodies = [
        json.dumps(
            {
                "recipient": "ada@example.org",
                "template_type": "login_code_valid",
                "template_data": {"login_code": "1"},
            }
        ),
        json.dumps(
            {"recipient": "ada@example.org", "subject": "Hi", "body": {"plaintext": "Hello"}}
        ),
        '{"recipient": ',
    ]

    # WHEN their subjects are asked for
    subjects = rendered_subjects(spec, bodies)

    # THEN the first two render as the sender renders them; the third never renders
    assert subjects == ["Log in to your account", "Hi", None]


MAILBOX = "no-reply@xoauth2.courier.example"


def test_a_token_login_is_as_documented_only_with_its_mechanism_and_mailbox(
    tmp_path: Path,
) -> None:
    # GIVEN the xoauth2 project's message delivered after an XOAUTH2 login as its mailbox, and
    # the same message as if its server had taken a password login instead
    def delivered(mechanism: str, login: str) -> MessageOutcome:
        return outcome(
            7,
            "login_code_valid",
            "delivered",
            project="xoauth2",
            mode=MODES[0],
            tls_version="TLSv1.3",
            expected_login=("XOAUTH2", MAILBOX),
            auth_mechanism=mechanism,
            auth_login=login,
        )

    token, password = delivered("XOAUTH2", MAILBOX), delivered("PLAIN", "courier")
    result = DemoResult(
        outcomes=[token, password],
        seconds=1.0,
        function="SenderFunction (app.lambda_handler, python3.13)",
        backoff_seconds=1,
        preview=tmp_path / "index.html",
        mail_files=2,
        batches=1,
    )

    # WHEN the summary and the page are written
    summary = format_summary(result)
    page = write_demo_page(result.preview, result).read_text()

    # THEN only the token login is as documented: the summary says what the server saw, and
    # what the other should have been
    assert (token.as_documented, password.as_documented) == (True, False)
    assert token.server_saw == "TLSv1.3, XOAUTH2 token"
    rows = [line for line in summary.splitlines() if line.startswith("7 ")]
    assert "TLSv1.3, XOAUTH2 token" in rows[0]
    assert rows[1].endswith(
        f"<- documented: delivered after 1 tries, logged in with XOAUTH2 as {MAILBOX}"
    )
    assert "SOME MESSAGES DID NOT REACH THEIR DOCUMENTED OUTCOME" in summary
    # ... and the page shows each login
    assert f"<th>login</th><td>XOAUTH2 as {MAILBOX}</td>" in page
    assert "<th>login</th><td>PLAIN as courier</td>" in page

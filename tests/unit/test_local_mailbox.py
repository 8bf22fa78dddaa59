"""The local SMTP servers keep what they accept as .eml files, with a page that previews them."""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from pathlib import Path

import pytest

from local.mailbox import Mailbox
from local.mailservers import MODES, TOKEN_LOGINS, SmtpFleet
from local.smtpd import Faults, ReceivedMessage, SmtpServer


def mail(subject: str, html: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = "no-reply@example.com"
    message["To"] = "ada@example.org"
    message["Subject"] = subject
    message.set_content("Hello Ada")
    message.add_alternative(html, subtype="html")
    return message


def test_a_greylisting_server_refuses_a_recipient_once_then_accepts() -> None:
    # GIVEN a server that answers 451 to one recipient's first RCPT
    faults = Faults(first_rcpt_replies={"ada@example.org": "451 4.7.1 greylisted"})
    with SmtpServer(listener="plain", faults=faults) as server:
        # WHEN a client sends to that recipient twice
        client = smtplib.SMTP(server.host, server.port, timeout=5)
        with client, pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            client.send_message(mail("first", "<p>1</p>"))
        with smtplib.SMTP(server.host, server.port, timeout=5) as client:
            client.send_message(mail("second", "<p>2</p>"))

    # THEN the first was refused with the canned reply and the second accepted
    assert refused.value.recipients["ada@example.org"] == (451, b"4.7.1 greylisted")
    assert [received.message["Subject"] for received in server.messages] == ["second"]


def test_an_accepted_mail_is_saved_with_how_it_arrived(tmp_path: Path) -> None:
    # GIVEN a mailbox and a message mode 4's server accepted over TLS 1.3 with AUTH
    mailbox = Mailbox(tmp_path / "mail")
    received = ReceivedMessage(
        mail_from="no-reply@example.com",
        rcpt_tos=("ada@example.org",),
        content=mail("Your code", "<p>123456</p>").as_bytes(),
        tls_version="TLSv1.3",
        auth_login="courier",
    )

    # WHEN it is saved
    path = mailbox.save("smtps", received)

    # THEN the .eml file has a trace header such as an MTA writes, then the message
    assert path == tmp_path / "mail" / "01-smtps-ada_example.org.eml"
    text = path.read_text()
    assert "with ESMTPSA (TLSv1.3) for <ada@example.org>" in text.splitlines()[0]
    assert "X-Courier-Local: mode=4 smtps; tls=TLSv1.3; auth=courier\n" in text
    assert "Subject: Your code" in text


def test_a_token_login_mail_is_saved_under_its_project_with_its_mechanism(tmp_path: Path) -> None:
    # GIVEN a message the xoauth2 project's server (mode 1's security) accepted after XOAUTH2
    mailbox = Mailbox(tmp_path)
    received = ReceivedMessage(
        mail_from="no-reply@xoauth2.courier.example",
        rcpt_tos=("ada@example.org",),
        content=mail("Your code", "<p>123456</p>").as_bytes(),
        tls_version="TLSv1.3",
        auth_login="no-reply@xoauth2.courier.example",
        auth_mechanism="XOAUTH2",
    )

    # WHEN it is saved
    path = mailbox.save("xoauth2", received)

    # THEN the file and its headers name the project, its server's mode and the token login
    assert path == tmp_path / "01-xoauth2-ada_example.org.eml"
    assert mailbox.received[path] == ("xoauth2", ("ada@example.org",))
    lines = path.read_text().splitlines()
    assert "(courier local smtpd xoauth2, mode 1 starttls) with ESMTPSA (TLSv1.3)" in lines[0]
    assert lines[1] == (
        "X-Courier-Local: mode=1 starttls; tls=TLSv1.3; auth=no-reply@xoauth2.courier.example; "
        "mechanism=XOAUTH2; project=xoauth2"
    )


def test_the_preview_shows_every_mail_and_escapes_what_it_shows(tmp_path: Path) -> None:
    # GIVEN two saved mails, one with markup in its subject and a script in its HTML
    mailbox = Mailbox(tmp_path)
    for n, subject in enumerate(("Plain subject", "<b>bold</b> subject")):
        mailbox.save(
            MODES[n].name,
            ReceivedMessage(
                mail_from="a@example.com",
                rcpt_tos=(f"user{n}@example.org",),
                content=mail(subject, "<p>hi</p><script>alert(1)</script>").as_bytes(),
                tls_version=None,
                auth_login=None,
            ),
        )

    # WHEN the preview is written
    page = mailbox.write_preview().read_text()

    # THEN it links both files, escapes the subject and shows the HTML only in a sandboxed frame
    assert page.count("<section>") == 2
    assert 'href="01-starttls-user0_example.org.eml"' in page
    assert "&lt;b&gt;bold&lt;/b&gt; subject" in page
    assert "<script>" not in page
    assert "<iframe sandbox" in page


def test_clear_removes_an_earlier_runs_mail(tmp_path: Path) -> None:
    # GIVEN mail and a preview from an earlier run, and another file
    (tmp_path / "01-old.eml").write_text("old")
    (tmp_path / "index.html").write_text("old")
    (tmp_path / "notes.txt").write_text("mine")

    # WHEN the mailbox is cleared
    Mailbox(tmp_path).clear()

    # THEN only its own files are gone
    assert sorted(path.name for path in tmp_path.iterdir()) == ["notes.txt"]


def test_the_fleet_has_one_uri_per_mode_and_per_token_login_and_writes_its_ca(
    tmp_path: Path,
) -> None:
    # GIVEN the servers (not started: URIs need only their ports)
    fleet = SmtpFleet(workdir=tmp_path)

    # WHEN their URIs are asked for
    uris = {mode.name: fleet.uri(mode.name, with_password=False) for mode in MODES}
    token_uris = {login.project: fleet.uri(login.project) for login in TOKEN_LOGINS}
    fleet.stop()

    # THEN each names its mode as docs/design.md §2 does, without the password; the CA is on disk
    port = {name: server.port for name, server in fleet.servers.items()}
    assert uris == {
        "starttls": f"smtp://courier:***@127.0.0.1:{port['starttls']}/",
        "starttls-skip-verify": (
            f"smtp://courier:***@127.0.0.1:{port['starttls-skip-verify']}/?skip_ssl_verify=true"
        ),
        "cleartext": f"smtp://courier:***@127.0.0.1:{port['cleartext']}/?disable_starttls=true",
        "smtps": f"smtps://courier:***@127.0.0.1:{port['smtps']}/",
        "smtps-skip-verify": (
            f"smtps://courier:***@127.0.0.1:{port['smtps-skip-verify']}/?skip_ssl_verify=true"
        ),
        "smtps-server-name": (
            f"smtps://courier:***@127.0.0.1:{port['smtps-server-name']}/"
            "?server_name=mail.courier.test"
        ),
    }
    # ... and each token login's logs in as its mailbox with its mechanism, with no password
    assert token_uris == {
        "xoauth2": (
            f"smtp://no-reply%40xoauth2.courier.example@127.0.0.1:{port['xoauth2']}/?auth=xoauth2"
        ),
        "oauthbearer": (
            "smtps://no-reply%40oauthbearer.courier.example@127.0.0.1:"
            f"{port['oauthbearer']}/?auth=oauthbearer"
        ),
    }
    assert fleet.ca_bundle.read_text().startswith("-----BEGIN CERTIFICATE-----")


def test_the_ca_bundle_path_is_absolute_for_a_relative_workdir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN up's default workdir, relative to where it runs
    monkeypatch.chdir(tmp_path)

    # WHEN the servers' CA is written there
    fleet = SmtpFleet(workdir=Path("out/local"))
    fleet.stop()

    # THEN the path the functions get (they run in their code folder) is absolute
    assert fleet.ca_bundle == tmp_path / "out" / "local" / "ca.pem"
    assert fleet.ca_bundle.is_file()

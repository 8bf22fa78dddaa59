"""A project's queue of mails, shared by its sessions (courier.sessions): no network, threads."""

from __future__ import annotations

import threading
from email.message import EmailMessage

from courier.config import ProjectConfig
from courier.errors import SmtpAuthError, SmtpTimeoutError, Step
from courier.sessions import Delivery, Outbox, _ProjectQueue
from courier.transport import OutgoingMail
from courier.uri import ConnectionUri

CONFIG = ProjectConfig(
    project_id="acme",
    connection_uri=ConnectionUri.parse("smtp://u:p@smtp.acme.example/"),
    uses_default_sender=False,
    from_address="hello@acme.example",
)
ENDPOINT = "smtp://u:***@smtp.acme.example:587/"


def delivery(n: int = 0) -> Delivery:
    mail = OutgoingMail(email=EmailMessage(), sender="hello@acme.example", recipient=f"u{n}@x.org")
    return Delivery(mail=mail, config=CONFIG)


def test_a_session_waits_for_mail_until_the_queue_is_sealed() -> None:
    # GIVEN a session waiting for its project's first mail while the batch is prepared
    queue = _ProjectQueue(CONFIG, sessions=1)
    taken: list[Delivery | None] = []
    waiter = threading.Thread(target=lambda: taken.extend([queue.take(), queue.take()]))
    waiter.start()

    # WHEN a mail is added, then the queue sealed
    first = delivery(1)
    queue.append(first)
    queue.seal()
    waiter.join(timeout=10)

    # THEN the session got the mail, then the end of the queue
    assert not waiter.is_alive()
    assert taken == [first, None]
    assert not queue.may_have_mail()


def test_mails_added_after_every_session_failed_get_the_failure_at_once() -> None:
    # GIVEN a project whose only session could not log in, before the batch was prepared
    queue = _ProjectQueue(CONFIG, sessions=1)
    refused = SmtpAuthError("535 no", endpoint=ENDPOINT, step=Step.AUTH)
    queue.session_failed(refused)
    queue.session_ended()

    # WHEN its mails come
    late = delivery()
    Outbox({"acme": queue}).add(late)

    # THEN each fails with the session's error, without a try
    assert late.result is refused


def test_a_timeout_fails_what_is_queued_and_what_comes_later_as_not_tried() -> None:
    # GIVEN two sessions of a project, one of which timed out with mail still queued
    queue = _ProjectQueue(CONFIG, sessions=2)
    queued = delivery(1)
    queue.append(queued)
    queue.time_out(SmtpTimeoutError("no answer", endpoint=ENDPOINT, step=Step.DATA))

    # WHEN another mail comes, and the other session asks for one
    later = delivery(2)
    queue.append(later)

    # THEN both fail at once as "not tried", and the other session gets nothing
    for failed in (queued, later):
        assert isinstance(failed.result, SmtpTimeoutError)
        assert "not tried" in str(failed.result)
    assert queue.take() is None


def test_a_mail_for_a_project_without_sessions_fails_as_a_bug() -> None:
    stray = delivery()
    Outbox({}).add(stray)
    assert stray.result is not None
    assert "no session was opened" in str(stray.result)

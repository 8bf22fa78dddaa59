"""``send_test_to``: the connection check goes on past AUTH and sends a test mail.

A provider may take the login and still refuse mail: Amazon SES answers ``554 Message rejected:
Email address is not verified`` to an unverified sender, at MAIL FROM or at the end of DATA.
:func:`send_test_mail` runs the probe's session (:func:`.probe.probe`: the same transport, TLS
policy, SSRF guard, client certificate and deadlines as the sender) and, over it, sends one
short mail with :meth:`courier.transport.Transport.send`, the sender's own send path: MAIL FROM
the project's sender, RCPT TO the address asked for, DATA; then QUIT. The mail is built by
:func:`courier.message.build_email` from the project's ``from_name``, ``from_address`` and extra
headers, and carries ``X-Courier-Test: true``. Each of MAIL, RCPT and DATA is a step of the
report; a refusal ends it with the reply and, where one is known, the fix.

Example
-------
>>> report, error = send_test_mail(
...     ConnectionUri.parse("smtp://u:p@127.0.0.1:2525/"), to="you@example.org",
...     project_id="acme", smtp={}, default_from_address="no-reply@example.com",
...     timeout=5, local_hostname="localhost", allow_private_hosts=True)  # doctest: +SKIP
>>> report["test_mail"]["accepted"], [step["step"] for step in report["steps"]][-3:]
... # doctest: +SKIP
(True, ['MAIL', 'RCPT', 'DATA'])
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from email.message import EmailMessage
from typing import Any

from courier.deadline import Deadline
from courier.errors import MessageError, SmtpError, Step, step_error
from courier.message import build_email, envelope_recipient, envelope_sender
from courier.tls import ClientCertificate
from courier.transport import TokenSource, Transport, queue_id
from courier.uri import ConnectionUri
from courier.validation.paths import pointer
from courier.validation.probe import not_run, probe
from courier.validation.types import ConnectionReport, Finding

__all__ = ["TEST_HEADER", "build_test_mail", "send_test_mail"]

TEST_HEADER = "X-Courier-Test"
"""The header (``true``) by which a test mail can be told from a real one."""

_SENDER_CODES = frozenset({550, 551, 553, 554})


def send_test_mail(
    uri: ConnectionUri,
    *,
    to: str,
    project_id: str,
    smtp: Mapping[str, Any],
    default_from_address: str,
    timeout: float,
    local_hostname: str,
    allow_private_hosts: bool,
    client_certificate: ClientCertificate | None = None,
    deadline: Deadline | None = None,
    token_source: TokenSource | None = None,
    token_endpoint: str = "the token endpoint",  # noqa: S107 (a host, no secret)
) -> tuple[ConnectionReport, Finding | None]:
    """Run the connection check's session, send a test mail to ``to`` over it, then QUIT.

    Parameters
    ----------
    uri, timeout, local_hostname, allow_private_hosts, client_certificate, deadline:
        As for :func:`.probe.probe`.
    to:
        The recipient, checked and normalized (:func:`.request.parse_request`).
    project_id:
        Named in the subject and the text.
    smtp:
        The project's ``smtp`` settings: ``from_address``, ``from_name``, ``headers``.
    default_from_address:
        The stack's ``DefaultFromAddress``: the sender when ``smtp`` has no ``from_address``,
        as for the sender.

    Returns
    -------
    tuple[ConnectionReport, Finding | None]
        The steps (``MAIL``, ``RCPT`` and ``DATA`` after the probe's) and ``test_mail``; a
        ``connection_failed`` error if a step failed, naming the step, the reply and the fix.
    """
    own_address = "from_address" in smtp
    from_address = str(smtp.get("from_address", default_from_address))
    try:
        mail = build_test_mail(
            project_id=project_id,
            to=to,
            from_address=from_address,
            from_name=smtp.get("from_name"),
            headers=smtp.get("headers", {}),
        )
        sender, recipient = envelope_sender(from_address), envelope_recipient(to)
    except MessageError as exc:
        # Not from the project's settings (the rules checked those): the stack's address.
        where = "/send_test_to" if exc.field == "recipient" else pointer("smtp", "from_address")
        return not_run(uri), Finding.error(where, exc.code, exc.message)

    def deliver(transport: Transport) -> None:
        try:
            transport.send(mail, sender=sender, recipient=recipient, deadline=deadline)
        except SmtpError as exc:
            hint = refusal_hint(exc, own_address=own_address)
            if hint is None:
                raise
            raise step_error(
                exc.step, exc.code, exc.reply, endpoint=exc.endpoint, hint=hint
            ) from exc
        except MessageError as exc:  # an envelope the server cannot take (SMTPUTF8)
            step = Step.MAIL if exc.field == "sender" else Step.RCPT
            raise step_error(step, None, exc.message, endpoint=uri.redacted()) from exc

    report, error = probe(
        uri,
        timeout=timeout,
        local_hostname=local_hostname,
        allow_private_hosts=allow_private_hosts,
        client_certificate=client_certificate,
        deadline=deadline,
        then=deliver,
        token_source=token_source,
        token_endpoint=token_endpoint,
    )
    data = [step for step in report["steps"] if step["step"] == str(Step.DATA)]
    accepted = error is None and bool(data) and data[-1]["ok"]
    report["test_mail"] = {
        "to": to,
        "message_id": str(mail["Message-ID"]),
        "accepted": accepted,
        "queue_id": queue_id(data[-1]["reply"]) if accepted else None,
    }
    return report, error


def build_test_mail(
    *,
    project_id: str,
    to: str,
    from_address: str,
    from_name: str | None,
    headers: Mapping[str, str],
    now: datetime | None = None,
) -> EmailMessage:
    """The test mail: plain text saying who sent it and when, with ``X-Courier-Test: true``.

    Raises
    ------
    MessageError
        As :func:`courier.message.build_email`.

    Example
    -------
    >>> mail = build_test_mail(project_id="acme", to="you@example.org",
    ...                        from_address="hello@acme.example", from_name="Acme",
    ...                        headers={"X-Stream": "auth"}, now=datetime(2026, 1, 2, 3, 4, 5))
    >>> mail["Subject"], mail["X-Courier-Test"], mail["X-Stream"]
    ('courier test mail for project acme', 'true', 'auth')
    >>> mail.get_content().splitlines()[0]
    'This mail was sent by the courier config validator on 2026-01-02 at 03:04:05 UTC,'
    """
    when = now or datetime.now(UTC)
    extra = {name: value for name, value in headers.items() if name.lower() != "x-courier-test"}
    extra[TEST_HEADER] = "true"
    text = (
        f"This mail was sent by the courier config validator on {when:%Y-%m-%d at %H:%M:%S} "
        f"UTC,\nto check that the SMTP server of project {project_id} accepts mail from "
        f"{from_address}.\n\nNothing needs to be done about it.\n"
    )
    return build_email(
        subject=f"courier test mail for project {project_id}",
        plaintext=text,
        html=None,
        from_address=from_address,
        from_name=from_name,
        recipient=to,
        headers=extra,
        date=when,
    )


def refusal_hint(error: SmtpError, *, own_address: bool) -> str | None:
    """What to do about a refusal of the test mail, where it is known.

    ``own_address``: the sender is the project's ``smtp.from_address`` (not the stack's
    ``DefaultFromAddress``).

    Example
    -------
    >>> refused = step_error(Step.MAIL, 554, "Message rejected", endpoint="smtp://mx:587/")
    >>> refusal_hint(refused, own_address=True).split(":")[0]
    'the provider does not accept this sender'
    """
    code, reply = error.code, error.reply.lower()
    if code is None:
        return None
    change = "change smtp.from_address" if own_address else "change the stack's DefaultFromAddress"
    sender = (
        "the provider does not accept this sender: verify the from_address with the provider "
        f"(Amazon SES: verify the identity) or {change}"
    )
    if 400 <= code < 500 and code != 421:
        return (
            "the server asks to try again later (a 4xx reply): the sender would retry such a "
            "message; if it lasts, the reply says why"
        )
    if error.step is Step.MAIL and code == 530:
        return "the server wants AUTH before MAIL: put the user and password in the connection URI"
    if error.step is Step.MAIL and code in _SENDER_CODES:
        return sender
    if error.step is Step.RCPT and code >= 500:
        return (
            "the server refuses this recipient: check send_test_to (Amazon SES in its sandbox "
            "takes only verified recipients: verify the address, or request production access)"
        )
    if error.step is Step.DATA and "not verified" in reply:
        return (
            f"{sender}; the reply names the identities that failed (Amazon SES in its sandbox "
            "also wants the recipient verified)"
        )
    if error.step is Step.DATA and code >= 500:
        return (
            "the server refused the mail itself after login: the reply says why (a policy on "
            "the sender, the content or the size)"
        )
    return None

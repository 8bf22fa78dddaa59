"""``Transport.send_all``: many mails over one session, one round trip each (RFC 2920 §3.1).

Against the scripted raw-socket server (:mod:`tests.faults.scripted_smtpd`), whose record of
the client's turns counts round trips, and against aiosmtpd, both over real TLS on loopback.
"""

from __future__ import annotations

import random
import re
import threading
from collections.abc import Callable, Generator, Mapping, Sequence
from email.message import EmailMessage
from typing import Any

import pytest

from courier.errors import (
    CourierError,
    MessageError,
    SmtpConnectError,
    SmtpDataError,
    SmtpDisconnectedError,
    SmtpError,
    SmtpRecipientRefusedError,
    SmtpSenderRefusedError,
    SmtpTimeoutError,
    Step,
)
from courier.transport import OutgoingMail, Transport
from courier.uri import ConnectionUri
from local.smtpd import SmtpServer, free_port
from tests.conftest import StartScripted, StartServer
from tests.faults.scripted_smtpd import (
    Action,
    Drop,
    Event,
    Hang,
    Mode,
    Reply,
    ScriptedSmtpServer,
)

Result = str | CourierError

OPEN_TURNS = {
    "smtps": [["EHLO"], ["AUTH"]],
    "starttls": [["EHLO"], ["STARTTLS"], ["EHLO"], ["AUTH"]],
}
UNANSWERED = "the session ended before the server answered"

# What the plan's server does to a mail (see Plan), and what the client must make of it:
# (error class, step, code), or None for a delivered mail.
FATES: dict[str, tuple[type[CourierError], Step | None, int | None] | None] = {
    "ok": None,
    "mail": (SmtpSenderRefusedError, Step.MAIL, 550),
    "rcpt": (SmtpRecipientRefusedError, Step.RCPT, 550),  # DATA: 554 no valid recipients
    "rcpt-503": (SmtpRecipientRefusedError, Step.RCPT, 550),  # DATA: 503
    "rcpt-354": (SmtpRecipientRefusedError, Step.RCPT, 550),  # DATA: 354 all the same
    "data": (SmtpDataError, Step.DATA, 554),  # the DATA command refused
    "dot": (SmtpDataError, Step.DATA, 554),  # the final dot refused
    "invalid": (MessageError, None, None),  # CR/LF in the recipient: never sent
}
# The replies the on_reply listener hears for a mail of each fate (354 is not reported).
HEARD = {
    "ok": [(Step.MAIL, 250), (Step.RCPT, 250), (Step.DATA, 250)],
    "mail": [],
    "rcpt": [(Step.MAIL, 250)],
    "rcpt-503": [(Step.MAIL, 250)],
    "rcpt-354": [(Step.MAIL, 250)],
    "data": [(Step.MAIL, 250), (Step.RCPT, 250)],
    "dot": [(Step.MAIL, 250), (Step.RCPT, 250)],
    "invalid": [],
}


def outgoing(number: int, *, recipient: str | None = None) -> OutgoingMail:
    """Mail ``number``: the plan's server knows it by its envelope sender's ``+number``."""
    message = EmailMessage()
    message["From"] = "no-reply@example.com"
    message["To"] = f"user{number}@example.org"
    message["Subject"] = f"mail {number}"
    message["Message-ID"] = f"<mail-{number}@example.com>"
    message.set_content(f"Your code is {number:06d}.\n.a line that starts with a dot\n")
    return OutgoingMail(
        email=message,
        sender=f"no-reply+{number}@example.com",
        recipient=recipient or f"user{number}@example.org",
    )


def queued(number: int) -> str:
    return f"2.0.0 Ok: queued as Q{number:04d}"


class Plan:
    """A script that gives each mail the fate its number is planned for (:data:`FATES`),
    and every mail it accepts its own queue id; ``more`` adds faults of a test's own."""

    def __init__(
        self,
        fates: Mapping[int, str] | None = None,
        more: Callable[[int, Event], Action | None] | None = None,
    ) -> None:
        self.fates = dict(fates or {})
        self._more = more
        self._lock = threading.Lock()
        self._current = -1

    def __call__(self, event: Event) -> Action | None:
        with self._lock:
            if event.point == "MAIL":
                found = re.search(r"\+(\d+)@", event.argument)
                self._current = int(found[1]) if found else -1
            number = self._current
        if self._more is not None and (action := self._more(number, event)) is not None:
            return action
        fate = self.fates.get(number, "ok")
        match event.point, fate:
            case "MAIL", "mail":
                return Reply("550 5.7.1 sender refused")
            case "RCPT", "rcpt" | "rcpt-503" | "rcpt-354":
                return Reply("550 5.1.1 no such user")
            case "DATA", "rcpt-503":
                return Reply("503 5.5.1 no valid recipients")
            case "DATA", "rcpt-354":
                return Reply("354 go ahead anyway")
            case "DATA", "data":
                return Reply("554 5.7.1 not today")
            case "dot", "dot":
                return Reply("554 5.6.0 content rejected")
            case "dot", _ if event.recipients:
                return Reply(f"250 {queued(number)}")
        return None


class Feed:
    """The mails to send, handed out one at a time; counts what was taken, and calls
    ``on_pull`` with the number of each mail as it is taken."""

    def __init__(
        self, mails: Sequence[OutgoingMail], on_pull: Callable[[int], None] | None = None
    ) -> None:
        self._mails = list(mails)
        self._on_pull = on_pull
        self.pulled = 0
        self.asked_past_the_end = 0

    def __iter__(self) -> Feed:
        return self

    def __next__(self) -> OutgoingMail:
        if self.pulled == len(self._mails):
            self.asked_past_the_end += 1
            raise StopIteration
        self.pulled += 1
        if self._on_pull is not None:
            self._on_pull(self.pulled - 1)
        return self._mails[self.pulled - 1]


class Heard:
    """An on_reply listener that keeps ``(step, code)`` of each reply."""

    def __init__(self) -> None:
        self.replies: list[tuple[Step, int]] = []

    def __call__(self, step: Step, code: int, text: str) -> None:
        if step in (Step.MAIL, Step.RCPT, Step.DATA):
            self.replies.append((step, code))


@pytest.fixture
def start_scripted(start_scripted: StartScripted, trust_test_ca: None) -> StartScripted:
    """Scripted servers (smtps:// unless told) with a certificate the client trusts."""

    def start(**options: Any) -> ScriptedSmtpServer:
        options.setdefault("mode", "smtps")
        return start_scripted(**options)

    return start


def transport_for(
    server: ScriptedSmtpServer | SmtpServer, *, timeout: float = 5, heard: Heard | None = None
) -> Transport:
    mode = server.mode if isinstance(server, ScriptedSmtpServer) else server.listener
    scheme = "smtps" if mode == "smtps" else "smtp"
    uri = ConnectionUri.parse(f"{scheme}://user:secret@127.0.0.1:{server.port}/")
    return Transport(uri, timeout=timeout, allow_private_hosts=True, on_reply=heard)


def send_all(transport: Transport, feed: Feed) -> list[tuple[OutgoingMail, Result]]:
    return list(transport.send_all(feed))


def assert_fate(number: int, fate: str, result: Result) -> None:
    expected = FATES[fate]
    if expected is None:
        assert result == queued(number), (number, fate, result)
        return
    kind, step, code = expected
    assert type(result) is kind, (number, fate, result)
    if isinstance(result, SmtpError):
        assert (result.step, result.code, result.maybe_accepted) == (step, code, False)
    else:
        assert isinstance(result, MessageError)
        assert result.code == "envelope_address_invalid"


def assert_unanswered(result: Result, kind: type[SmtpError] = SmtpDisconnectedError) -> None:
    """The error of a mail caught in flight by the session's end: not accepted, resendable."""
    assert isinstance(result, kind), result
    assert (result.step, result.maybe_accepted) == (Step.MAIL, False)
    assert UNANSWERED in str(result).lower()


# Delivery, and the round trips it takes.


@pytest.mark.parametrize("mode", ["smtps", "starttls"])
def test_ten_mails_over_one_session_arrive_intact_each_with_its_own_reply(
    start_scripted: StartScripted, mode: Mode
) -> None:
    # GIVEN a PIPELINING server over TLS that gives each mail its own queue id
    server = start_scripted(mode=mode, script=Plan())
    heard = Heard()
    mails = [outgoing(number) for number in range(10)]

    # WHEN ten mails go through send_all
    with transport_for(server, heard=heard) as transport:
        results = send_all(transport, Feed(mails))

    # THEN each mail came back once, in order, with its own 250 text
    assert [mail for mail, _ in results] == mails
    assert [result for _, result in results] == [queued(number) for number in range(10)]
    # AND all arrived over one TLS session, headers, envelope and body intact
    assert server.connections == 1
    received = server.mailbox
    assert [delivery.message_id for delivery in received] == [
        f"<mail-{number}@example.com>" for number in range(10)
    ]
    for number, delivery in enumerate(received):
        assert (delivery.mail_from, delivery.rcpt_tos) == (
            f"no-reply+{number}@example.com",
            (f"user{number}@example.org",),
        )
        assert delivery.tls_version is not None
        assert delivery.message["Subject"] == f"mail {number}"
        assert delivery.message["To"] == f"user{number}@example.org"
        assert delivery.message.get_content().splitlines() == [
            f"Your code is {number:06d}.",
            ".a line that starts with a dot",
        ]
    # AND the listener heard every reply, each at its step, in order
    assert heard.replies == HEARD["ok"] * 10


@pytest.mark.parametrize("mode", ["smtps", "starttls"])
def test_each_mail_takes_one_round_trip_with_pipelining(
    start_scripted: StartScripted, mode: Mode
) -> None:
    # GIVEN a server that offers PIPELINING
    server = start_scripted(mode=mode, script=Plan())

    # WHEN ten mails go through send_all, and the session is closed
    with transport_for(server) as transport:
        results = send_all(transport, Feed([outgoing(number) for number in range(10)]))
    assert all(isinstance(result, str) for _, result in results)

    # THEN after opening, the client took 10 + 1 turns, then QUIT: the first mail's commands,
    # each mail's content with the next one's commands, the last content
    [session] = server.sessions
    assert session.turns == [
        *OPEN_TURNS[mode],
        ["MAIL", "RCPT", "DATA"],
        *[[".", "MAIL", "RCPT", "DATA"]] * 9,
        ["."],
        ["QUIT"],
    ]
    assert len(session.turns) == len(OPEN_TURNS[mode]) + 10 + 1 + 1


def test_without_pipelining_each_command_waits_for_its_reply(
    start_scripted: StartScripted,
) -> None:
    # GIVEN a server that does not offer PIPELINING
    server = start_scripted(pipelining=False, script=Plan())
    heard = Heard()

    # WHEN ten mails go through send_all
    with transport_for(server, heard=heard) as transport:
        results = send_all(transport, Feed([outgoing(number) for number in range(10)]))

    # THEN all arrived, each with its reply
    assert [result for _, result in results] == [queued(number) for number in range(10)]
    assert len(server.mailbox) == 10
    assert heard.replies == HEARD["ok"] * 10
    # AND the server never got two commands in one turn: MAIL, RCPT, DATA, content, one by one
    [session] = server.sessions
    assert session.turns == [
        *OPEN_TURNS["smtps"],
        *[["MAIL"], ["RCPT"], ["DATA"], ["."]] * 10,
        ["QUIT"],
    ]


def test_aiosmtpd_takes_pipelined_mails_over_starttls(start_smtpd: StartServer) -> None:
    # GIVEN aiosmtpd over STARTTLS, offering PIPELINING
    server = start_smtpd(listener="starttls")
    mails = [outgoing(number) for number in range(10)]

    # WHEN ten mails go through send_all
    with transport_for(server) as transport:
        results = send_all(transport, Feed(mails))

    # THEN each was accepted, and arrived intact over one session, its commands pipelined
    assert [result for _, result in results] == ["2.0.0 OK: queued"] * 10
    assert [m.message["Subject"] for m in server.messages] == [f"mail {n}" for n in range(10)]
    assert [m.rcpt_tos for m in server.messages] == [(mail.recipient,) for mail in mails]
    assert all(m.tls_version is not None for m in server.messages)
    [session] = server.client_sessions
    assert session.pipelined == [True] * 10


def test_a_mail_is_pulled_only_when_it_is_about_to_be_written(
    start_scripted: StartScripted,
) -> None:
    # GIVEN a PIPELINING server, and a feed that notes how far the results were at each pull
    server = start_scripted(script=Plan())
    yielded: list[int] = []
    at_pull: list[int] = []
    feed = Feed(
        [outgoing(number) for number in range(5)],
        on_pull=lambda number: at_pull.append(len(yielded)),
    )

    # WHEN five mails go through send_all
    with transport_for(server) as transport:
        for mail, _ in transport.send_all(feed):
            yielded.append(int(mail.sender.split("+")[1].split("@")[0]))

    # THEN mail n was pulled once mail n - 2 was answered (n - 1 waits for its content), never
    # sooner; and the feed was not asked again after it ran out
    assert at_pull == [0, 0, 1, 2, 3]
    assert yielded == [0, 1, 2, 3, 4]
    assert feed.asked_past_the_end == 1


def test_a_session_that_cannot_be_opened_pulls_no_mail() -> None:
    # GIVEN a port nobody listens on
    uri = ConnectionUri.parse(f"smtps://user:secret@127.0.0.1:{free_port()}/")
    transport = Transport(uri, timeout=5, allow_private_hosts=True)
    feed = Feed([outgoing(0)])

    # WHEN send_all starts
    with pytest.raises(SmtpConnectError):
        next(transport.send_all(feed))

    # THEN it raised before taking a mail
    assert feed.pulled == 0


# Refusals: attributed to their mail and step, the rest of the session delivered.


@pytest.mark.parametrize("fate", ["mail", "rcpt", "rcpt-503", "rcpt-354", "data", "dot"])
def test_a_refusal_of_one_mail_is_its_own_and_the_others_are_delivered(
    start_scripted: StartScripted, fate: str
) -> None:
    # GIVEN a server that refuses mail 3 of 6 at one step (its MAIL, RCPT, DATA or final dot)
    server = start_scripted(script=Plan({3: fate}))
    heard = Heard()

    # WHEN the six go through send_all
    with transport_for(server, heard=heard) as transport:
        results = send_all(transport, Feed([outgoing(number) for number in range(6)]))
        still_open = transport.is_open

    # THEN mail 3 has the refusal of its step, and the others their own 250
    for number, (_, result) in enumerate(results):
        assert_fate(number, "ok" if number != 3 else fate, result)
    assert [d.message_id for d in server.mailbox] == [
        f"<mail-{number}@example.com>" for number in (0, 1, 2, 4, 5)
    ]
    # AND the session went on: one connection, a RSET after a refused command (none after a
    # refused final dot, which ends the transaction itself), every reply heard in order
    assert still_open
    assert server.connections == 1
    [session] = server.sessions
    assert session.verbs.count("RSET") == (0 if fate == "dot" else 1)
    assert heard.replies == HEARD["ok"] * 3 + HEARD[fate] + HEARD["ok"] * 2


def test_a_mail_that_cannot_be_sent_costs_no_round_trip(start_scripted: StartScripted) -> None:
    # GIVEN five mails, the middle one with CR/LF in its recipient
    server = start_scripted(script=Plan())
    mails = [outgoing(number) for number in range(5)]
    mails[2] = outgoing(2, recipient="user2@example.org\r\nRCPT TO:<evil@example.org>")

    # WHEN they go through send_all
    with transport_for(server) as transport:
        results = send_all(transport, Feed(mails))

    # THEN the middle one is a MessageError in its place, and the others were delivered
    assert [mail for mail, _ in results] == mails
    for number, (_, result) in enumerate(results):
        assert_fate(number, "invalid" if number == 2 else "ok", result)
    assert [d.rcpt_tos for d in server.mailbox] == [
        (f"user{number}@example.org",) for number in (0, 1, 3, 4)
    ]
    # AND nothing of it went out: four mails, 4 + 1 turns
    [session] = server.sessions
    assert "evil" not in repr(session.commands)
    assert len(session.turns) == len(OPEN_TURNS["smtps"]) + 4 + 1 + 1


# The session's end, with the next mail's commands in flight.


def test_a_connection_lost_right_after_a_final_dot(start_scripted: StartScripted) -> None:
    # GIVEN a server that keeps mail 2, then hangs up before answering its final dot
    server = start_scripted(
        script=Plan(more=lambda n, e: Drop(keep=True) if (n, e.point) == (2, "dot") else None)
    )
    feed = Feed([outgoing(number) for number in range(6)])

    # WHEN six mails go through send_all
    transport = transport_for(server)
    results = send_all(transport, feed)

    # THEN mails 0 and 1 were delivered; mail 2 may have been (the dot went out); mail 3,
    # whose commands were written with mail 2's content, was not, and can be sent again
    assert [result for _, result in results[:2]] == [queued(0), queued(1)]
    lost = results[2][1]
    assert isinstance(lost, SmtpDisconnectedError)
    assert (lost.step, lost.maybe_accepted) == (Step.DATA, True)
    assert_unanswered(results[3][1])
    # AND nothing more was pulled or yielded, and the transport knows the session is over
    assert [mail.sender for mail, _ in results] == [outgoing(n).sender for n in range(4)]
    assert feed.pulled == 4
    assert not transport.is_open
    assert len(server.mailbox) == 3


def test_a_421_in_place_of_the_next_mails_mail_reply(start_scripted: StartScripted) -> None:
    # GIVEN a server that closes the session with 421 at mail 2's MAIL
    closing = Reply("421 4.3.2 closing")
    server = start_scripted(
        script=Plan(more=lambda n, e: closing if (n, e.point) == (2, "MAIL") else None)
    )
    feed = Feed([outgoing(number) for number in range(6)])

    # WHEN six mails go through send_all
    transport = transport_for(server)
    results = send_all(transport, feed)

    # THEN mail 1 (whose content went with mail 2's commands) was delivered, and mail 2 has
    # the 421 at MAIL; nothing more was pulled, and the session is over
    assert [result for _, result in results[:2]] == [queued(0), queued(1)]
    refused = results[2][1]
    assert isinstance(refused, SmtpSenderRefusedError)
    assert (refused.step, refused.code, refused.maybe_accepted) == (Step.MAIL, 421, False)
    assert len(results) == 3
    assert feed.pulled == 3
    assert not transport.is_open
    assert len(server.mailbox) == 2


def test_a_421_in_place_of_a_final_reply(start_scripted: StartScripted) -> None:
    # GIVEN a server that answers mail 2's final dot with 421
    closing = Reply("421 4.3.2 closing")
    server = start_scripted(
        script=Plan(more=lambda n, e: closing if (n, e.point) == (2, "dot") else None)
    )
    feed = Feed([outgoing(number) for number in range(6)])

    # WHEN six mails go through send_all
    transport = transport_for(server)
    results = send_all(transport, feed)

    # THEN mail 2 was refused with 421 (not kept), and mail 3 has the 421's error at MAIL,
    # saying the session ended before the server answered it
    refused = results[2][1]
    assert isinstance(refused, SmtpDataError)
    assert (refused.code, refused.maybe_accepted) == (421, False)
    unanswered = results[3][1]
    assert_unanswered(unanswered, SmtpSenderRefusedError)
    assert isinstance(unanswered, SmtpError)
    assert (unanswered.code, unanswered.enhanced_status) == (421, "4.3.2")
    assert (len(results), feed.pulled, transport.is_open) == (4, 4, False)
    assert len(server.mailbox) == 2


def test_a_timeout_waiting_for_a_final_reply(start_scripted: StartScripted) -> None:
    # GIVEN a server that stops answering at mail 2's final dot, and a short reply timeout
    server = start_scripted(
        script=Plan(more=lambda n, e: Hang() if (n, e.point) == (2, "dot") else None)
    )
    feed = Feed([outgoing(number) for number in range(6)])

    # WHEN six mails go through send_all
    transport = transport_for(server, timeout=0.5)
    results = send_all(transport, feed)

    # THEN mail 2 timed out after its final dot (the server may have it); mail 3, in flight,
    # was not accepted; nothing more was pulled, and the session is over
    assert [result for _, result in results[:2]] == [queued(0), queued(1)]
    timed_out = results[2][1]
    assert isinstance(timed_out, SmtpTimeoutError)
    assert (timed_out.step, timed_out.maybe_accepted) == (Step.DATA, True)
    assert_unanswered(results[3][1], SmtpTimeoutError)
    assert (len(results), feed.pulled, transport.is_open) == (4, 4, False)


def test_a_hang_up_while_the_next_mail_is_pulled_sends_no_content(
    start_scripted: StartScripted,
) -> None:
    # GIVEN a server that goes away right after it said 354 to mail 1, while the client takes
    # mail 2 from its feed
    server = start_scripted(script=Plan())
    feed = Feed(
        [outgoing(number) for number in range(4)],
        on_pull=lambda number: server.stop() if number == 2 else None,
    )

    # WHEN the mails go through send_all
    transport = transport_for(server)
    results = send_all(transport, feed)

    # THEN mail 0 was delivered; mail 1's content never went out, so neither it nor mail 2 was
    # accepted: both can be sent again; nothing more was pulled
    assert results[0][1] == queued(0)
    assert_unanswered(results[1][1])
    assert_unanswered(results[2][1])
    assert (len(results), feed.pulled, transport.is_open) == (3, 3, False)
    assert [d.message_id for d in server.mailbox] == ["<mail-0@example.com>"]


def test_leaving_early_while_a_mail_waits_for_its_content_sends_none_of_it(
    start_scripted: StartScripted,
) -> None:
    # GIVEN a PIPELINING server
    server = start_scripted(script=Plan())
    feed = Feed([outgoing(number) for number in range(3)])
    transport = transport_for(server)

    # WHEN the caller stops after the first result (mail 1 then waits for its content)
    results = transport.send_all(feed)
    assert isinstance(results, Generator)
    first = next(results)
    results.close()

    # THEN the connection is closed without a final dot: mail 1 was not delivered
    assert first[1] == queued(0)
    assert (feed.pulled, transport.is_open) == (2, False)
    assert [d.message_id for d in server.mailbox] == ["<mail-0@example.com>"]


# Many mails, every fate mixed: nothing lost, every reply attributed.


@pytest.mark.parametrize("pipelining", [True, False], ids=["pipelined", "one-by-one"])
@pytest.mark.parametrize("seed", [7, 2920, 5321])
def test_a_random_plan_of_fates_is_reported_mail_by_mail(
    start_scripted: StartScripted, seed: int, pipelining: bool
) -> None:
    # GIVEN 60 mails, each planned to be delivered or refused at one step (or to be unsendable)
    rng = random.Random(seed)
    fates = [rng.choice(["ok"] * 6 + [fate for fate in FATES if fate != "ok"]) for _ in range(60)]
    mails = [
        outgoing(n, recipient="bad\r\n@example.org" if fate == "invalid" else None)
        for n, fate in enumerate(fates)
    ]
    server = start_scripted(script=Plan(dict(enumerate(fates))), pipelining=pipelining)
    heard = Heard()
    feed = Feed(mails)

    # WHEN they go through send_all
    with transport_for(server, heard=heard) as transport:
        results = send_all(transport, feed)
        still_open = transport.is_open

    # THEN every mail pulled has exactly one result, in order, the one its plan says
    assert feed.pulled == 60
    assert [mail for mail, _ in results] == mails
    for number, ((_, result), fate) in enumerate(zip(results, fates, strict=True)):
        assert_fate(number, fate, result)
    # AND the server kept exactly the mails planned to arrive, over the one session
    delivered = [n for n, fate in enumerate(fates) if fate == "ok"]
    assert [d.message_id for d in server.mailbox] == [f"<mail-{n}@example.com>" for n in delivered]
    assert still_open
    assert server.connections == 1
    # AND the listener heard each reply that moved the session on, mail by mail
    assert heard.replies == [reply for fate in fates for reply in HEARD[fate]]

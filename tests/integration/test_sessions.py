"""A batch's SMTP sessions (courier.sessions.Sessions) against real servers.

Sessions that must run side by side meet a server that answers no session's EHLO until all of
them have sent one (``Faults.ehlo_barrier``): sessions opened one after another never get past
it, so these tests fail, by a timeout of the first session, if the sessions are serial.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from courier.config import ProjectConfig
from courier.deadline import Deadline
from courier.delivery import compose
from courier.errors import CourierError, SmtpAuthError, SmtpDisconnectedError
from courier.message import CourierMessage
from courier.sessions import Delivery, Sessions
from courier.uri import ConnectionUri
from local.smtpd import Faults, SmtpServer
from tests.conftest import StartServer

PASSWORD = "secret"
# Long enough for any loopback session, short enough that serial sessions fail soon.
TIMEOUT = 3


def project(server: SmtpServer, name: str = "acme", **settings: object) -> ProjectConfig:
    password = settings.pop("password", PASSWORD)
    return ProjectConfig(
        project_id=name,
        connection_uri=ConnectionUri.parse(f"smtp://user:{password}@127.0.0.1:{server.port}/"),
        uses_default_sender=False,
        from_address=f"hello@{name}.example",
        **settings,  # type: ignore[arg-type]
    )


def deliveries(config: ProjectConfig, count: int, *, first: int = 0) -> list[Delivery]:
    return [
        Delivery(
            mail=compose(
                CourierMessage(
                    recipient=f"user{number}@example.org",
                    template_type="login_code_valid",
                    template_data={"login_code": f"{number:06d}"},
                ),
                config,
                key=f"{config.project_id}:{number}",
            ),
            config=config,
        )
        for number in range(first, first + count)
    ]


def sessions(connections_for: Callable[[int | None], int] = lambda own: own or 2) -> Sessions:
    return Sessions(timeout=TIMEOUT, allow_private_hosts=True, connections_for=connections_for)


def results(batch: list[Delivery]) -> list[str | CourierError | None]:
    return [delivery.result for delivery in batch]


def test_ten_projects_send_side_by_side(start_smtpd: StartServer) -> None:
    # GIVEN ten projects on a server that answers no EHLO until ten sessions have sent one
    server = start_smtpd(listener="starttls", password=PASSWORD, faults=Faults(ehlo_barrier=10))
    batch = [d for n in range(10) for d in deliveries(project(server, f"p{n}"), 1, first=n)]

    # WHEN the batch is delivered
    sessions().deliver(batch, deadline=Deadline.after(20))

    # THEN every project's mail arrived over a session of its own, all opened at once
    assert all(isinstance(result, str) for result in results(batch)), results(batch)
    assert sorted(m.mail_from for m in server.messages) == sorted(
        f"hello@p{n}.example" for n in range(10)
    )
    assert len(server.client_sessions) == 10


def test_a_project_with_many_mails_uses_up_to_its_connection_limit(
    start_smtpd: StartServer,
) -> None:
    # GIVEN a project with eight mails, on a server that needs two sessions at once
    server = start_smtpd(listener="starttls", password=PASSWORD, faults=Faults(ehlo_barrier=2))
    batch = deliveries(project(server), 8)

    # WHEN the batch is delivered with the default limit of two sessions
    sessions().deliver(batch, deadline=Deadline.after(20))

    # THEN all eight arrived, shared by two sessions opened side by side
    assert all(isinstance(result, str) for result in results(batch)), results(batch)
    assert sorted(m.rcpt_tos[0] for m in server.messages) == sorted(
        f"user{n}@example.org" for n in range(8)
    )
    assert len(server.client_sessions) == 2


@pytest.mark.parametrize(("limit", "own", "expected"), [(1, None, 1), (2, 1, 1), (1, 3, 2)])
def test_the_projects_own_limit_wins_over_the_stacks(
    start_smtpd: StartServer, limit: int, own: int | None, expected: int
) -> None:
    # GIVEN a project with eight mails, a stack limit and maybe a limit of the project's own
    server = start_smtpd(listener="starttls", password=PASSWORD)
    batch = deliveries(project(server, max_connections=own), 8)

    # WHEN the batch is delivered
    sessions(lambda mine: mine or limit).deliver(batch, deadline=Deadline.after(20))

    # THEN it used no more sessions than its limit allows (and needs)
    assert all(isinstance(result, str) for result in results(batch))
    assert len(server.client_sessions) == expected


def test_a_small_batch_of_one_project_uses_one_session(start_smtpd: StartServer) -> None:
    server = start_smtpd(listener="starttls", password=PASSWORD)
    batch = deliveries(project(server), 3)

    sessions().deliver(batch, deadline=Deadline.after(20))

    assert all(isinstance(result, str) for result in results(batch))
    assert len(server.client_sessions) == 1


def test_a_session_the_server_closed_between_messages_is_reopened(
    start_smtpd: StartServer,
) -> None:
    # GIVEN a server that hangs up after every message
    server = start_smtpd(
        listener="starttls", password=PASSWORD, faults=Faults(hang_up_after_message=True)
    )
    batch = deliveries(project(server), 3)

    # WHEN three messages go through one session
    sessions(lambda _: 1).deliver(batch, deadline=Deadline.after(20))

    # THEN all arrived, each over a session opened again after the server closed the last one
    assert all(isinstance(result, str) for result in results(batch)), results(batch)
    assert sorted(m.rcpt_tos for m in server.messages) == [
        (f"user{n}@example.org",) for n in range(3)
    ]
    assert len(server.client_sessions) == 3


def test_a_connection_lost_during_data_is_not_resent(start_smtpd: StartServer) -> None:
    # GIVEN a server that drops the connection while the message arrives
    server = start_smtpd(listener="starttls", password=PASSWORD, faults=Faults(drop_in_data=True))
    batch = deliveries(project(server), 1)

    # WHEN the message is sent
    sessions().deliver(batch, deadline=Deadline.after(20))

    # THEN the failure is reported (the sender retries later, through idempotency), not
    # resent in this batch: the server may have taken the message
    [result] = results(batch)
    assert isinstance(result, SmtpDisconnectedError)
    assert result.step == "DATA"
    assert result.maybe_accepted
    assert len(server.client_sessions) == 1


def test_a_project_whose_login_fails_costs_no_other_project_its_mail(
    start_smtpd: StartServer,
) -> None:
    # GIVEN a batch of two projects on one server, one of them with a wrong password
    server = start_smtpd(listener="starttls", password=PASSWORD)
    wrong = deliveries(project(server, "wrong", password="nope"), 6)
    right = deliveries(project(server, "right"), 2, first=10)

    # WHEN the batch is delivered
    sessions().deliver(wrong + right, deadline=Deadline.after(20))

    # THEN every mail of the wrong project failed at AUTH, the other project's arrived
    assert all(isinstance(result, SmtpAuthError) for result in results(wrong)), results(wrong)
    assert all(isinstance(result, str) for result in results(right))
    assert sorted(m.rcpt_tos[0] for m in server.messages) == [
        "user10@example.org",
        "user11@example.org",
    ]

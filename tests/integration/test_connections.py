"""A batch's SMTP sessions (courier.delivery.Connections) against real servers."""

from __future__ import annotations

import pytest

from courier.config import ProjectConfig
from courier.deadline import Deadline
from courier.delivery import Connections, compose
from courier.errors import SmtpDisconnectedError
from courier.message import CourierMessage
from courier.uri import ConnectionUri
from local.smtpd import Faults, SmtpServer
from tests.conftest import StartServer


def project(server: SmtpServer) -> ProjectConfig:
    return ProjectConfig(
        project_id="acme",
        connection_uri=ConnectionUri.parse(f"smtp://user:secret@127.0.0.1:{server.port}/"),
        uses_default_sender=False,
        from_address="hello@acme.example",
    )


def message(number: int) -> CourierMessage:
    return CourierMessage(
        recipient=f"user{number}@example.org",
        template_type="login_code_valid",
        template_data={"login_code": f"{number:06d}"},
    )


def test_a_session_the_server_closed_between_messages_is_reopened_once(
    start_smtpd: StartServer,
) -> None:
    # GIVEN a server that hangs up after every message
    server = start_smtpd(listener="starttls", faults=Faults(hang_up_after_message=True))
    config = project(server)
    connections = Connections(timeout=5, allow_private_hosts=True)

    # WHEN three messages go through the batch's connections
    for number in range(3):
        connections.send(compose(message(number), config), config, deadline=Deadline.after(10))
    connections.close_all()

    # THEN all arrived, each over a session opened again after the server closed the last one
    assert [m.rcpt_tos for m in server.messages] == [(f"user{n}@example.org",) for n in range(3)]
    assert len(server.client_sessions) == 3


def test_a_connection_lost_during_data_is_not_resent(start_smtpd: StartServer) -> None:
    # GIVEN a server that drops the connection while the message arrives
    server = start_smtpd(listener="starttls", faults=Faults(drop_in_data=True))
    config = project(server)
    connections = Connections(timeout=5, allow_private_hosts=True)

    # WHEN a message is sent
    with pytest.raises(SmtpDisconnectedError) as caught:
        connections.send(compose(message(1), config), config, deadline=Deadline.after(10))
    connections.close_all()

    # THEN the failure is reported (the sender retries later), not resent in this session:
    # the server may have taken the message, and a retry must go through idempotency
    assert caught.value.step == "DATA"
    assert caught.value.maybe_accepted
    assert len(server.client_sessions) == 1

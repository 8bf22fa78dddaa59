"""Fixtures shared by every test layer: a throwaway CA and real SMTP servers on loopback."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from local.smtpd import Faults, Listener, SmtpServer
from local.stack import StackResources, create_stack_resources

CERTIFICATE_NAMES = ("localhost", "127.0.0.1")
OTHER_NAME = "mail.example.com"

StartServer = Callable[..., SmtpServer]


@pytest.fixture(scope="session")
def ca() -> trustme.CA:
    """The CA the client trusts (through SSL_CERT_FILE)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def unknown_ca() -> trustme.CA:
    """A CA nobody trusts."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return path


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, ca_bundle: Path) -> None:
    """Point the system trust store at the test CA, as a user would with SSL_CERT_FILE."""
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_bundle))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture
def start_smtpd(
    ca: trustme.CA, unknown_ca: trustme.CA, trust_test_ca: None
) -> Iterator[StartServer]:
    """Start SMTP servers for one test; all are stopped after it.

    ``start_smtpd(listener="starttls", certificate="trusted", faults=Faults(...))``, where
    ``certificate`` is ``"trusted"`` (for localhost and 127.0.0.1), ``"untrusted"`` (the same
    names from an unknown CA) or ``"other-name"`` (trusted, for mail.example.com only).
    """
    servers: list[SmtpServer] = []

    def start(
        *,
        listener: Listener = "starttls",
        certificate: str = "trusted",
        faults: Faults | None = None,
        password: str = "secret",
        smtputf8: bool = True,
        pipelining: bool = True,
    ) -> SmtpServer:
        issued = {
            "trusted": lambda: ca.issue_cert(*CERTIFICATE_NAMES),
            "untrusted": lambda: unknown_ca.issue_cert(*CERTIFICATE_NAMES),
            "other-name": lambda: ca.issue_cert(OTHER_NAME),
        }[certificate]()
        server = SmtpServer(
            listener=listener,
            certificate=issued,
            faults=faults,
            password=password,
            smtputf8=smtputf8,
            pipelining=pipelining,
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def smtpd(request: pytest.FixtureRequest, start_smtpd: StartServer) -> SmtpServer:
    """One SMTP server, configured by the test's ``@pytest.mark.smtpd(...)`` marker."""
    marker = request.node.get_closest_marker("smtpd")
    return start_smtpd(**(marker.kwargs if marker else {}))


# AWS, emulated by moto.

AWS_ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "POWERTOOLS_TRACE_DISABLED": "true",
    "POWERTOOLS_SERVICE_NAME": "courier-sender",
    "POWERTOOLS_METRICS_NAMESPACE": "Courier",
    "POWERTOOLS_PARAMETERS_SSM_DECRYPT": "true",
}


@pytest.fixture
def courier_logs() -> Iterator[io.StringIO]:
    """What courier's Powertools logger writes (JSON lines), whichever stream pytest captures."""
    from courier.observability import logger

    handler = logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    stream = io.StringIO()
    previous = handler.setStream(stream)
    yield stream
    handler.setStream(previous)


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Fake credentials and a moto-emulated AWS for one test."""
    from aws_lambda_powertools.utilities import parameters
    from moto import mock_aws

    for name, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    parameters.clear_caches()  # type: ignore[no-untyped-call]
    with mock_aws():
        yield
    parameters.clear_caches()  # type: ignore[no-untyped-call]


@pytest.fixture
def stack(aws: None) -> StackResources:
    """The queues and table of template.yaml, created in moto."""
    import boto3

    return create_stack_resources(sqs=boto3.client("sqs"), dynamodb=boto3.client("dynamodb"))

"""Fixtures shared by every test layer: a throwaway CA and real SMTP servers on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import trustme

from local.smtpd import Faults, Listener, SmtpServer

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
    ) -> SmtpServer:
        issued = {
            "trusted": lambda: ca.issue_cert(*CERTIFICATE_NAMES),
            "untrusted": lambda: unknown_ca.issue_cert(*CERTIFICATE_NAMES),
            "other-name": lambda: ca.issue_cert(OTHER_NAME),
        }[certificate]()
        server = SmtpServer(listener=listener, certificate=issued, faults=faults).start()
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

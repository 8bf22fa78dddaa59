"""Client certificates (mTLS) against real aiosmtpd servers that require one.

The servers' TLS asks for a client certificate and accepts only one issued by the test's
client CA (``ssl.CERT_REQUIRED``); each accepted message records the subject of the client
certificate its session presented.
"""

from __future__ import annotations

import socket
import ssl
import threading
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
import trustme

from courier.config import ProjectConfig
from courier.deadline import Deadline
from courier.delivery import compose
from courier.errors import ConfigError, SmtpTlsError, Step
from courier.message import CourierMessage
from courier.outcomes import cause_of
from courier.sessions import Delivery, Sessions
from courier.tls import ClientCertificate, build_ssl_context, load_client_certificate
from courier.transport import Transport
from courier.uri import ConnectionUri
from courier.validation.probe import probe
from courier.validation.types import ConnectionReport, Finding
from tests.conftest import StartMtlsServer, StartServer, exception_chain

SENDER = "no-reply@example.com"
RECIPIENT = "ada@example.org"
CLIENT_NAME = "courier-acme"
TLS_VERSIONS = {"TLSv1.2", "TLSv1.3"}
# (listener, URI): the two TLS modes in which a session can present a certificate.
TLS_MODES = {
    "starttls": ("starttls", "smtp://user:secret@127.0.0.1:{port}/"),
    "implicit-tls": ("smtps", "smtps://user:secret@127.0.0.1:{port}/"),
}


def issue(ca: trustme.CA, common_name: str = CLIENT_NAME) -> ClientCertificate:
    """A client certificate from ``ca``, checked as a configuration is."""
    leaf = ca.issue_cert(f"{common_name}.example.com", common_name=common_name)
    chain = "".join(blob.bytes().decode("ascii") for blob in leaf.cert_chain_pems)
    key = leaf.private_key_pem.bytes().decode("ascii")
    return load_client_certificate(chain, key, field="smtp.client_cert")


def make_message() -> EmailMessage:
    message = EmailMessage()
    message["From"] = SENDER
    message["To"] = RECIPIENT
    message["Subject"] = "Your login code"
    message.set_content("Your code is 123456.\n")
    return message


def transport_for(uri: str, certificate: ClientCertificate | None) -> Transport:
    return Transport(
        ConnectionUri.parse(uri),
        timeout=5,
        allow_private_hosts=True,
        client_certificate=certificate,
    )


def send(uri: str, certificate: ClientCertificate | None) -> None:
    with transport_for(uri, certificate) as transport:
        transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)


def send_fails(uri: str, certificate: ClientCertificate | None) -> SmtpTlsError:
    transport = transport_for(uri, certificate)
    try:
        with pytest.raises(SmtpTlsError) as caught:
            transport.send(make_message(), sender=SENDER, recipient=RECIPIENT)
    finally:
        transport.close()
    return caught.value


@pytest.mark.parametrize(("listener", "uri"), TLS_MODES.values(), ids=TLS_MODES)
def test_the_session_presents_the_certificate_in_each_tls_mode(
    start_mtls_smtpd: StartMtlsServer, client_ca: trustme.CA, listener: str, uri: str
) -> None:
    # GIVEN a server that requires a client certificate from the client CA
    mtls = start_mtls_smtpd(listener=listener)

    # WHEN courier sends with a certificate that CA issued
    send(uri.format(port=mtls.server.port), issue(client_ca))

    # THEN the mail arrived over TLS, and the server saw the certificate's subject
    [received] = mtls.server.messages
    assert received.tls_version in TLS_VERSIONS
    assert received.auth_login == "user"
    [subject] = mtls.client_subjects
    assert subject["commonName"] == CLIENT_NAME


@pytest.mark.parametrize(("listener", "uri"), TLS_MODES.values(), ids=TLS_MODES)
def test_without_a_certificate_the_session_fails_at_tls(
    start_mtls_smtpd: StartMtlsServer, listener: str, uri: str
) -> None:
    # GIVEN a server that requires a client certificate
    mtls = start_mtls_smtpd(listener=listener)

    # WHEN courier sends without one
    error = send_fails(uri.format(port=mtls.server.port), None)

    # THEN it is a TLS failure (outcome code smtp_tls) that names the client certificate, and
    # neither AUTH nor MAIL was sent
    assert error.step is Step.TLS
    assert cause_of(error).code == "smtp_tls"
    assert "client certificate" in str(error)
    assert "smtp.client_cert" in str(error)
    assert mtls.server.messages == []
    assert all("AUTH" not in s.verbs and "MAIL" not in s.verbs for s in mtls.server.sessions)


@pytest.mark.parametrize(("listener", "uri"), TLS_MODES.values(), ids=TLS_MODES)
def test_a_certificate_from_a_ca_the_server_does_not_trust_fails_at_tls(
    start_mtls_smtpd: StartMtlsServer, unknown_ca: trustme.CA, listener: str, uri: str
) -> None:
    # GIVEN a server that requires a client certificate from the client CA
    mtls = start_mtls_smtpd(listener=listener)

    # WHEN courier presents one from another CA
    error = send_fails(uri.format(port=mtls.server.port), issue(unknown_ca))

    # THEN the server refused the session at TLS
    assert cause_of(error).code == "smtp_tls"
    assert "refuse the one presented" in str(error)
    assert mtls.server.messages == []


@pytest.mark.parametrize(("listener", "uri"), TLS_MODES.values(), ids=TLS_MODES)
def test_a_projects_certificate_reaches_its_session(
    start_mtls_smtpd: StartMtlsServer, client_ca: trustme.CA, listener: str, uri: str
) -> None:
    # GIVEN a project whose configuration has a client certificate, and its server requiring one
    mtls = start_mtls_smtpd(listener=listener)
    config = ProjectConfig(
        project_id="acme",
        connection_uri=ConnectionUri.parse(uri.format(port=mtls.server.port)),
        uses_default_sender=False,
        from_address="hello@acme.example",
        client_certificate=issue(client_ca, "acme-mailer"),
    )
    mail = CourierMessage(
        recipient=RECIPIENT, template_type="login_code_valid", template_data={"login_code": "1"}
    )

    # WHEN the batch's sessions send a message of the project
    delivery = Delivery(mail=compose(mail, config), config=config)
    Sessions(timeout=5, allow_private_hosts=True, connections_for=lambda own: own or 2).deliver(
        [delivery], deadline=Deadline.after(10)
    )

    # THEN it arrived
    assert isinstance(delivery.result, str)

    # AND the session presented the project's certificate
    assert [subject["commonName"] for subject in mtls.client_subjects] == ["acme-mailer"]


def test_a_certificate_with_a_cleartext_uri_is_refused_before_connecting(
    start_smtpd: StartServer, client_ca: trustme.CA
) -> None:
    # GIVEN a server and a URI that never speaks TLS
    server = start_smtpd(listener="plain")
    uri = ConnectionUri.parse(f"smtp://127.0.0.1:{server.port}/?disable_starttls=true")

    # WHEN a transport is built with a client certificate
    with pytest.raises(ConfigError) as caught:
        Transport(uri, timeout=5, allow_private_hosts=True, client_certificate=issue(client_ca))

    # THEN it refuses (the certificate could not be presented), before any connection
    assert caught.value.code == "client_cert_without_tls"
    assert "disable_starttls=true" in caught.value.message
    assert server.sessions == []


def test_an_unchecked_mismatched_certificate_is_a_config_error(
    client_ca: trustme.CA,
) -> None:
    # GIVEN a ClientCertificate built without load_client_certificate, whose key is another's
    mine, other = issue(client_ca, "mine"), issue(client_ca, "other")
    mixed = ClientCertificate(mine.cert_pem, other.key_pem)

    # WHEN its TLS policy is built
    with pytest.raises(ConfigError) as caught:
        build_ssl_context(ConnectionUri.parse("smtps://mx.example.com/"), mixed)

    # THEN it is the mismatch, and no text of the PEM shows in the error or its chain
    assert caught.value.code == "client_cert_key_mismatch"
    for _, linked in exception_chain(caught.value):
        for text in (str(linked), repr(linked)):
            assert mixed.cert_pem.splitlines()[1] not in text
            assert mixed.key_pem.splitlines()[1] not in text


# The validator's probe.


@pytest.mark.parametrize(("listener", "uri"), TLS_MODES.values(), ids=TLS_MODES)
def test_the_probe_presents_the_certificate(
    start_mtls_smtpd: StartMtlsServer, client_ca: trustme.CA, listener: str, uri: str
) -> None:
    # GIVEN a server that requires a client certificate
    mtls = start_mtls_smtpd(listener=listener)
    target = ConnectionUri.parse(uri.format(port=mtls.server.port))

    # WHEN the probe runs with the project's certificate, and without it
    report, error = run_probe(target, issue(client_ca))
    refused, refusal = run_probe(target, None)

    # THEN with it the session reached AUTH, and the TLS step says it was offered
    assert error is None
    assert report["ok"] is True
    [tls] = [step for step in report["steps"] if step["step"] == "TLS"]
    assert "client certificate offered" in tls["reply"]
    assert report["steps"][-1]["step"] == "AUTH"
    # AND without it the probe failed at TLS, saying why
    assert refusal is not None
    assert refusal.code == "connection_failed"
    assert "client certificate" in refusal.message
    last = refused["steps"][-1]
    assert (last["step"], last["ok"]) == ("TLS", False)
    assert mtls.server.messages == []


def test_the_probe_reports_a_certificate_with_a_cleartext_uri(client_ca: trustme.CA) -> None:
    # GIVEN a cleartext URI (nothing listens: no step may run)
    target = ConnectionUri.parse("smtp://127.0.0.1:9/?disable_starttls=true")

    # WHEN the probe runs with a client certificate
    report, error = run_probe(target, issue(client_ca))

    # THEN it reports the configuration error and ran no step
    assert error is not None
    assert error.code == "client_cert_without_tls"
    assert (report["ok"], report["steps"]) == (False, [])


def run_probe(
    target: ConnectionUri, certificate: ClientCertificate | None
) -> tuple[ConnectionReport, Finding | None]:
    return probe(
        target,
        timeout=5,
        local_hostname="localhost",
        allow_private_hosts=True,
        client_certificate=certificate,
    )


# A server that says so with a TLS alert (aiosmtpd hangs up without one).


@pytest.fixture
def alerting_server(ca: trustme.CA, client_ca: trustme.CA, trust_test_ca: None) -> Iterator[int]:
    """An implicit-TLS listener (OpenSSL's own, blocking) that requires a client certificate
    and answers a session without one with TLS 1.3's ``certificate_required`` alert."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    context.verify_mode = ssl.CERT_REQUIRED
    context.load_verify_locations(cadata=client_ca.cert_pem.bytes().decode("ascii"))
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(5)
    failures: list[BaseException] = []

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            try:
                context.wrap_socket(connection, server_side=True)
            except ssl.SSLError:
                return  # OpenSSL sent the alert before raising: as expected
            except BaseException as exc:
                failures.append(exc)
                return
            failures.append(AssertionError("a session without a certificate was accepted"))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    thread.join(timeout=5)
    listener.close()
    assert failures == []


def test_a_certificate_required_alert_is_a_tls_error_naming_the_certificate(
    alerting_server: int,
) -> None:
    # GIVEN a server that sends TLS 1.3's certificate_required alert
    # WHEN courier connects without a certificate
    error = send_fails(f"smtps://127.0.0.1:{alerting_server}/", None)

    # THEN the alert is named, with the client certificate hint (not the STARTTLS-port one)
    assert cause_of(error).code == "smtp_tls"
    assert "CERTIFICATE_REQUIRED" in error.reply
    assert error.hint is not None
    assert "client certificate" in error.hint
    assert "smtp://" not in error.hint

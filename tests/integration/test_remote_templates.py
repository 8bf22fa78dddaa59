"""https:// templates: fetched from a real HTTPS server on loopback (trustme certificate), within
their bounds, behind the SSRF guard; every way a fetch fails is a config error that says why."""

from __future__ import annotations

import json
import socket
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
import trustme

from courier.config import ProjectConfig, parse_project_config
from courier.errors import ConfigError
from courier.remote_templates import MAX_TEMPLATE_BYTES, fetch_template
from courier.templates import render

FIELD = "templates.recovery_code.valid.email.body.html"
TEMPLATE = "<p>Hi, your code is {{ .RecoveryCode }}, Zoë</p>"


class TemplateHandler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, dict[str, str], bytes]]] = {}

    def do_GET(self) -> None:
        status, headers, body = self.routes.get(self.path, (404, {}, b"not found"))
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **headers}.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def https_server(ca: trustme.CA, trust_test_ca: None) -> Iterator[str]:
    """An HTTPS server on 127.0.0.1 for the name localhost; yields its base URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), TemplateHandler)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("localhost").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    TemplateHandler.routes = {
        "/recovery.html": (200, {"Content-Type": "text/html"}, TEMPLATE.encode()),
        "/moved": (302, {"Location": "https://elsewhere.example/t"}, b""),
        "/missing": (404, {}, b"nope"),
        "/huge": (200, {}, b"x" * (MAX_TEMPLATE_BYTES + 1)),
        "/latin1": (200, {}, "Zoë".encode("latin-1")),
    }
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"https://localhost:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def fetch(url: str, *, allow_private_hosts: bool = True, timeout: float = 5.0) -> str:
    return fetch_template(
        url, field=FIELD, allow_private_hosts=allow_private_hosts, timeout=timeout
    )


def fetch_error(url: str, **options: Any) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        fetch(url, **options)
    assert caught.value.field == FIELD
    return caught.value


def test_a_template_is_fetched_over_verified_tls(https_server: str) -> None:
    assert fetch(f"{https_server}/recovery.html") == TEMPLATE


@pytest.mark.parametrize(
    ("path", "code", "said"),
    [
        ("/missing", "template_remote_failed", "answered 404"),
        ("/moved", "template_remote_failed", "redirects are not followed"),
        ("/huge", "template_too_large", "larger than 256 KiB"),
        ("/latin1", "template_remote_not_text", "not UTF-8"),
    ],
)
def test_a_bad_answer_is_a_config_error_that_says_why(
    https_server: str, path: str, code: str, said: str
) -> None:
    error = fetch_error(f"{https_server}{path}")

    assert error.code == code
    assert said in error.message


def test_the_ssrf_guard_refuses_loopback(https_server: str) -> None:
    error = fetch_error(f"{https_server}/recovery.html", allow_private_hosts=False)

    assert error.code == "template_remote_not_public"
    assert "127.0.0.1" in error.message
    assert "AllowPrivateSmtpHosts" in error.message


def test_an_untrusted_certificate_is_refused(
    https_server: str, monkeypatch: pytest.MonkeyPatch, unknown_ca: trustme.CA, tmp_path: Any
) -> None:
    bundle = tmp_path / "other-ca.pem"
    unknown_ca.cert_pem.write_to_path(str(bundle))
    monkeypatch.setenv("SSL_CERT_FILE", str(bundle))

    error = fetch_error(f"{https_server}/recovery.html")

    assert error.code == "template_remote_failed"
    assert "certificate is not trusted" in error.message


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("http://localhost/t.html", "template_remote_insecure"),
        ("https:///no-host", "template_remote_url_invalid"),
        ("https://user:pw@localhost/t", "template_remote_url_invalid"),
        ("https://localhost:99999/t", "template_remote_url_invalid"),
    ],
)
def test_urls_courier_does_not_fetch(url: str, code: str) -> None:
    error = fetch_error(url)

    assert error.code == code
    assert "pw" not in error.message


@pytest.fixture
def dripping_server() -> Iterator[tuple[int, threading.Event]]:
    """Accepts one connection and sends a byte now and then, never finishing the handshake."""
    listener = socket.create_server(("127.0.0.1", 0))
    done = threading.Event()

    def serve() -> None:
        connection, _ = listener.accept()
        with connection:
            while not done.wait(0.05):
                try:
                    connection.sendall(b"\x16")
                except OSError:
                    return

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1], done
    finally:
        done.set()
        listener.close()
        thread.join(timeout=5)


def test_a_server_that_drips_is_cut_off_at_the_bound(
    dripping_server: tuple[int, threading.Event],
) -> None:
    port, _ = dripping_server

    error = fetch_error(f"https://localhost:{port}/t", timeout=0.5)

    assert error.code == "template_remote_failed"


def read_config(html: str) -> ProjectConfig:
    tree = {"templates": {"recovery_code": {"valid": {"email": {"body": {"html": html}}}}}}
    return parse_project_config(
        "acme",
        config_json=json.dumps(tree),
        connection_uri="smtps://mailer:pw-123456@smtp.acme.example/",
        default_connection_uri=None,
        default_from_address="no-reply@stack.example",
        allow_private_hosts=True,
    )


def test_a_config_with_an_https_template_is_fetched_once_when_read(https_server: str) -> None:
    # GIVEN a Kratos config naming an https:// template
    # WHEN it is read
    config = read_config(f"{https_server}/recovery.html")

    # THEN the template is fetched now and kept with the config: rendering needs no network
    override = config.templates["recovery_code_valid"]
    assert override.html is not None
    assert override.html.startswith("base64://")
    TemplateHandler.routes.clear()  # the server forgets it: the config does not
    mail = render(
        "recovery_code_valid",
        {"to": "ada@example.org", "recovery_code": "482913"},
        override=override,
    )
    assert "482913" in mail.html


def test_a_template_that_cannot_be_fetched_fails_only_its_types_mail(https_server: str) -> None:
    # GIVEN a Kratos config whose recovery code template's server answers 404
    # WHEN it is read
    config = read_config(f"{https_server}/missing")

    # THEN recovery code mail fails with a config error naming the part and the answer, and
    # the project's other mail is not held up by it
    error = config.template_error("recovery_code_valid")
    assert error is not None
    assert (error.field, error.code) == (FIELD, "template_remote_failed")
    assert "answered 404" in error.message
    assert config.template_error("login_code_valid") is None

"""Fixtures shared by every test layer: a throwaway CA and real SMTP servers on loopback, and
a guard that fails any test in which a courier error holds a credential."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import ssl
import subprocess
import sys
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import pytest
import trustme

from courier.errors import CourierError
from courier.uri import ConnectionUri
from local.smtpd import Faults, Listener, SmtpServer
from local.stack import StackResources, create_stack_resources
from local.token_endpoint import TokenEndpoint
from tests.faults.scripted_smtpd import ScriptedSmtpServer

pytest_plugins = ["pytester"]

CERTIFICATE_NAMES = ("localhost", "127.0.0.1")
OTHER_NAME = "mail.example.com"

StartServer = Callable[..., SmtpServer]
_AIOSMTPD_AUTH_MECHANISMS = frozenset({"LOGIN", "PLAIN"})


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
    ``username`` and ``password`` are the account's; ``auth_mechanisms`` narrows the AUTH
    mechanisms offered (aiosmtpd offers LOGIN and PLAIN); ``oauth_tokens`` (mailbox → the valid
    token) makes it take XOAUTH2 and OAUTHBEARER too.
    """
    servers: list[SmtpServer] = []

    def start(
        *,
        listener: Listener = "starttls",
        certificate: str = "trusted",
        faults: Faults | None = None,
        username: str = "user",
        password: str = "secret",
        smtputf8: bool = True,
        pipelining: bool = True,
        auth_mechanisms: Collection[str] | None = None,
        oauth_tokens: MutableMapping[str, str] | None = None,
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
            username=username,
            password=password,
            smtputf8=smtputf8,
            pipelining=pipelining,
            oauth_tokens=oauth_tokens,
        ).start()
        servers.append(server)
        if auth_mechanisms is not None:
            # SmtpServer has no such option; aiosmtpd reads these keywords for each connection.
            excluded = sorted(_AIOSMTPD_AUTH_MECHANISMS - {m.upper() for m in auth_mechanisms})
            server._controller.SMTP_kwargs["auth_exclude_mechanism"] = excluded
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def client_ca() -> trustme.CA:
    """The CA that issues client certificates (mTLS), trusted by the servers of
    ``start_mtls_smtpd`` (as is the system store, which ``trust_test_ca`` points at ``ca``)."""
    return trustme.CA()


@dataclass
class MtlsServer:
    """A server whose TLS requires a client certificate, and the client subjects it saw."""

    server: SmtpServer
    client_subjects: list[dict[str, str]] = field(default_factory=list)
    """For each accepted message, the subject of the client certificate of its session
    (``{"commonName": ..., "organizationName": ...}``)."""


StartMtlsServer = Callable[..., MtlsServer]


@pytest.fixture
def start_mtls_smtpd(start_smtpd: StartServer, client_ca: trustme.CA) -> StartMtlsServer:
    """Start SMTP servers (as ``start_smtpd``, with its options) whose TLS requires a client
    certificate issued by ``client_ca`` (``CERT_REQUIRED``), in either TLS listener."""

    def start(*, listener: Listener = "starttls", **options: Any) -> MtlsServer:
        if listener == "plain":
            raise ValueError("a plain listener has no TLS to ask for a client certificate")
        # SmtpServer has no such option; aiosmtpd's server shares its TLS context, whose
        # settings each new handshake reads: tightened here, before the test connects.
        server = start_smtpd(listener=listener, **options)
        context: ssl.SSLContext = server._options[
            "ssl_context" if listener == "smtps" else "tls_context"
        ]
        context.verify_mode = ssl.CERT_REQUIRED
        context.load_verify_locations(cadata=client_ca.cert_pem.bytes().decode("ascii"))
        recorded = MtlsServer(server)
        handler = server._controller.handler
        accept = handler.handle_DATA

        async def handle_data(smtp: Any, session: Any, envelope: Any) -> str:
            peer = smtp.transport.get_extra_info("ssl_object").getpeercert()
            recorded.client_subjects.append(dict(pair for rdn in peer["subject"] for pair in rdn))
            reply: str = await accept(smtp, session, envelope)
            return reply

        handler.handle_DATA = handle_data
        return recorded

    return start


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


# No courier error holds a credential (every test).
#
# For each test, the guard records every CourierError built (wherever it is raised, in any
# thread) and every credential in play: the password and the user of each connection URI
# parsed or built, and of each SmtpServer running. At teardown it fails the test if one of
# them shows up in str() or repr() of a recorded error, or of any exception in its
# __cause__/__context__ chain (a context suppressed by "raise ... from None" included: it is
# still attached to the error, for anything that walks the chain).

SHORTEST_CREDENTIAL = 6
"""Shorter credentials ("p@ss", "pw") turn up in ordinary text: they are not looked for."""
SHORTEST_USER = 4
COMMON_USERS = frozenset(
    {"user", "username", "admin", "test", "tester", "apikey", "api", "mail", "smtp", "root"}
    | {"login", "guest", "nobody", "postmaster", "noreply", "no-reply", "someone", "sender"}
)
"""Users that are ordinary words: no secret, and found in ordinary text."""
REDACTED_USERINFO_ENDS = (":***@", "@")
"""What follows the user in a redacted URI (``smtp://user:***@host``), which shows the user on
purpose: a user there is no leak."""
_WORD = re.compile(r"\w")
_GUARD_FILES = frozenset({__file__, sys.modules[CourierError.__module__].__file__})
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def credential_forms(credential: str) -> tuple[set[str], set[str]]:
    """The ways ``credential`` shows up in text: as it is and escaped as in a ``str`` repr
    (looked for as words), percent-encoded as in a URI and as UTF-8 in a ``bytes`` repr
    (looked for anywhere: escapes stand next to escapes, ``\\x00p\\xc3``)."""
    words = {credential, repr(credential)[1:-1]}
    anywhere = {quote(credential, safe="", errors="surrogatepass")}
    if not credential.isascii():
        anywhere.add(repr(credential.encode("utf-8", "surrogatepass"))[2:-1])
    return words, anywhere - words


def credential_pattern(credential: str) -> re.Pattern[str]:
    """Any form of ``credential``; a whole word where it begins or ends with a letter or digit,
    so that the default test password ``secret`` is not found in ``secretary``."""
    words, anywhere = credential_forms(credential)
    alternatives = [re.escape(form) for form in anywhere]
    for form in words:
        start = r"(?<!\w)" if _WORD.match(form[0]) else ""
        end = r"(?!\w)" if _WORD.match(form[-1]) else ""
        alternatives.append(f"{start}{re.escape(form)}{end}")
    return re.compile("|".join(sorted(alternatives, key=len, reverse=True)))


def exception_chain(error: BaseException) -> Iterator[tuple[str, BaseException]]:
    """``error`` and every exception linked to it (``__cause__``, ``__context__``, a group's
    members), each once however the links loop, with the path to it: ``"__cause__.__context__"``.

    A context hidden by ``raise ... from None`` is still followed, and its path says so.
    """
    seen: set[int] = set()
    pending: list[tuple[str, BaseException]] = [("", error)]
    while pending:
        path, current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield path, current
        context = "__context__(suppressed)" if current.__suppress_context__ else "__context__"
        links: list[tuple[str, BaseException | None]] = [
            ("__cause__", current.__cause__),
            (context, current.__context__),
        ]
        if isinstance(current, BaseExceptionGroup):
            links += [(f"exceptions[{i}]", member) for i, member in enumerate(current.exceptions)]
        pending += [(f"{path}.{name}".lstrip("."), link) for name, link in links if link]


def _texts(error: BaseException) -> Iterator[tuple[str, str]]:
    for name, render in (("str", str), ("repr", repr)):
        try:
            yield name, render(error)
        except Exception as exc:  # an error that cannot be shown shows no credential
            yield name, f"<{name}() raised {type(exc).__name__}>"
    for note in getattr(error, "__notes__", ()):
        yield "note", str(note)


def _shown_in_redacted_uri(text: str, match: re.Match[str]) -> bool:
    return text[: match.start()].endswith("://") and text[match.end() :].startswith(
        REDACTED_USERINFO_ENDS
    )


@dataclass(frozen=True)
class CredentialLeak:
    """A credential found in the text of a courier error, or of an exception in its chain."""

    credential: str
    kind: str
    error: BaseException
    built_at: str
    path: str
    culprit: BaseException
    renderings: str
    """Where it shows: ``"str() and repr()"``."""
    text: str

    def describe(self) -> str:
        culprit = f"its {self.path} ({type(self.culprit).__name__})" if self.path else "it"
        return (
            f"{type(self.error).__name__} built at {self.built_at}: the {self.renderings} of "
            f"{culprit} holds the {self.kind} {self.credential!r} ({len(self.credential)} "
            f"chars): {self.text}"
        )


def find_credential_leaks(
    errors: Iterable[tuple[BaseException, str]],
    passwords: Iterable[str],
    users: Iterable[str] = (),
) -> list[CredentialLeak]:
    """Each password and user of at least :data:`SHORTEST_CREDENTIAL` characters found in an
    error of ``errors`` (pairs of an error and where it was built) or in its chain.

    A user is no leak where a redacted URI shows it (``smtp://user:***@host``).
    """
    wanted = [(p, "password") for p in sorted(set(passwords))]
    wanted += [(u, "user") for u in sorted(set(users) - set(passwords))]
    patterns = [
        (credential, kind, credential_pattern(credential))
        for credential, kind in wanted
        if len(credential) >= SHORTEST_CREDENTIAL
    ]
    leaks: list[CredentialLeak] = []
    if not patterns:
        return leaks
    for error, built_at in errors:
        for path, culprit in exception_chain(error):
            texts = list(_texts(culprit))
            for credential, kind, pattern in patterns:
                found = [
                    (rendering, text)
                    for rendering, text in texts
                    if any(
                        kind == "password" or not _shown_in_redacted_uri(text, match)
                        for match in pattern.finditer(text)
                    )
                ]
                if found:
                    renderings = " and ".join(f"{rendering}()" for rendering, _ in found)
                    leak = (credential, kind, error, built_at, path, culprit, renderings)
                    leaks.append(CredentialLeak(*leak, text=found[0][1]))
    return leaks


def _built_at() -> str:
    """Where the error being built is built: the first frame outside errors.py and this file."""
    frame = sys._getframe(2)
    while frame.f_back is not None and frame.f_code.co_filename in _GUARD_FILES:
        frame = frame.f_back
    path = os.path.relpath(frame.f_code.co_filename, _ROOT)
    return f"{path}:{frame.f_lineno} ({frame.f_code.co_name})"


@dataclass
class CredentialGuard:
    """What one test built: courier errors, and the credentials in play."""

    errors: list[tuple[BaseException, str]] = field(default_factory=list)
    passwords: set[str] = field(default_factory=set)
    users: set[str] = field(default_factory=set)

    def add_password(self, password: object) -> None:
        if isinstance(password, str) and password:
            self.passwords.add(password)

    def add_user(self, user: object) -> None:
        if isinstance(user, str) and len(user) >= SHORTEST_USER and user not in COMMON_USERS:
            self.users.add(user)

    def add_raw_uri(self, raw: object) -> None:
        """The user and password of a URI string, as far as one that may not parse shows them."""
        if not isinstance(raw, str) or "@" not in raw:
            return
        userinfo = raw.partition("://")[2].rpartition("@")[0]
        user, _, password = userinfo.partition(":")
        for add, text in ((self.add_user, user), (self.add_password, password)):
            add(text)
            add(unquote(text, errors="replace"))

    def leaks(self) -> list[CredentialLeak]:
        return find_credential_leaks(self.errors, self.passwords, self.users)

    def check(self, test: str) -> None:
        """Fail ``test`` if an error it built holds a credential."""
        leaks = self.leaks()
        if leaks:
            found = "\n".join(f"- {leak.describe()}" for leak in leaks)
            pytest.fail(f"{test}: {len(leaks)} credential(s) in courier errors:\n{found}")

    def forget(self) -> None:
        """Drop what was recorded (a test that leaks on purpose calls this)."""
        self.errors.clear()
        self.passwords.clear()
        self.users.clear()

    def install(self, patch: pytest.MonkeyPatch) -> None:
        """Record from now until ``patch`` is undone; what was patched before still runs."""
        guard = self
        error_init = CourierError.__dict__.get("__init__")

        def recording_error_init(error: CourierError, *args: Any, **kwargs: Any) -> None:
            guard.errors.append((error, _built_at()))
            if error_init is not None:
                error_init(error, *args, **kwargs)
            else:
                super(CourierError, error).__init__(*args, **kwargs)

        uri_init = ConnectionUri.__dict__["__init__"]

        def recording_uri_init(uri: ConnectionUri, *args: Any, **kwargs: Any) -> None:
            uri_init(uri, *args, **kwargs)
            guard.add_user(uri.username)
            guard.add_password(uri.password)

        parse = ConnectionUri.__dict__["parse"].__func__

        def recording_parse(cls: type[ConnectionUri], raw: str) -> ConnectionUri:
            guard.add_raw_uri(raw)  # first: a URI that does not parse has credentials too
            return parse(cls, raw)  # type: ignore[no-any-return]

        server_init = SmtpServer.__dict__["__init__"]

        def recording_server_init(server: SmtpServer, *args: Any, **kwargs: Any) -> None:
            server_init(server, *args, **kwargs)
            guard.add_user(server.username)
            guard.add_password(server.password)

        patch.setattr(CourierError, "__init__", recording_error_init)
        patch.setattr(ConnectionUri, "__init__", recording_uri_init)
        patch.setattr(ConnectionUri, "parse", classmethod(recording_parse))
        patch.setattr(SmtpServer, "__init__", recording_server_init)


@pytest.fixture(scope="session", autouse=True)
def running_smtp_servers() -> Iterator[dict[int, SmtpServer]]:
    """Every SmtpServer not stopped yet, by ``id``: a server a module's fixture started is in
    play in each of the module's tests, though it was built before them."""
    running: dict[int, SmtpServer] = {}
    init, stop = SmtpServer.__dict__["__init__"], SmtpServer.__dict__["stop"]

    def tracking_init(server: SmtpServer, *args: Any, **kwargs: Any) -> None:
        init(server, *args, **kwargs)
        running[id(server)] = server

    def tracking_stop(server: SmtpServer) -> None:
        running.pop(id(server), None)
        stop(server)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SmtpServer, "__init__", tracking_init)
        patch.setattr(SmtpServer, "stop", tracking_stop)
        yield running


@pytest.fixture(autouse=True)
def credential_guard(
    request: pytest.FixtureRequest, running_smtp_servers: dict[int, SmtpServer]
) -> Iterator[CredentialGuard]:
    """Fail the test if a courier error built during it holds a credential (see above)."""
    guard = CredentialGuard()
    for server in running_smtp_servers.values():
        guard.add_user(server.username)
        guard.add_password(server.password)
    with pytest.MonkeyPatch.context() as patch:
        guard.install(patch)
        yield guard
    try:
        guard.check(request.node.nodeid)
    finally:
        guard.forget()  # let the errors go, and the tracebacks and frames they hold


StartScripted = Callable[..., ScriptedSmtpServer]


@pytest.fixture
def start_scripted(ca: trustme.CA) -> Iterator[StartScripted]:
    """Start scripted raw-socket servers (tests/faults/scripted_smtpd.py), with a certificate
    from ``ca`` in the TLS modes; stop them after the test, which fails if a script or the
    server raised in a connection thread."""
    servers: list[ScriptedSmtpServer] = []

    def start(**options: Any) -> ScriptedSmtpServer:
        if options.get("mode", "plain") != "plain":
            options.setdefault("certificate", ca.issue_cert("127.0.0.1", "localhost"))
        server = ScriptedSmtpServer(**options).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()
    for server in servers:
        assert server.errors == []


@pytest.fixture
def token_endpoint(ca: trustme.CA) -> Iterator[TokenEndpoint]:
    """A real OAuth 2.0 token endpoint on loopback (local/token_endpoint.py), with a certificate
    from ``ca`` for ``localhost``; register its clients in the test."""
    with TokenEndpoint(certificate=ca.issue_cert("localhost")) as endpoint:
        yield endpoint


def modules_loaded_by(
    code: str, *, function: str | None = None, environment: Mapping[str, str] | None = None
) -> set[str]:
    """Every module a fresh interpreter (the layer on its path) has loaded once ``code`` ran:
    what a cold start imports, which this process, having imported everything, cannot tell.
    ``function`` (``sender``) puts ``functions/<function>`` on the path too, as Lambda does;
    ``environment`` is added to the interpreter's."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    path = [os.path.join(_ROOT, "layers", "courier")]
    if function is not None:
        path.insert(0, os.path.join(_ROOT, "functions", function))
    result = subprocess.run(  # noqa: S603 (our interpreter, no shell)
        [sys.executable, "-c", script],
        cwd=_ROOT,
        env={"PYTHONPATH": os.pathsep.join(path), "PATH": "/usr/bin:/bin", **(environment or {})},
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(result.stdout.splitlines()[-1]))

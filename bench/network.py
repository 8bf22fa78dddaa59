"""The far side of the benchmark's network: an SMTP server and its delaying proxy, in a process
of their own.

``python -m bench.network --delay-ms 10 --dir DIR`` starts a STARTTLS + AUTH server
(:class:`local.smtpd.SmtpServer`, offering PIPELINING as the common providers do; certificate
from a throwaway CA written to ``DIR/ca.pem``) with one account per project of
:data:`PROJECTS` and one for the stack's default sender, and a :class:`~bench.proxy.DelayProxy`
in front of it; prints one JSON line with their ports, and runs until its standard input
closes; then it prints one JSON line of statistics (messages accepted, by account; MAIL
commands that came pipelined). A process of its own keeps the server's and the proxy's threads
from competing with the client for one GIL, as they would not over a network.

:class:`Network` is the client's handle: ``with Network(delay=0.010, directory=d) as far:``
gives :class:`Endpoints`, and :meth:`Network.close` returns :class:`NetworkStats`.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from bench.environment import ROOT
from local.smtpd import SmtpServer

__all__ = [
    "PASSWORD",
    "PROJECTS",
    "USERNAME",
    "Endpoints",
    "Network",
    "NetworkStats",
    "main",
    "smtp_uri",
]

USERNAME = "courier"
"""The stack's default sender's account."""
PASSWORD = "bench-secret"  # noqa: S105 (an account of a throwaway local server)
PROJECTS = tuple(f"p{number:02d}" for number in range(10))
"""Projects with a connection URI of their own: an account each on the same server."""


def smtp_uri(port: int, *, project: str | None = None) -> str:
    """The connection URI of ``project``'s account (the default sender's: ``None``) on
    loopback ``port``."""
    username = project or USERNAME
    return f"smtp://{username}:{_password(username)}@127.0.0.1:{port}/"


def _password(username: str) -> str:
    return PASSWORD if username == USERNAME else f"{PASSWORD}-{username}"


@dataclass(frozen=True)
class Endpoints:
    """Where the far side listens."""

    smtp_port: int
    """The server itself (no delay)."""
    proxy_port: int
    """The server behind the proxy (``delay`` each way)."""
    ca_file: str
    """PEM of the CA that issued the server's certificate (for ``SSL_CERT_FILE``)."""

    @property
    def proxied_uri(self) -> str:
        """The default sender's account, through the proxy."""
        return smtp_uri(self.proxy_port)

    @property
    def direct_uri(self) -> str:
        """The default sender's account, without delay."""
        return smtp_uri(self.smtp_port)


@dataclass(frozen=True)
class NetworkStats:
    """What the far side saw."""

    messages: int
    """Messages the server accepted."""
    by_account: dict[str, int]
    """Messages accepted, by the account that AUTHed."""
    sessions: int
    """SMTP sessions in which a client sent a command."""
    mail_commands: int
    pipelined_mail: int
    """MAIL commands that arrived with the next command already sent (RFC 2920)."""
    connections: int
    """Connections through the proxy."""
    mean_lateness: float
    max_lateness: float


class Network:
    """Run the far side in a child process (``python -m bench.network``).

    Parameters
    ----------
    delay:
        The proxy's one-way delay, in seconds.
    directory:
        Where the CA's PEM is written.
    """

    def __init__(self, *, delay: float, directory: Path) -> None:
        self._delay = delay
        self._directory = directory
        self._process: subprocess.Popen[str] | None = None

    def __enter__(self) -> Endpoints:
        command = [sys.executable, "-m", "bench.network", "--delay-ms", f"{self._delay * 1000:g}"]
        self._process = subprocess.Popen(  # noqa: S603 (our own module, no shell)
            [*command, "--dir", str(self._directory)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        return Endpoints(**_read_json(self._process.stdout))

    def __exit__(self, exc_type: type[BaseException] | None, *exc_info: object) -> None:
        if self._process is None:  # closed already
            return
        if exc_type is None:
            self.close()
        else:  # don't hide the error behind the far side's
            self._process.kill()
            self._process.wait()
            self._process = None

    def close(self) -> NetworkStats:
        """Stop the far side and return what it saw."""
        process = self._process
        if process is None:
            raise RuntimeError("the network is not running")
        self._process = None
        assert process.stdin is not None
        process.stdin.close()
        try:
            return NetworkStats(**_read_json(process.stdout))
        finally:
            process.wait(timeout=30)


def _read_json(stream: IO[str] | None) -> dict[str, Any]:
    line = stream.readline() if stream is not None else ""
    if not line:
        raise RuntimeError("the network process ended without an answer (see its stderr)")
    value = json.loads(line)
    if not isinstance(value, dict):
        raise RuntimeError(f"unexpected answer from the network process: {line!r}")
    return value


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    parser.add_argument("--delay-ms", type=float, required=True)
    parser.add_argument("--dir", type=Path, required=True)
    options = parser.parse_args(argv)

    import logging

    import trustme

    from bench.proxy import DelayProxy

    # aiosmtpd warns on every AUTH that its own Session.login_data is deprecated.
    logging.getLogger("mail.log").setLevel(logging.ERROR)
    # The proxy's sleeping writers must get the GIL back at once, not after 5 ms.
    sys.setswitchinterval(0.0002)
    ca = trustme.CA()
    ca_file = options.dir / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    server = _AccountsServer(
        accounts={name: _password(name) for name in (USERNAME, *PROJECTS)},
        listener="starttls",
        certificate=ca.issue_cert("localhost", "127.0.0.1"),
        pipelining=True,
    )
    with (
        server,
        DelayProxy(upstream=(server.host, server.port), delay=options.delay_ms / 1000) as proxy,
    ):
        endpoints = Endpoints(smtp_port=server.port, proxy_port=proxy.port, ca_file=str(ca_file))
        print(json.dumps(asdict(endpoints)), flush=True)
        sys.stdin.read()  # until the client closes our stdin
        relayed = proxy.stats()
        sessions = server.client_sessions
        stats = NetworkStats(
            messages=len(server.messages),
            by_account=dict(Counter(message.auth_login or "" for message in server.messages)),
            sessions=len(sessions),
            mail_commands=sum(len(session.pipelined) for session in sessions),
            pipelined_mail=sum(sum(session.pipelined) for session in sessions),
            connections=relayed.connections,
            mean_lateness=relayed.mean_lateness,
            max_lateness=relayed.max_lateness,
        )
    print(json.dumps(asdict(stats)), flush=True)


class _AccountsServer(SmtpServer):
    """:class:`~local.smtpd.SmtpServer` with several accounts instead of one."""

    def __init__(self, *, accounts: Mapping[str, str], **options: Any) -> None:
        self._accounts = dict(accounts)
        super().__init__(**options)

    def _authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            isinstance(data, LoginPassword)
            and self._accounts.get(data.login.decode()) == data.password.decode()
        ):
            return AuthResult(success=True, auth_data=data.login)
        return AuthResult(success=False, handled=False)  # 535 (handled=True would hang)


if __name__ == "__main__":
    main()

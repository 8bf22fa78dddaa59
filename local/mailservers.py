"""One real SMTP server per security mechanism of docs/design.md §2, with a throwaway CA.

Each mode gets its own :class:`~local.smtpd.SmtpServer` on loopback, with the listener and the
certificate that make its URI meaningful:

==  =====================  ============  ==========================================
#   mode                   listener      certificate
==  =====================  ============  ==========================================
1   starttls               STARTTLS      trusted CA, for 127.0.0.1 and localhost
2   starttls-skip-verify   STARTTLS      an unknown CA (only works unverified)
3   cleartext              no STARTTLS   none (AUTH in cleartext, as the URI asks)
4   smtps                  implicit TLS  trusted CA, for 127.0.0.1 and localhost
5   smtps-skip-verify      implicit TLS  an unknown CA
6   smtps-server-name      implicit TLS  trusted CA, for mail.courier.test only
==  =====================  ============  ==========================================

Clients trust the CA through ``SSL_CERT_FILE`` = :attr:`SmtpFleet.ca_bundle`.

Example
-------
>>> with SmtpFleet(workdir=Path("out/local")) as fleet:  # doctest: +SKIP
...     fleet.uri("smtps")
'smtps://courier:local-secret@127.0.0.1:40123/'
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Self

import trustme

from local.smtpd import Faults, Listener, ReceivedMessage, SmtpServer

__all__ = ["MODES", "SERVER_NAME", "Mode", "SmtpFleet"]

SERVER_NAME = "mail.courier.test"
"""The only name mode 6's certificate is valid for (the URI's ``server_name``)."""

Certificate = Literal["trusted", "unknown-ca", "other-name", "none"]


@dataclass(frozen=True)
class Mode:
    """One of the six security mechanisms, as a server and a URI."""

    number: int
    name: str
    listener: Listener
    certificate: Certificate
    scheme: str
    query: str
    title: str


MODES = (
    Mode(1, "starttls", "starttls", "trusted", "smtp", "", "STARTTLS, verified"),
    Mode(
        2,
        "starttls-skip-verify",
        "starttls",
        "unknown-ca",
        "smtp",
        "?skip_ssl_verify=true",
        "STARTTLS, not verified",
    ),
    Mode(3, "cleartext", "plain", "none", "smtp", "?disable_starttls=true", "cleartext"),
    Mode(4, "smtps", "smtps", "trusted", "smtps", "", "implicit TLS, verified"),
    Mode(
        5,
        "smtps-skip-verify",
        "smtps",
        "unknown-ca",
        "smtps",
        "?skip_ssl_verify=true",
        "implicit TLS, not verified",
    ),
    Mode(
        6,
        "smtps-server-name",
        "smtps",
        "other-name",
        "smtps",
        f"?server_name={SERVER_NAME}",
        f"implicit TLS, name {SERVER_NAME}",
    ),
)
"""The six modes of docs/design.md §2, in its order."""

_MODES_BY_NAME = {mode.name: mode for mode in MODES}


class SmtpFleet:
    """The six servers, started and stopped together.

    Parameters
    ----------
    workdir:
        Where the CA bundle (``ca.pem``) is written; :attr:`ca_bundle` is its absolute path,
        since the functions run in their code folder.
    username, password:
        The account every server accepts.
    faults:
        Canned faults by mode name (e.g. a 550 for one recipient).
    on_message:
        Called with ``(mode, message)`` for each message a server accepts.
    """

    def __init__(
        self,
        *,
        workdir: Path,
        username: str = "courier",
        password: str = "local-secret",  # noqa: S107 (a throwaway local account)
        faults: Mapping[str, Faults] | None = None,
        on_message: Callable[[Mode, ReceivedMessage], object] | None = None,
    ) -> None:
        self.username = username
        self.password = password
        self.ca = trustme.CA(organization_name="courier local CA")
        self._unknown_ca = trustme.CA(organization_name="courier local unknown CA")
        workdir.mkdir(parents=True, exist_ok=True)
        self.ca_bundle = workdir.resolve() / "ca.pem"
        self.ca.cert_pem.write_to_path(str(self.ca_bundle))
        self.servers: dict[str, SmtpServer] = {}
        for mode in MODES:
            self.servers[mode.name] = SmtpServer(
                listener=mode.listener,
                certificate=self._certificate(mode.certificate),
                username=username,
                password=password,
                faults=(faults or {}).get(mode.name),
                on_message=_bind(on_message, mode),
            )

    def _certificate(self, kind: Certificate) -> trustme.LeafCert | None:
        if kind == "trusted":
            return self.ca.issue_cert("127.0.0.1", "localhost")
        if kind == "unknown-ca":
            return self._unknown_ca.issue_cert("127.0.0.1", "localhost")
        if kind == "other-name":
            return self.ca.issue_cert(SERVER_NAME)
        return None

    def start(self) -> Self:
        try:
            for server in self.servers.values():
                server.start()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()

    def clear(self) -> None:
        """Forget what the servers received (their faults stay as they are)."""
        for server in self.servers.values():
            server.messages.clear()
            server.sessions.clear()
            server.server_names.clear()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def uri(self, mode_name: str, *, with_password: bool = True) -> str:
        """The connection URI of the server of ``mode_name``."""
        mode = _MODES_BY_NAME[mode_name]
        server = self.servers[mode_name]
        secret = self.password if with_password else "***"
        return f"{mode.scheme}://{self.username}:{secret}@{server.host}:{server.port}/{mode.query}"

    @staticmethod
    def mode(name: str) -> Mode:
        return _MODES_BY_NAME[name]


def _bind(
    on_message: Callable[[Mode, ReceivedMessage], object] | None, mode: Mode
) -> Callable[[ReceivedMessage], None] | None:
    if on_message is None:
        return None
    callback = on_message

    def bound(message: ReceivedMessage) -> None:
        callback(mode, message)

    return bound

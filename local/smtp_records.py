"""What the local SMTP servers record, and the faults they can be told to give.

See :mod:`local.smtpd` for the servers.
"""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Literal

__all__ = [
    "Faults",
    "Listener",
    "OAuthRefusal",
    "ReceivedMessage",
    "RecordedSession",
    "TokenAttempt",
    "free_port",
]

Listener = Literal["starttls", "plain", "smtps"]
OAuthRefusal = Literal["google", "microsoft"]
"""How a server refuses an OAuth 2.0 token: ``"google"`` challenges first (``334`` and base64
JSON, answered by the client) and then says ``535 5.7.8``; ``"microsoft"`` says ``535 5.7.3``
at once."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on (aiosmtpd cannot bind port 0)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass(frozen=True)
class Faults:
    """Replies a server gives instead of accepting (``None``: accept)."""

    ehlo_reply: str | None = None
    mail_reply: str | None = None
    rcpt_reply: str | None = None
    rcpt_replies: Mapping[str, str] = field(default_factory=dict)
    """Replies for some recipients only (address → reply)."""
    first_rcpt_replies: Mapping[str, str] = field(default_factory=dict)
    """Replies for some recipients the first time only; later RCPTs are accepted (greylisting)."""
    data_reply: str | None = None
    drop_in_data: bool = False
    """Close the connection when the message arrives, without replying."""
    hang_up_after_message: bool = False
    """Accept each message, then close the connection (as servers do with idle sessions)."""
    ehlo_barrier: int = 0
    """Answer no session's first EHLO until this many sessions have sent theirs: sessions
    opened one after another never get past it, sessions opened side by side all do."""


@dataclass
class RecordedSession:
    """One client connection as the server saw it."""

    commands: list[tuple[str, str | None]] = field(default_factory=list)
    """``(verb, tls_version)`` of each command, in order; ``tls_version`` is ``None`` in
    cleartext."""

    ehlo_names: list[str] = field(default_factory=list)
    """The name the client gave in each EHLO."""

    pipelined: list[bool] = field(default_factory=list)
    """For each MAIL: whether the client had sent the next command before the reply."""

    auth_mechanism: str | None = None
    """The mechanism of the AUTH that logged the session in (``PLAIN``, ``XOAUTH2``, ...)."""

    auth_login: str | None = None
    """Who logged in: the user, or the mailbox of a token login."""

    token_attempts: list[TokenAttempt] = field(default_factory=list)
    """Each token login (XOAUTH2, OAUTHBEARER) the client tried, in order."""

    @property
    def verbs(self) -> list[str]:
        return [verb for verb, _ in self.commands]


@dataclass(frozen=True)
class TokenAttempt:
    """One token login as the server saw it (the token itself is not kept)."""

    mechanism: str
    mailbox: str
    accepted: bool
    host: str | None = None
    """OAUTHBEARER's ``host=`` (XOAUTH2 has none)."""
    port: str | None = None
    """OAUTHBEARER's ``port=``."""
    challenge_answer: bytes | None = None
    """What the client answered to the error challenge (base64-decoded), when there was one."""


@dataclass(frozen=True)
class ReceivedMessage:
    """A message the server accepted, with its envelope apart from its headers."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    content: bytes
    tls_version: str | None
    auth_login: str | None
    mail_options: tuple[str, ...] = ()
    auth_mechanism: str | None = None

    @property
    def message(self) -> EmailMessage:
        parsed = message_from_bytes(self.content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed

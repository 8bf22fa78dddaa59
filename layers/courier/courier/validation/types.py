"""What the config validator reports: findings, parameter versions and the response's shape.

A :class:`Finding` is one problem (or remark) about one place of the courier tree, named by the
JSON pointer a user patches (``/services/identity/config/courier/smtp/connection_uri``), with a
stable ``code`` and a ``message`` that says what to do. The response is plain JSON, typed here
as :class:`~typing.TypedDict` s as Powertools types its batch responses.

Example
-------
>>> finding = Finding.error("/services/identity/config/courier/message_retries",
...                         "message_retries_out_of_range", "must be a whole number from 0 to 20")
>>> finding.as_dict()["code"]
'message_retries_out_of_range'
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, TypedDict

__all__ = [
    "ConnectionReport",
    "Finding",
    "ProblemDict",
    "SentMailDict",
    "Severity",
    "StepDict",
    "ValidationResponse",
    "Versions",
    "VersionsDict",
]


class Severity(StrEnum):
    """How much a finding matters."""

    ERROR = "error"
    """The configuration must not be used as it is: it is never applied."""
    WARNING = "warning"
    """It works, but probably not as meant (or not safely)."""
    NOTE = "note"
    """For information: a default that applies, where the settings are stored."""


class ProblemDict(TypedDict):
    """One entry of ``errors``, ``warnings`` or ``notes``."""

    path: str
    code: str
    message: str


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One problem or remark about one place of the configuration (or of the request).

    Attributes
    ----------
    path:
        A JSON pointer: into the project's configuration (``/services/identity/config/
        courier/...``) for what the patch produced, or into the request (``/replace/0``) for
        an entry that could not even be read.
    code:
        Stable and machine-readable, e.g. ``smtp_port_blocked``.
    message:
        What is wrong and what to do; never a password.
    """

    severity: Severity
    path: str
    code: str
    message: str

    @classmethod
    def error(cls, path: str, code: str, message: str) -> Finding:
        return cls(severity=Severity.ERROR, path=path, code=code, message=message)

    @classmethod
    def warning(cls, path: str, code: str, message: str) -> Finding:
        return cls(severity=Severity.WARNING, path=path, code=code, message=message)

    @classmethod
    def note(cls, path: str, code: str, message: str) -> Finding:
        return cls(severity=Severity.NOTE, path=path, code=code, message=message)

    @property
    def is_error(self) -> bool:
        return self.severity is Severity.ERROR

    def as_dict(self) -> ProblemDict:
        return {"path": self.path, "code": self.code, "message": self.message}


class VersionsDict(TypedDict):
    """SSM parameter versions; ``None``: the parameter does not exist."""

    connection_uri: int | None
    config: int | None


@dataclass(frozen=True, kw_only=True)
class Versions:
    """The versions of a project's two parameters, for optimistic concurrency."""

    connection_uri: int | None
    config: int | None

    def as_dict(self) -> VersionsDict:
        return {"connection_uri": self.connection_uri, "config": self.config}


class StepDict(TypedDict):
    """One step of a connection check, as the server answered it."""

    step: str
    ok: bool
    reply: str


class SentMailDict(TypedDict):
    """The test mail of ``send_test_to``, as the server took it (or did not)."""

    to: str
    message_id: str
    """Its ``Message-ID`` header."""
    accepted: bool
    """The server answered ``250`` to the end of DATA."""
    queue_id: str | None
    """The id the server gave the mail in that reply (``queued as ABC123``), if it gave one."""


class ConnectionReport(TypedDict):
    """The result of ``check_connection``: the session up to AUTH, then QUIT, without mail; or,
    with ``send_test_to``, up to the end of DATA of a test mail, then QUIT."""

    ok: bool
    endpoint: str
    tls_version: str | None
    steps: list[StepDict]
    test_mail: SentMailDict | None
    """With ``send_test_to`` only."""


class ValidationResponse(TypedDict):
    """What the validator answers, directly or as the HTTP API's JSON body."""

    project_id: str
    valid: bool
    dry_run: bool
    applied: bool
    errors: list[ProblemDict]
    warnings: list[ProblemDict]
    notes: list[ProblemDict]
    config: dict[str, Any] | None
    versions: VersionsDict | None
    connection: ConnectionReport | None
    converted_templates: dict[str, str] | None
    """With ``show_converted``: the Jinja each Go template override converts to, by path."""

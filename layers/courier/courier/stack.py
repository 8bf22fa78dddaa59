"""The stack's settings: every ``COURIER_*`` variable ``template.yaml`` sets, read in one place.

Both functions get their settings from :meth:`StackSettings.from_environment`, called once when
the handler module is imported; the sender, its configuration provider and the validator take
the object it returns as an argument and never read the environment themselves. So the sender
and the validator cannot disagree on the prefix, the default sender, the SSRF guard or the
timeouts, and a malformed value stops the function at its cold start with the variable named,
not at the first message.

Every variable unset or empty takes the default the template gives its stack parameter.

Example
-------
>>> settings = StackSettings.from_environment({"COURIER_SSM_PREFIX": "/mail/"})
>>> settings.prefix, settings.default_connection_uri_parameter, settings.smtp_timeout
('/mail', '/mail/default/smtp/connection_uri', 10.0)
>>> StackSettings.from_environment({"COURIER_SMTP_TIMEOUT_SECONDS": "ten"})
Traceback (most recent call last):
...
courier.stack.StackSettingError: COURIER_SMTP_TIMEOUT_SECONDS: 'ten' is not a number of seconds: \
set the stack parameter SmtpTimeoutSeconds to one such as 10
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Literal, TypeVar

from courier.config import (
    DEFAULT_FROM_ADDRESS,
    DEFAULT_MAX_CONNECTIONS,
    DEFAULT_PREFIX,
    DEFAULT_PROJECT,
    MAX_CONNECTIONS_MAX,
    check_project_id,
    parameter_names,
)
from courier.errors import ConfigError
from courier.outcomes import BACKOFF_BASE_SECONDS

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_MAX_RECEIVE_COUNT",
    "DEFAULT_SMTP_TIMEOUT",
    "DEFAULT_STATUS_RETENTION_DAYS",
    "ENV_ALLOW_PRIVATE_SMTP_HOSTS",
    "ENV_DEFAULT_CONNECTION_URI_PARAMETER",
    "ENV_DEFAULT_FROM_ADDRESS",
    "ENV_DEFAULT_PROJECT",
    "ENV_DLQ_URL",
    "ENV_IDEMPOTENCY_TABLE",
    "ENV_MAX_RECEIVE_COUNT",
    "ENV_PARAMETERS_MAX_AGE",
    "ENV_RETRY_BACKOFF_BASE_SECONDS",
    "ENV_SENDER_TIMEOUT_SECONDS",
    "ENV_SMTP_CONNECTIONS_PER_PROJECT",
    "ENV_SMTP_TIMEOUT_SECONDS",
    "ENV_SSM_PREFIX",
    "ENV_STATUS_RETENTION_DAYS",
    "ENV_STATUS_TABLE",
    "STACK_VARIABLES",
    "StackSettingError",
    "StackSettings",
]

ENV_SSM_PREFIX: Final = "COURIER_SSM_PREFIX"
ENV_DEFAULT_PROJECT: Final = "COURIER_DEFAULT_PROJECT"
ENV_DEFAULT_CONNECTION_URI_PARAMETER: Final = "COURIER_DEFAULT_CONNECTION_URI_PARAMETER"
ENV_DEFAULT_FROM_ADDRESS: Final = "COURIER_DEFAULT_FROM_ADDRESS"
ENV_ALLOW_PRIVATE_SMTP_HOSTS: Final = "COURIER_ALLOW_PRIVATE_SMTP_HOSTS"
ENV_SMTP_TIMEOUT_SECONDS: Final = "COURIER_SMTP_TIMEOUT_SECONDS"
ENV_SENDER_TIMEOUT_SECONDS: Final = "COURIER_SENDER_TIMEOUT_SECONDS"
ENV_SMTP_CONNECTIONS_PER_PROJECT: Final = "COURIER_SMTP_CONNECTIONS_PER_PROJECT"
"""The sender function's ``Timeout``, told to the validator (``template.yaml`` keeps them equal)."""
ENV_DLQ_URL: Final = "COURIER_DLQ_URL"
ENV_IDEMPOTENCY_TABLE: Final = "COURIER_IDEMPOTENCY_TABLE"
ENV_MAX_RECEIVE_COUNT: Final = "COURIER_MAX_RECEIVE_COUNT"
ENV_RETRY_BACKOFF_BASE_SECONDS: Final = "COURIER_RETRY_BACKOFF_BASE_SECONDS"
ENV_PARAMETERS_MAX_AGE: Final = "POWERTOOLS_PARAMETERS_MAX_AGE"
ENV_STATUS_TABLE: Final = "COURIER_STATUS_TABLE"
ENV_STATUS_RETENTION_DAYS: Final = "COURIER_STATUS_RETENTION_DAYS"

DEFAULT_SMTP_TIMEOUT: Final = 10.0
DEFAULT_MAX_RECEIVE_COUNT: Final = 21
DEFAULT_MAX_AGE: Final = 60.0
DEFAULT_STATUS_RETENTION_DAYS: Final = 30

_Field = Literal[
    "prefix",
    "default_project",
    "default_connection_uri_parameter",
    "default_from_address",
    "allow_private_hosts",
    "smtp_timeout",
    "connections_per_project",
    "sender_timeout",
    "dead_letter_queue_url",
    "idempotency_table",
    "max_receive_count",
    "backoff_base_seconds",
    "parameters_max_age",
    "status_table",
    "status_retention_days",
]

STACK_VARIABLES: Final[Mapping[_Field, str]] = {
    "prefix": ENV_SSM_PREFIX,
    "default_project": ENV_DEFAULT_PROJECT,
    "default_connection_uri_parameter": ENV_DEFAULT_CONNECTION_URI_PARAMETER,
    "default_from_address": ENV_DEFAULT_FROM_ADDRESS,
    "allow_private_hosts": ENV_ALLOW_PRIVATE_SMTP_HOSTS,
    "smtp_timeout": ENV_SMTP_TIMEOUT_SECONDS,
    "connections_per_project": ENV_SMTP_CONNECTIONS_PER_PROJECT,
    "sender_timeout": ENV_SENDER_TIMEOUT_SECONDS,
    "dead_letter_queue_url": ENV_DLQ_URL,
    "idempotency_table": ENV_IDEMPOTENCY_TABLE,
    "max_receive_count": ENV_MAX_RECEIVE_COUNT,
    "backoff_base_seconds": ENV_RETRY_BACKOFF_BASE_SECONDS,
    "parameters_max_age": ENV_PARAMETERS_MAX_AGE,
    "status_table": ENV_STATUS_TABLE,
    "status_retention_days": ENV_STATUS_RETENTION_DAYS,
}
"""Each :class:`StackSettings` field and the variable it is read from."""

# Where the value comes from, for the fix in an error message.
_SOURCES: Final[Mapping[str, str]] = {
    ENV_SSM_PREFIX: "the stack parameter SsmPrefix",
    ENV_DEFAULT_PROJECT: "the stack parameter DefaultProject",
    ENV_DEFAULT_CONNECTION_URI_PARAMETER: "the stack parameter DefaultConnectionUriParameter",
    ENV_DEFAULT_FROM_ADDRESS: "the stack parameter DefaultFromAddress",
    ENV_ALLOW_PRIVATE_SMTP_HOSTS: "the stack parameter AllowPrivateSmtpHosts",
    ENV_SMTP_TIMEOUT_SECONDS: "the stack parameter SmtpTimeoutSeconds",
    ENV_SMTP_CONNECTIONS_PER_PROJECT: "the stack parameter SmtpConnectionsPerProject",
    ENV_STATUS_RETENTION_DAYS: "the stack parameter StatusRetentionDays",
}
# The template's AllowedPatterns of DefaultConnectionUriParameter and DefaultFromAddress.
_PARAMETER_NAME = re.compile(r"^(/[a-zA-Z0-9_.-]+)+$")
_ADDRESS = re.compile(r"^[^@\s]+@[^@\s]+$")
_BOOLEANS: Final = {"true": True, "false": False}
# A sound value of each number, for the fix in an error message.
_EXAMPLES: Final = {
    ENV_SMTP_TIMEOUT_SECONDS: "10",
    ENV_SENDER_TIMEOUT_SECONDS: "60",
    ENV_PARAMETERS_MAX_AGE: "60",
    ENV_MAX_RECEIVE_COUNT: "21",
    ENV_RETRY_BACKOFF_BASE_SECONDS: "30",
    ENV_STATUS_RETENTION_DAYS: "30",
    ENV_SMTP_CONNECTIONS_PER_PROJECT: str(DEFAULT_MAX_CONNECTIONS),
}

_T = TypeVar("_T")


class StackSettingError(ConfigError):
    """A stack setting is malformed or missing; :attr:`field` is its environment variable.

    A :class:`ValueError` too, as every :class:`~courier.errors.ConfigError`.

    Parameters
    ----------
    variable:
        The environment variable at fault.
    problem:
        What is wrong with its value.
    fix:
        How to set it right, after "set <the stack parameter or the variable>".
    """

    def __init__(self, variable: str, problem: str, fix: str) -> None:
        source = _SOURCES.get(variable, variable)
        super().__init__(variable, "stack_setting_invalid", f"{problem}: set {source} {fix}")


@dataclass(frozen=True, kw_only=True)
class StackSettings:
    """Every setting of the stack, as ``template.yaml`` gives both functions.

    Construction checks each value and raises :class:`StackSettingError` naming its variable;
    it reads nothing. :meth:`from_environment` is the one reader of the environment.

    Attributes
    ----------
    prefix:
        ``COURIER_SSM_PREFIX``: the SSM path the projects live under (``/courier``).
    default_project:
        ``COURIER_DEFAULT_PROJECT``: the project of a message that names none; known without
        parameters of its own (``default``).
    default_connection_uri_parameter:
        ``COURIER_DEFAULT_CONNECTION_URI_PARAMETER``: the SecureString with the stack's own
        sender URI; ``None``: the stack has no default sender. :meth:`from_environment` gives
        ``{prefix}/default/smtp/connection_uri`` when the variable is unset.
    default_from_address:
        ``COURIER_DEFAULT_FROM_ADDRESS``: From of mail through the default sender.
    allow_private_hosts:
        ``COURIER_ALLOW_PRIVATE_SMTP_HOSTS``: the SSRF guard off (``true``/``false``).
    smtp_timeout:
        ``COURIER_SMTP_TIMEOUT_SECONDS``: each SMTP wait, in seconds (``10``).
    connections_per_project:
        ``COURIER_SMTP_CONNECTIONS_PER_PROJECT``: the most SMTP sessions a batch opens to one
        project's server at once, unless the project's ``smtp.max_connections`` says (``2``).
    sender_timeout:
        ``COURIER_SENDER_TIMEOUT_SECONDS``: the sender function's timeout, told to the validator;
        ``None``: not known (not checked).
    dead_letter_queue_url:
        ``COURIER_DLQ_URL``: the sender's dead-letter queue (the sender requires it).
    idempotency_table:
        ``COURIER_IDEMPOTENCY_TABLE``: the sender's DynamoDB table (the sender requires it).
    max_receive_count:
        ``COURIER_MAX_RECEIVE_COUNT``: the queue's ``maxReceiveCount``; courier dead-letters
        with the cause before SQS would without one (``21``).
    backoff_base_seconds:
        ``COURIER_RETRY_BACKOFF_BASE_SECONDS``: the first retry's delay; each later one doubles
        it (``30``; local demos shorten it).
    parameters_max_age:
        ``POWERTOOLS_PARAMETERS_MAX_AGE``: seconds a project's configuration is cached
        (``60``; ``0`` turns the cache off).
    status_table:
        ``COURIER_STATUS_TABLE``: the message status table (docs/design.md §9); ``None``: the
        sender records no status and the validator's messages routes answer 503.
    status_retention_days:
        ``COURIER_STATUS_RETENTION_DAYS``: days a status item is kept (its TTL; ``30``).

    Example
    -------
    >>> StackSettings(smtp_timeout=0)
    Traceback (most recent call last):
    ...
    courier.stack.StackSettingError: COURIER_SMTP_TIMEOUT_SECONDS: must be more than 0 seconds, \
not 0: set the stack parameter SmtpTimeoutSeconds to a number such as 10
    """

    prefix: str = DEFAULT_PREFIX
    default_project: str = DEFAULT_PROJECT
    default_connection_uri_parameter: str | None = None
    default_from_address: str = DEFAULT_FROM_ADDRESS
    allow_private_hosts: bool = False
    smtp_timeout: float = DEFAULT_SMTP_TIMEOUT
    connections_per_project: int = DEFAULT_MAX_CONNECTIONS
    sender_timeout: float | None = None
    dead_letter_queue_url: str | None = None
    idempotency_table: str | None = None
    max_receive_count: int = DEFAULT_MAX_RECEIVE_COUNT
    backoff_base_seconds: int = BACKOFF_BASE_SECONDS
    parameters_max_age: float = DEFAULT_MAX_AGE
    status_table: str | None = None
    status_retention_days: int = DEFAULT_STATUS_RETENTION_DAYS

    def __post_init__(self) -> None:
        _check_prefix(self.prefix)
        _check_project(self.default_project)
        parameter = self.default_connection_uri_parameter
        if parameter is not None and not _PARAMETER_NAME.fullmatch(parameter):
            raise StackSettingError(
                ENV_DEFAULT_CONNECTION_URI_PARAMETER,
                f"{parameter!r} is not a fully qualified SSM parameter name",
                "to one such as /courier/default/smtp/connection_uri",
            )
        if not _ADDRESS.fullmatch(self.default_from_address):
            raise StackSettingError(
                ENV_DEFAULT_FROM_ADDRESS,
                f"{self.default_from_address!r} is not an email address",
                "to one such as no-reply@example.com",
            )
        _check_seconds(ENV_SMTP_TIMEOUT_SECONDS, self.smtp_timeout)
        if self.sender_timeout is not None:
            _check_seconds(ENV_SENDER_TIMEOUT_SECONDS, self.sender_timeout)
        _check_at_least(ENV_MAX_RECEIVE_COUNT, self.max_receive_count, 1)
        _check_at_least(ENV_RETRY_BACKOFF_BASE_SECONDS, self.backoff_base_seconds, 0)
        _check_at_least(ENV_STATUS_RETENTION_DAYS, self.status_retention_days, 1)
        if not 1 <= self.connections_per_project <= MAX_CONNECTIONS_MAX:
            raise StackSettingError(
                ENV_SMTP_CONNECTIONS_PER_PROJECT,
                f"must be from 1 to {MAX_CONNECTIONS_MAX}, not {self.connections_per_project!r}",
                f"to a whole number such as {DEFAULT_MAX_CONNECTIONS}",
            )
        if not self.parameters_max_age >= 0:  # also refuses NaN
            raise StackSettingError(
                ENV_PARAMETERS_MAX_AGE,
                f"must be 0 or more seconds, not {self.parameters_max_age!r}",
                "to a number such as 60 (0 turns the cache off)",
            )

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> StackSettings:
        """The settings from the stack's variables; unset or empty ones take the defaults.

        Parameters
        ----------
        environ:
            The environment (``os.environ``; a plain mapping in tests and local runs).

        Raises
        ------
        StackSettingError
            A variable holds a malformed value: the message names it and the fix.

        Example
        -------
        >>> settings = StackSettings.from_environment({
        ...     "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "TRUE", "COURIER_SENDER_TIMEOUT_SECONDS": "60"})
        >>> settings.allow_private_hosts, settings.sender_timeout, settings.max_receive_count
        (True, 60.0, 21)
        """

        def read(variable: str, parse: Callable[[str, str], _T], default: _T) -> _T:
            raw = environ.get(variable, "").strip()
            return parse(variable, raw) if raw else default

        prefix = read(ENV_SSM_PREFIX, _text, DEFAULT_PREFIX).rstrip("/")
        return cls(
            prefix=prefix,
            default_project=read(ENV_DEFAULT_PROJECT, _text, DEFAULT_PROJECT),
            default_connection_uri_parameter=read(
                ENV_DEFAULT_CONNECTION_URI_PARAMETER, _text, f"{prefix}/default/smtp/connection_uri"
            ),
            default_from_address=read(ENV_DEFAULT_FROM_ADDRESS, _text, DEFAULT_FROM_ADDRESS),
            allow_private_hosts=read(ENV_ALLOW_PRIVATE_SMTP_HOSTS, _boolean, False),
            smtp_timeout=read(ENV_SMTP_TIMEOUT_SECONDS, _seconds, DEFAULT_SMTP_TIMEOUT),
            connections_per_project=read(
                ENV_SMTP_CONNECTIONS_PER_PROJECT, _integer, DEFAULT_MAX_CONNECTIONS
            ),
            sender_timeout=read(ENV_SENDER_TIMEOUT_SECONDS, _seconds, None),
            dead_letter_queue_url=read(ENV_DLQ_URL, _text, None),
            idempotency_table=read(ENV_IDEMPOTENCY_TABLE, _text, None),
            max_receive_count=read(ENV_MAX_RECEIVE_COUNT, _integer, DEFAULT_MAX_RECEIVE_COUNT),
            backoff_base_seconds=read(
                ENV_RETRY_BACKOFF_BASE_SECONDS, _integer, BACKOFF_BASE_SECONDS
            ),
            parameters_max_age=read(ENV_PARAMETERS_MAX_AGE, _seconds, DEFAULT_MAX_AGE),
            status_table=read(ENV_STATUS_TABLE, _text, None),
            status_retention_days=read(
                ENV_STATUS_RETENTION_DAYS, _integer, DEFAULT_STATUS_RETENTION_DAYS
            ),
        )

    def connections_for(self, max_connections: int | None) -> int:
        """The sessions a project may have at once: its own ``smtp.max_connections``, else
        the stack's :attr:`connections_per_project`.

        Example
        -------
        >>> StackSettings().connections_for(None), StackSettings().connections_for(1)
        (2, 1)
        """
        return max_connections or self.connections_per_project

    def required(self, name: Literal["dead_letter_queue_url", "idempotency_table"]) -> str:
        """The value of a setting only the sender has (its dead-letter queue, its table).

        Raises
        ------
        StackSettingError
            It is not set.

        Example
        -------
        >>> StackSettings(dead_letter_queue_url="https://sqs/dlq").required("dead_letter_queue_url")
        'https://sqs/dlq'
        >>> StackSettings().required("idempotency_table")
        Traceback (most recent call last):
        ...
        courier.stack.StackSettingError: COURIER_IDEMPOTENCY_TABLE: not set, and the sender needs \
it: set COURIER_IDEMPOTENCY_TABLE as template.yaml does for SenderFunction
        """
        value: str | None = getattr(self, name)
        if value is None:
            variable = STACK_VARIABLES[name]
            raise StackSettingError(
                variable,
                "not set, and the sender needs it",
                "as template.yaml does for SenderFunction",
            )
        return value


# Parsers of a variable's (non-empty) text: each raises naming the variable.


def _text(variable: str, raw: str) -> str:
    return raw


def _boolean(variable: str, raw: str) -> bool:
    try:
        return _BOOLEANS[raw.lower()]
    except KeyError:
        raise StackSettingError(variable, f"{raw!r} is not a boolean", "to true or false") from None


def _seconds(variable: str, raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise StackSettingError(
            variable, f"{raw!r} is not a number of seconds", f"to one such as {_EXAMPLES[variable]}"
        ) from None


def _integer(variable: str, raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise StackSettingError(
            variable, f"{raw!r} is not a whole number", f"to one such as {_EXAMPLES[variable]}"
        ) from None


# Checks of a value, read or given.


def _check_prefix(prefix: str) -> None:
    try:
        parameter_names(DEFAULT_PROJECT, prefix=prefix)
    except ConfigError:
        raise StackSettingError(
            ENV_SSM_PREFIX,
            f"{prefix!r} is not an SSM path",
            "to one such as /courier (a leading slash, no trailing slash)",
        ) from None


def _check_project(project_id: str) -> None:
    try:
        check_project_id(project_id)
    except ConfigError as exc:
        raise StackSettingError(
            ENV_DEFAULT_PROJECT, f"{project_id!r} is not a project id", f"to one ({exc.message})"
        ) from None


def _check_seconds(variable: str, seconds: float) -> None:
    if not (math.isfinite(seconds) and seconds > 0):
        raise StackSettingError(
            variable,
            f"must be more than 0 seconds, not {seconds!r}",
            f"to a number such as {_EXAMPLES[variable]}",
        )


def _check_at_least(variable: str, number: int, least: int) -> None:
    if number < least:
        raise StackSettingError(
            variable,
            f"must be {least} or more, not {number!r}",
            f"to a whole number such as {_EXAMPLES[variable]}",
        )

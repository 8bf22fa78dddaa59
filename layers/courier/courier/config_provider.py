"""Reading a project's configuration from SSM Parameter Store, cached per project.

Shaped like Powertools' parameter providers: :class:`ConfigProvider` owns the TTL cache and the
error wrapping in its public :meth:`~ConfigProvider.get`, a backend writes only ``_get``, and
:func:`get_project_config` is the function API over a lazily created default provider, so warm
invocations reuse one client and one cache.

:class:`SsmConfigProvider` reads a project's connection URI, its config and the stack's default
sender URI in one ``GetParameters`` call. It calls boto3 directly: Powertools'
``get_parameters_by_name(raise_on_error=False)`` also makes one call, but it reports an
``InternalServerError`` or ``InvalidKeyId`` as "every parameter missing", which would turn an
SSM outage into a configuration error.

Example
-------
>>> provider = SsmConfigProvider(boto3_client=ssm_client)  # doctest: +SKIP
>>> provider.get("acme").connection_uri.redacted()  # doctest: +SKIP
'smtps://mailer:***@smtp.acme.example:465/'
"""

from __future__ import annotations

import logging
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from courier.config import (
    DEFAULT_FROM_ADDRESS,
    DEFAULT_PREFIX,
    DEFAULT_PROJECT,
    ProjectConfig,
    check_project_id,
    parameter_names,
    parse_project_config,
)
from courier.errors import ConfigError, ConfigUnavailableError, CourierError

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

__all__ = [
    "DEFAULT_MAX_AGE",
    "DEFAULT_PROVIDERS",
    "ENV_DEFAULT_CONNECTION_URI_PARAMETER",
    "ENV_DEFAULT_FROM_ADDRESS",
    "ENV_DEFAULT_PROJECT",
    "ENV_MAX_AGE",
    "ENV_SSM_PREFIX",
    "SSM_CLIENT_CONFIG",
    "ConfigProvider",
    "SsmConfigProvider",
    "describe_boto_error",
    "get_project_config",
    "read_parameters",
]

ENV_SSM_PREFIX = "COURIER_SSM_PREFIX"
ENV_DEFAULT_PROJECT = "COURIER_DEFAULT_PROJECT"
ENV_DEFAULT_CONNECTION_URI_PARAMETER = "COURIER_DEFAULT_CONNECTION_URI_PARAMETER"
ENV_DEFAULT_FROM_ADDRESS = "COURIER_DEFAULT_FROM_ADDRESS"
ENV_MAX_AGE = "POWERTOOLS_PARAMETERS_MAX_AGE"
DEFAULT_MAX_AGE = 60.0
# Enough for every project a warm function serves; beyond it, expired then oldest go first.
_MAX_ENTRIES = 1024

# A hung SSM call must fail well inside the Lambda's timeout; botocore's defaults are 60 s.
SSM_CLIENT_CONFIG = Config(
    connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Entry:
    value: ProjectConfig | ConfigError
    expires_at: float


class ConfigProvider(ABC):
    """Base of configuration backends: a per-project TTL cache and one error contract.

    Parameters
    ----------
    max_age:
        Seconds a project's answer is reused; ``POWERTOOLS_PARAMETERS_MAX_AGE`` or 60 when
        ``None``; 0 turns the cache off.
    clock:
        Monotonic seconds (injectable for tests).

    Notes
    -----
    A :class:`~courier.errors.ConfigError` is an answer too (the stored values are wrong) and is
    cached like a config, so a batch for a broken project costs one read per TTL. A
    :class:`~courier.errors.ConfigUnavailableError` is not cached: the next call tries again.

    Example
    -------
    >>> class Fixed(ConfigProvider):
    ...     def _get(self, project_id: str) -> ProjectConfig:
    ...         return parse_project_config(project_id, config_json=None,
    ...             connection_uri="smtp://mx.example.com/", default_connection_uri=None,
    ...             default_from_address="no-reply@example.com")
    >>> Fixed(max_age=60).get("acme").from_address
    'no-reply@example.com'
    """

    def __init__(
        self, *, max_age: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.max_age = _resolve_max_age(max_age)
        self._clock = clock
        self._store: dict[str, _Entry] = {}

    def get(self, project_id: str, *, force_fetch: bool = False) -> ProjectConfig:
        """The configuration of ``project_id``, from the cache while it is fresh.

        Parameters
        ----------
        project_id:
            The project.
        force_fetch:
            Read the backend even if the cache holds a fresh answer.

        Raises
        ------
        ConfigError
            ``project_id_invalid``, or the stored configuration is wrong (naming the field and
            the fix).
        ConfigUnavailableError
            The backend could not be read; transient.
        """
        check_project_id(project_id)
        now = self._clock()
        entry = self._store.get(project_id)
        if entry is None or force_fetch or now >= entry.expires_at:
            entry = _Entry(self._fetch(project_id), now + self.max_age)
            if self.max_age > 0:
                self._remember(project_id, entry, now)
        if isinstance(entry.value, ConfigError):
            # The same instance is raised on every hit: drop the previous raise's frames.
            raise entry.value.with_traceback(None)
        return entry.value

    def clear_cache(self) -> None:
        """Forget every cached answer."""
        self._store.clear()

    def _remember(self, project_id: str, entry: _Entry, now: float) -> None:
        if project_id not in self._store and len(self._store) >= _MAX_ENTRIES:
            self._store = {key: old for key, old in self._store.items() if old.expires_at > now}
            if len(self._store) >= _MAX_ENTRIES:
                del self._store[next(iter(self._store))]
        self._store[project_id] = entry

    @abstractmethod
    def _get(self, project_id: str) -> ProjectConfig:
        """Read and parse ``project_id``'s configuration from the backend, uncached."""

    def _fetch(self, project_id: str) -> ProjectConfig | ConfigError:
        try:
            return self._get(project_id)
        except ConfigError as exc:
            return exc
        except CourierError:
            raise
        except Exception as exc:
            # The message may quote what was read: give only the kind, and chain the rest.
            raise ConfigUnavailableError(
                f"the configuration of project {project_id!r} could not be read "
                f"({type(exc).__name__})"
            ) from exc


class SsmConfigProvider(ConfigProvider):
    """Projects' configuration from SSM Parameter Store: one ``GetParameters`` per read.

    Every argument left ``None`` comes from the stack's environment (``COURIER_SSM_PREFIX``,
    ``COURIER_DEFAULT_CONNECTION_URI_PARAMETER``, ``COURIER_DEFAULT_FROM_ADDRESS``,
    ``POWERTOOLS_PARAMETERS_MAX_AGE``), then from the built-in defaults. Construction reads no
    parameter.

    Parameters
    ----------
    prefix:
        The SSM path the projects live under (``/courier``).
    default_connection_uri_parameter:
        The SecureString with the stack's own sender URI (``{prefix}/default/smtp/
        connection_uri``); ``""`` means the stack has no default sender.
    default_from_address:
        The From address of mail through the default sender (``no-reply@example.com``).
    default_project:
        The stack's ``DefaultProject`` (``default``): known without parameters of its own; any
        other project without parameters is ``project_unknown``.
    boto3_client:
        The SSM client to use; one with short timeouts is created otherwise.
    boto3_session:
        The session to create the client from, when no client is given.
    max_age, clock:
        See :class:`ConfigProvider`.

    Example
    -------
    >>> provider = SsmConfigProvider(prefix="/mail", boto3_client=ssm_client)  # doctest: +SKIP
    >>> provider.get("acme").uses_default_sender  # doctest: +SKIP
    False
    """

    def __init__(
        self,
        *,
        prefix: str | None = None,
        default_connection_uri_parameter: str | None = None,
        default_from_address: str | None = None,
        default_project: str | None = None,
        boto3_client: SSMClient | None = None,
        boto3_session: boto3.session.Session | None = None,
        max_age: float | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(max_age=max_age, clock=clock)
        self.prefix = _setting(prefix, ENV_SSM_PREFIX, DEFAULT_PREFIX).rstrip("/")
        parameter_names(DEFAULT_PROJECT, prefix=self.prefix)  # raises on a malformed prefix
        self.default_connection_uri_parameter = (
            _setting(
                default_connection_uri_parameter,
                ENV_DEFAULT_CONNECTION_URI_PARAMETER,
                f"{self.prefix}/default/smtp/connection_uri",
            )
            or None
        )
        self.default_from_address = _setting(
            default_from_address, ENV_DEFAULT_FROM_ADDRESS, DEFAULT_FROM_ADDRESS
        )
        self.default_project = _setting(default_project, ENV_DEFAULT_PROJECT, DEFAULT_PROJECT)
        self._client: SSMClient = boto3_client or (boto3_session or boto3.session.Session()).client(
            "ssm", config=SSM_CLIENT_CONFIG
        )

    def _get(self, project_id: str) -> ProjectConfig:
        names = parameter_names(project_id, prefix=self.prefix)
        default = self.default_connection_uri_parameter
        wanted = list(dict.fromkeys(filter(None, (*names, default))))
        values = {name: value for name, (value, _) in read_parameters(self._client, wanted).items()}
        logger.debug(
            "read the configuration of project %s: %s",
            project_id,
            ", ".join(f"{name} {'found' if name in values else 'missing'}" for name in wanted),
        )
        return parse_project_config(
            project_id,
            config_json=values.get(names.config),
            connection_uri=values.get(names.connection_uri),
            default_connection_uri=values.get(default) if default else None,
            default_from_address=self.default_from_address,
            prefix=self.prefix,
            default_connection_uri_parameter=default,
            default_project=self.default_project,
        )


DEFAULT_PROVIDERS: dict[str, ConfigProvider] = {}
"""The providers behind :func:`get_project_config`, created on first use (key ``"ssm"``)."""


def get_project_config(
    project_id: str | None = None, *, force_fetch: bool = False
) -> ProjectConfig:
    """The configuration of ``project_id`` through the default :class:`SsmConfigProvider`.

    Parameters
    ----------
    project_id:
        The project; ``COURIER_DEFAULT_PROJECT`` (or ``default``) when ``None``.
    force_fetch:
        Bypass the cache.

    Raises
    ------
    ConfigError, ConfigUnavailableError
        As :meth:`ConfigProvider.get`.

    Example
    -------
    >>> get_project_config("acme").message_retries  # doctest: +SKIP
    5
    """
    if "ssm" not in DEFAULT_PROVIDERS:
        DEFAULT_PROVIDERS["ssm"] = SsmConfigProvider()
    if project_id is None:
        project_id = os.environ.get(ENV_DEFAULT_PROJECT) or DEFAULT_PROJECT
    return DEFAULT_PROVIDERS["ssm"].get(project_id, force_fetch=force_fetch)


def _setting(argument: str | None, variable: str, default: str) -> str:
    """An argument wins when it is not ``None``; then a non-empty variable; then the default."""
    if argument is not None:
        return argument
    return os.environ.get(variable) or default


def _resolve_max_age(max_age: float | None) -> float:
    if max_age is None:
        raw = os.environ.get(ENV_MAX_AGE, "")
        try:
            max_age = float(raw) if raw.strip() else DEFAULT_MAX_AGE
        except ValueError:
            raise ConfigError(
                ENV_MAX_AGE, "max_age_invalid", f"{raw!r} is not a number of seconds"
            ) from None
    if not max_age >= 0:  # also refuses NaN
        raise ConfigError(ENV_MAX_AGE, "max_age_invalid", "must be 0 or more seconds")
    return max_age


def read_parameters(
    client: SSMClient, names: Sequence[str], *, decrypt: bool = True
) -> dict[str, tuple[str, int]]:
    """``name → (value, version)`` of those of ``names`` that exist, in one GetParameters call.

    ``decrypt`` leaves String parameters as they are, so one call reads a project's SecureString
    and its JSON together. A missing parameter is simply absent from the result.

    Raises
    ------
    ConfigUnavailableError
        SSM could not be read; the message names the parameters, never a value.
    """
    try:
        response = client.get_parameters(Names=list(names), WithDecryption=decrypt)
    except (BotoCoreError, ClientError) as exc:
        raise ConfigUnavailableError(
            f"could not read {', '.join(names)} from SSM: {describe_boto_error(exc)}"
        ) from exc
    return {p["Name"]: (p["Value"], p["Version"]) for p in response["Parameters"]}


def describe_boto_error(exc: BotoCoreError | ClientError) -> str:
    """``Code: Message`` of an AWS error, or the exception's type and text."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"

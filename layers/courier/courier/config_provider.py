"""Reading a project's configuration from SSM Parameter Store, cached per project.

Shaped like Powertools' parameter providers: :class:`ConfigProvider` owns the TTL cache and the
error wrapping in its public :meth:`~ConfigProvider.get`, a backend writes only ``_get``, and
:func:`get_project_config` is the function API over a lazily created default provider, so warm
invocations reuse one client and one cache.

:class:`SsmConfigProvider` reads a project's parameters (connection URI, config, client
certificate and key, token login's settings) and the stack's default sender URI in one
``GetParameters`` call through :class:`courier.ssm.SsmParameters`, and parses them with
:func:`courier.config.parse_project_config`. Its settings come from one
:class:`~courier.stack.StackSettings`, never from the environment.

Example
-------
>>> settings = StackSettings.from_environment()  # doctest: +SKIP
>>> provider = SsmConfigProvider(settings=settings, boto3_client=ssm_client)  # doctest: +SKIP
>>> provider.get("acme").connection_uri.redacted()  # doctest: +SKIP
'smtps://mailer:***@smtp.acme.example:465/'
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from courier.config import DEFAULT_PROJECT, ProjectConfig, check_project_id, parse_project_config
from courier.errors import ConfigError, ConfigUnavailableError, CourierError
from courier.ssm import Parameter, SsmParameters
from courier.stack import DEFAULT_MAX_AGE, ENV_PARAMETERS_MAX_AGE, StackSettings

if TYPE_CHECKING:
    import boto3
    from mypy_boto3_ssm.client import SSMClient

__all__ = [
    "DEFAULT_PROVIDERS",
    "ConfigProvider",
    "SsmConfigProvider",
    "get_project_config",
]

# Enough for every project a warm function serves; beyond it, expired then oldest go first.
_MAX_ENTRIES = 1024


@dataclass(frozen=True)
class _Entry:
    value: ProjectConfig | ConfigError
    expires_at: float


class ConfigProvider(ABC):
    """Base of configuration backends: a per-project TTL cache and one error contract.

    Parameters
    ----------
    max_age:
        Seconds a project's answer is reused (the stack's ``POWERTOOLS_PARAMETERS_MAX_AGE``,
        :attr:`StackSettings.parameters_max_age <courier.stack.StackSettings>`); 0 turns the
        cache off.
    default_project:
        The project :func:`get_project_config` reads when given none.
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
        self,
        *,
        max_age: float = DEFAULT_MAX_AGE,
        default_project: str = DEFAULT_PROJECT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not max_age >= 0:  # also refuses NaN
            raise ConfigError(
                ENV_PARAMETERS_MAX_AGE, "max_age_invalid", "must be 0 or more seconds"
            )
        self.max_age = max_age
        self.default_project = default_project
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

    Construction reads no parameter and no environment variable.

    Parameters
    ----------
    settings:
        The stack's settings: the prefix, the default sender (its parameter and From address),
        the default project (known without parameters of its own; any other project without
        parameters is ``project_unknown``) and the cache's ``parameters_max_age``.
    boto3_client:
        The SSM client to use, or how to make it on first use; one with short timeouts is
        created otherwise (:func:`courier.ssm.ssm_client`).
    boto3_session:
        The session to create the client from, when no client is given.
    clock:
        See :class:`ConfigProvider`.

    Example
    -------
    >>> settings = StackSettings(prefix="/mail")
    >>> provider = SsmConfigProvider(settings=settings, boto3_client=ssm_client)  # doctest: +SKIP
    >>> provider.get("acme").uses_default_sender  # doctest: +SKIP
    False
    """

    def __init__(
        self,
        *,
        settings: StackSettings,
        boto3_client: SSMClient | Callable[[], SSMClient] | None = None,
        boto3_session: boto3.session.Session | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(
            max_age=settings.parameters_max_age,
            default_project=settings.default_project,
            clock=clock,
        )
        self.settings = settings
        self.parameters = SsmParameters(
            settings, boto3_client=boto3_client, boto3_session=boto3_session
        )

    def _get(self, project_id: str) -> ProjectConfig:
        found = self.parameters.read_project(project_id)
        settings = self.settings
        return parse_project_config(
            project_id,
            config_json=_value(found.config),
            connection_uri=_value(found.connection_uri),
            default_connection_uri=_value(found.default_connection_uri),
            default_from_address=settings.default_from_address,
            prefix=settings.prefix,
            default_connection_uri_parameter=settings.default_connection_uri_parameter,
            default_project=settings.default_project,
            # One of the two without the other is passed on: the config rules report it.
            client_cert_pem=_value(found.client_cert),
            client_key_pem=_value(found.client_key),
            oauth2_json=_value(found.oauth2),
            allow_private_hosts=settings.allow_private_hosts,  # https:// templates, tokens
        )


DEFAULT_PROVIDERS: dict[str, ConfigProvider] = {}
"""The providers behind :func:`get_project_config`, created on first use (key ``"ssm"``)."""


def get_project_config(
    project_id: str | None = None, *, force_fetch: bool = False
) -> ProjectConfig:
    """The configuration of ``project_id`` through the default :class:`SsmConfigProvider`.

    The default provider is created on first use, with the stack's settings read then
    (:meth:`StackSettings.from_environment <courier.stack.StackSettings.from_environment>`).

    Parameters
    ----------
    project_id:
        The project; the provider's default project (``COURIER_DEFAULT_PROJECT``) when ``None``.
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
        DEFAULT_PROVIDERS["ssm"] = SsmConfigProvider(settings=StackSettings.from_environment())
    provider = DEFAULT_PROVIDERS["ssm"]
    if project_id is None:
        project_id = provider.default_project
    return provider.get(project_id, force_fetch=force_fetch)


def _value(parameter: Parameter | None) -> str | None:
    return parameter.value if parameter is not None else None

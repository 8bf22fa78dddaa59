"""A project's two SSM parameters, read with their versions and written back.

Reading takes one ``GetParameters`` for the project's connection URI (SecureString), its config
(String) and the stack's default sender URI. Writing is guarded by the versions read: SSM has
no conditional put, so :class:`SsmConfigStore` reads the versions again just before writing and
the validator refuses when they moved (optimistic concurrency; the window left is one round
trip). The URI is always written as a SecureString, and is written first when set and deleted
last when removed, so a half-done apply never leaves a config that needs a URI without one.

Example
-------
>>> store = SsmConfigStore(prefix="/courier", boto3_client=ssm_client)  # doctest: +SKIP
>>> stored = store.read("acme")  # doctest: +SKIP
>>> stored.versions  # doctest: +SKIP
Versions(connection_uri=3, config=7)
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, Literal, Protocol

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from courier.config import DEFAULT_PREFIX, ParameterNames, parameter_names
from courier.config_provider import SSM_CLIENT_CONFIG, describe_boto_error, read_parameters
from courier.errors import CourierError
from courier.validation.types import Versions

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

__all__ = ["KEEP", "ConfigStore", "ConfigWriteError", "Keep", "SsmConfigStore", "StoredConfig"]

logger = logging.getLogger(__name__)


class Keep(Enum):
    """Leave a parameter as it is."""

    KEEP = "keep"


KEEP: Final = Keep.KEEP


class ConfigWriteError(CourierError):
    """A parameter could not be written; the message says which and what was written before."""


@dataclass(frozen=True, kw_only=True)
class StoredConfig:
    """What SSM holds for a project; ``None``: the parameter does not exist."""

    connection_uri: str | None = field(repr=False)
    config_json: str | None
    default_connection_uri: str | None = field(repr=False)
    versions: Versions
    names: ParameterNames


class ConfigStore(Protocol):
    """Where projects' parameters are read and written (SSM; a dict in tests)."""

    def read(self, project_id: str) -> StoredConfig: ...

    def versions(self, project_id: str) -> Versions: ...

    def write(
        self,
        project_id: str,
        *,
        connection_uri: str | Keep | None = KEEP,
        config_json: str | Keep = KEEP,
    ) -> Versions: ...


class SsmConfigStore:
    """Projects' configuration parameters in SSM, for reading with versions and for writing.

    Parameters
    ----------
    prefix:
        The SSM path the projects live under.
    default_connection_uri_parameter:
        The stack's default sender URI (read only); ``None`` when the stack has none.
    boto3_client:
        The SSM client; one with short timeouts is created otherwise.
    """

    def __init__(
        self,
        *,
        prefix: str = DEFAULT_PREFIX,
        default_connection_uri_parameter: str | None = None,
        boto3_client: SSMClient | None = None,
    ) -> None:
        self.prefix = prefix
        self.default_connection_uri_parameter = default_connection_uri_parameter
        self._client: SSMClient = boto3_client or boto3.client("ssm", config=SSM_CLIENT_CONFIG)

    def read(self, project_id: str) -> StoredConfig:
        """Read ``project_id``'s parameters, decrypted, with their versions.

        Raises
        ------
        ConfigUnavailableError
            SSM could not be read (naming the parameters, never a value).
        """
        names = parameter_names(project_id, prefix=self.prefix)
        default = self.default_connection_uri_parameter
        wanted = list(dict.fromkeys(filter(None, (*names, default))))
        found = read_parameters(self._client, wanted)

        def value(name: str | None) -> str | None:
            return found[name][0] if name is not None and name in found else None

        return StoredConfig(
            connection_uri=value(names.connection_uri),
            config_json=value(names.config),
            default_connection_uri=value(default),
            versions=_versions(found, names),
            names=names,
        )

    def versions(self, project_id: str) -> Versions:
        """The current versions of ``project_id``'s parameters (nothing decrypted)."""
        names = parameter_names(project_id, prefix=self.prefix)
        return _versions(read_parameters(self._client, names, decrypt=False), names)

    def write(
        self,
        project_id: str,
        *,
        connection_uri: str | Keep | None = KEEP,
        config_json: str | Keep = KEEP,
    ) -> Versions:
        """Write what changed: the URI as a SecureString (``None`` deletes it), the config.

        Returns
        -------
        Versions
            The versions after writing.

        Raises
        ------
        ConfigWriteError
            A write failed; the message lists what was written before it.
        """
        names = parameter_names(project_id, prefix=self.prefix)
        written: list[str] = []
        if isinstance(connection_uri, str):
            self._put(names.connection_uri, connection_uri, "SecureString", written)
        if isinstance(config_json, str):
            self._put(names.config, config_json, "String", written)
        if connection_uri is None:
            try:
                self._client.delete_parameter(Name=names.connection_uri)
            except self._client.exceptions.ParameterNotFound:
                pass
            except (BotoCoreError, ClientError) as exc:
                raise _write_error(names.connection_uri, exc, written, secret=None) from exc
            written.append(f"deleted {names.connection_uri}")
        logger.info("project %s: %s", project_id, "; ".join(written) or "nothing written")
        return self.versions(project_id)

    def _put(
        self, name: str, value: str, kind: Literal["SecureString", "String"], written: list[str]
    ) -> None:
        try:
            self._client.put_parameter(
                Name=name,
                Value=value,
                Type=kind,
                Overwrite=True,
                # Standard (free) unless the value needs an advanced parameter (over 4 KB).
                Tier="Intelligent-Tiering",
            )
        except (BotoCoreError, ClientError) as exc:
            error = _write_error(name, exc, written, secret=value)
        else:
            written.append(f"wrote {name} ({kind})")
            return
        # Raised outside the except block: AWS's message (kept in __context__ otherwise) may
        # quote the value, the password included.
        raise error


def _versions(found: dict[str, tuple[str, int]], names: ParameterNames) -> Versions:
    return Versions(
        connection_uri=found[names.connection_uri][1] if names.connection_uri in found else None,
        config=found[names.config][1] if names.config in found else None,
    )


def _write_error(
    name: str, exc: BotoCoreError | ClientError, written: list[str], *, secret: str | None
) -> ConfigWriteError:
    reason = describe_boto_error(exc)
    if secret:
        reason = reason.replace(secret, "***")
    before = "; ".join(written) if written else "nothing"
    return ConfigWriteError(f"could not write {name}: {reason} (written before: {before})")

"""A project's SSM parameters for the validator: read with their versions, and written back.

Reading takes one ``GetParameters`` (through :class:`courier.ssm.SsmParameters`, the one SSM
layer) for the project's connection URI (SecureString), its config (String), its client
certificate and key and token login's settings (SecureStrings) and the stack's default sender
URI. Writing is guarded by
the versions read: SSM has no conditional put, so :class:`SsmConfigStore` reads the versions
again just before writing and the validator refuses when they moved (optimistic concurrency;
the window left is one round trip). The URI is always written as a SecureString, and is written
first when set and deleted last when removed, so a half-done apply never leaves a config that
needs a URI without one. The validator writes neither the client certificate, nor its key, nor
the token settings.

Example
-------
>>> store = SsmConfigStore(settings=StackSettings(), boto3_client=ssm_client)  # doctest: +SKIP
>>> stored = store.read("acme")  # doctest: +SKIP
>>> stored.versions  # doctest: +SKIP
Versions(connection_uri=3, config=7)
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Final, Protocol

from courier.config import ParameterNames
from courier.errors import CourierError
from courier.ssm import Parameter, ParameterWriteError, SsmParameters
from courier.validation.types import Versions

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

    from courier.stack import StackSettings

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
    """What SSM holds for a project; ``None``: the parameter does not exist.

    No secret is in ``repr``: the URIs, the client certificate, its key and the token settings
    are left out.
    """

    connection_uri: str | None = field(repr=False)
    config_json: str | None
    default_connection_uri: str | None = field(repr=False)
    versions: Versions
    names: ParameterNames
    client_cert: str | None = field(default=None, repr=False)
    """The PEM client certificate (``{prefix}/P/smtp/client_cert``)."""
    client_key: str | None = field(default=None, repr=False)
    """The PEM private key of :attr:`client_cert` (``{prefix}/P/smtp/client_key``)."""
    oauth2: str | None = field(default=None, repr=False)
    """Token login's settings, JSON (``{prefix}/P/smtp/oauth2``)."""


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
    settings:
        The stack's settings: the prefix, and the default sender URI's parameter (read only).
    boto3_client:
        The SSM client; one with short timeouts is created otherwise
        (:func:`courier.ssm.ssm_client`).
    """

    def __init__(self, *, settings: StackSettings, boto3_client: SSMClient | None = None) -> None:
        self.parameters = SsmParameters(settings, boto3_client=boto3_client)

    def read(self, project_id: str) -> StoredConfig:
        """Read ``project_id``'s parameters, decrypted, with their versions, in one call.

        Raises
        ------
        ConfigUnavailableError
            SSM could not be read (naming the parameters, never a value).
        """
        found = self.parameters.read_project(project_id)
        versions = {p.name: p.version for p in (found.connection_uri, found.config) if p}
        return StoredConfig(
            connection_uri=_value(found.connection_uri),
            config_json=_value(found.config),
            default_connection_uri=_value(found.default_connection_uri),
            client_cert=_value(found.client_cert),
            client_key=_value(found.client_key),
            oauth2=_value(found.oauth2),
            versions=_versions(versions, found.names),
            names=found.names,
        )

    def versions(self, project_id: str) -> Versions:
        """The current versions of ``project_id``'s parameters (nothing decrypted)."""
        return _versions(self.parameters.versions(project_id), self.parameters.names(project_id))

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
        names = self.parameters.names(project_id)
        written: list[str] = []
        try:
            if isinstance(connection_uri, str):
                self.parameters.put(names.connection_uri, connection_uri, secure=True)
                written.append(f"wrote {names.connection_uri} (SecureString)")
            if isinstance(config_json, str):
                self.parameters.put(names.config, config_json, secure=False)
                written.append(f"wrote {names.config} (String)")
            if connection_uri is None:
                self.parameters.delete(names.connection_uri)
                written.append(f"deleted {names.connection_uri}")
        except ParameterWriteError as exc:
            # The SSM layer took the value out of AWS's message and chained nothing that
            # holds it: chaining its error is safe.
            before = "; ".join(written) if written else "nothing"
            raise ConfigWriteError(f"{exc} (written before: {before})") from exc
        logger.info("project %s: %s", project_id, "; ".join(written) or "nothing written")
        return self.versions(project_id)


def _value(parameter: Parameter | None) -> str | None:
    return parameter.value if parameter is not None else None


def _versions(found: Mapping[str, int], names: ParameterNames) -> Versions:
    return Versions(connection_uri=found.get(names.connection_uri), config=found.get(names.config))

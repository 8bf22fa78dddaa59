"""SSM Parameter Store: the one place courier creates an SSM client and reads or writes parameters.

:class:`SsmParameters` knows a project's parameter names (:func:`courier.config.parameter_names`)
and the stack's default sender URI. :meth:`~SsmParameters.read_project` gets all of them in one
``GetParameters`` call, SecureStrings decrypted: the connection URI, the config, the client
certificate and key, token login's settings (``…/smtp/oauth2``), and the default sender URI.
The sender's cached provider (:mod:`courier.config_provider`) and the validator's versioned
store (:mod:`courier.validation.store`) both go through it.

boto3 calls are made directly: Powertools' ``get_parameters_by_name(raise_on_error=False)`` also
makes one call, but it reports an ``InternalServerError`` or ``InvalidKeyId`` as "every parameter
missing", which would turn an SSM outage into a configuration error.

Every boto failure becomes one of courier's errors, naming the parameters and never a value: a
read raises :class:`~courier.errors.ConfigUnavailableError`, a write :class:`ParameterWriteError`.
A parameter that does not exist is ``None``, not an error. Values are kept out of ``repr``.

Example
-------
>>> parameters = SsmParameters(StackSettings(), boto3_client=ssm_client)  # doctest: +SKIP
>>> read = parameters.read_project("acme")  # doctest: +SKIP
>>> read.connection_uri  # doctest: +SKIP
Parameter(name='/courier/acme/smtp/connection_uri', version=3)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Final

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from courier import aws_session
from courier.config import ParameterNames, parameter_names
from courier.errors import ConfigUnavailableError, CourierError
from courier.lazy import made, on_first_use

if TYPE_CHECKING:
    from mypy_boto3_ssm.client import SSMClient

    from courier.stack import StackSettings

__all__ = [
    "MAX_NAMES_PER_CALL",
    "SSM_CLIENT_CONFIG",
    "Parameter",
    "ParameterWriteError",
    "ProjectParameters",
    "SsmParameters",
    "describe_boto_error",
    "get_parameters",
    "ssm_client",
]

# A hung SSM call must fail well inside the Lambda's timeout; botocore's defaults are 60 s.
SSM_CLIENT_CONFIG: Final = Config(
    connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 3}
)
MAX_NAMES_PER_CALL: Final = 10
"""SSM's limit of names in one ``GetParameters`` request."""

logger = logging.getLogger(__name__)


def ssm_client(*, session: boto3.session.Session | None = None) -> SSMClient:
    """A new SSM client with short timeouts: the one place courier makes one.

    The endpoint is boto3's to choose: ``AWS_ENDPOINT_URL`` (or ``AWS_ENDPOINT_URL_SSM``) points
    it at moto in local runs, and ``template.yaml`` declares it empty (AWS's own endpoints).

    Parameters
    ----------
    session:
        The session to create it from (a function shares one among its clients); a new
        :func:`courier.aws_session.session` otherwise.
    """
    return (session or aws_session.session()).client("ssm", config=SSM_CLIENT_CONFIG)


@dataclass(frozen=True)
class Parameter:
    """One parameter as SSM holds it; its value is never in ``repr``."""

    name: str
    value: str = field(repr=False)
    version: int


class ParameterWriteError(CourierError):
    """A parameter could not be written or deleted; the message names it, never its value.

    Attributes
    ----------
    name:
        The parameter.
    reason:
        AWS's answer, with the value that was being written taken out.
    """

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"could not write {name}: {reason}")
        self.name = name
        self.reason = reason


@dataclass(frozen=True, kw_only=True)
class ProjectParameters:
    """What SSM holds for one project, and the stack's default sender URI.

    ``None``: the parameter does not exist (or, for :attr:`default_connection_uri`, the stack
    has no default sender).
    """

    names: ParameterNames
    connection_uri: Parameter | None
    config: Parameter | None
    client_cert: Parameter | None
    client_key: Parameter | None
    oauth2: Parameter | None
    default_connection_uri: Parameter | None


class SsmParameters:
    """The stack's parameters in SSM: a project's, read in one call, and written one by one.

    Construction reads nothing.

    Parameters
    ----------
    settings:
        The stack's settings: ``prefix`` and ``default_connection_uri_parameter`` are used.
    boto3_client:
        The SSM client to use, or how to make it on first use; :func:`ssm_client` makes one
        otherwise.
    boto3_session:
        The session to make it from, when no client is given.
    """

    def __init__(
        self,
        settings: StackSettings,
        *,
        boto3_client: SSMClient | Callable[[], SSMClient] | None = None,
        boto3_session: boto3.session.Session | None = None,
    ) -> None:
        self.prefix = settings.prefix
        self.default_connection_uri_parameter = settings.default_connection_uri_parameter

        def made_here() -> SSMClient:
            return ssm_client(session=boto3_session)

        self._made_client = on_first_use(boto3_client or made_here)

    @property
    def client(self) -> SSMClient:
        return self._made_client()

    def names(self, project_id: str) -> ParameterNames:
        """``project_id``'s parameter names (raises ``project_id_invalid`` for a bad id)."""
        return parameter_names(project_id, prefix=self.prefix)

    def read_project(self, project_id: str) -> ProjectParameters:
        """Read ``project_id``'s parameters and the default sender URI in one call, decrypted.

        Raises
        ------
        ConfigError
            ``project_id_invalid``.
        ConfigUnavailableError
            SSM could not be read; the message names the parameters, never a value.
        """
        names = self.names(project_id)
        default = self.default_connection_uri_parameter
        found = get_parameters(self._made_client, [*names, *([default] if default else [])])
        return ProjectParameters(
            names=names,
            connection_uri=found.get(names.connection_uri),
            config=found.get(names.config),
            client_cert=found.get(names.client_cert),
            client_key=found.get(names.client_key),
            oauth2=found.get(names.oauth2),
            default_connection_uri=found.get(default) if default else None,
        )

    def versions(self, project_id: str) -> dict[str, int]:
        """``name → version`` of those of ``project_id``'s parameters that exist; nothing is
        decrypted.

        Raises
        ------
        ConfigUnavailableError
            SSM could not be read.
        """
        found = get_parameters(self._made_client, self.names(project_id), decrypt=False)
        return {name: parameter.version for name, parameter in found.items()}

    def put(self, name: str, value: str, *, secure: bool) -> None:
        """Write ``value`` to ``name`` (a SecureString when ``secure``), overwriting it.

        Raises
        ------
        ParameterWriteError
            SSM refused; AWS's message is given with ``value`` taken out, and nothing is chained
            (botocore's exception may quote the value).
        """
        try:
            self.client.put_parameter(
                Name=name,
                Value=value,
                Type="SecureString" if secure else "String",
                Overwrite=True,
                # Standard (free) unless the value needs an advanced parameter (over 4 KB).
                Tier="Intelligent-Tiering",
            )
        except (BotoCoreError, ClientError) as exc:
            error = ParameterWriteError(name, describe_boto_error(exc).replace(value, "***"))
        else:
            return
        # Raised outside the except block, so that it carries no __context__.
        raise error

    def delete(self, name: str) -> bool:
        """Delete ``name``; ``False`` when it did not exist.

        Raises
        ------
        ParameterWriteError
            SSM refused.
        """
        try:
            client = self.client  # made on first use: BotoCoreError when it cannot be
            client.delete_parameter(Name=name)
        except ClientError as exc:  # from SSM, so the client was made
            if isinstance(exc, client.exceptions.ParameterNotFound):
                return False
            raise ParameterWriteError(name, describe_boto_error(exc)) from exc
        except BotoCoreError as exc:
            raise ParameterWriteError(name, describe_boto_error(exc)) from exc
        return True


def get_parameters(
    client: SSMClient | Callable[[], SSMClient], names: Iterable[str], *, decrypt: bool = True
) -> dict[str, Parameter]:
    """Those of ``names`` that exist, by name, in one ``GetParameters`` call per ten names.

    ``client`` may be how to make the client (on first use): a client that cannot be made is
    SSM that cannot be read.

    ``decrypt`` leaves String parameters as they are, so one call reads a project's
    SecureStrings and its JSON together. A missing parameter is simply absent from the result.

    Raises
    ------
    ConfigUnavailableError
        SSM could not be read; the message names the parameters, never a value.
    """
    wanted = list(dict.fromkeys(names))
    found: dict[str, Parameter] = {}
    for chunk in _chunks(wanted, MAX_NAMES_PER_CALL):
        try:
            response = made(client).get_parameters(Names=chunk, WithDecryption=decrypt)
        except (BotoCoreError, ClientError) as exc:
            raise ConfigUnavailableError(
                f"could not read {', '.join(wanted)} from SSM: {describe_boto_error(exc)}"
            ) from exc
        for item in response["Parameters"]:
            found[item["Name"]] = Parameter(item["Name"], item["Value"], item["Version"])
    logger.debug(
        "read %s", ", ".join(f"{name} {'found' if name in found else 'missing'}" for name in wanted)
    )
    return found


def describe_boto_error(exc: BotoCoreError | ClientError) -> str:
    """``Code: Message`` of an AWS error, or the exception's type and text.

    Example
    -------
    >>> error = {"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}
    >>> describe_boto_error(ClientError(error, "GetParameters"))
    'ThrottlingException: Rate exceeded'
    """
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    return f"{type(exc).__name__}: {exc}"


def _chunks(items: Sequence[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield list(items[start : start + size])

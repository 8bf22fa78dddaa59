"""The ``--env-vars`` file ``up`` writes for the real ``sam local invoke`` (Docker).

``python -m local up`` keeps its AWS (moto) and SMTP servers running; ``sam local invoke`` runs
a function in a container, which needs to be told where they are. The file is in SAM's
``--env-vars`` format, one object per function of the template::

    {"SenderFunction": {"AWS_ENDPOINT_URL": "http://host.docker.internal:40775", ...},
     "ConfigValidatorFunction": {...}}

Each object holds:

- ``AWS_ENDPOINT_URL``, fake keys (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``) and the
  region (``AWS_REGION``, ``AWS_DEFAULT_REGION``);
- every ``COURIER_*`` variable the function declares whose value under ``up`` differs from what
  ``sam local invoke`` gives by itself (the DLQ's URL, ``COURIER_ALLOW_PRIVATE_SMTP_HOSTS``, a
  ``--retry-backoff``, ``up``'s own ``--env-vars`` and ``--parameter-overrides``), and always the
  DLQ URL and the idempotency table's name.

A container does not reach the host as ``127.0.0.1``: URLs name the host
``host.docker.internal`` instead (Docker Desktop; on Linux, ``sam local invoke --add-host
host.docker.internal:host-gateway``).

SAM applies only the variables a function declares in the template's ``Environment`` (its
``EnvironmentVariables.resolve``): the ``COURIER_*`` entries always take effect, the ``AWS_*``
ones only where the template declares them. SAM passes its own shell's keys and ``--region``
instead, so the command line :func:`sam_invoke_command` gives sets those.

Example
-------
>>> document = sam_env_vars(TEMPLATE, endpoint_url="http://127.0.0.1:40775",
...                         region="us-east-1", resource_values=values)  # doctest: +SKIP
>>> document["SenderFunction"]["AWS_ENDPOINT_URL"]  # doctest: +SKIP
'http://host.docker.internal:40775'
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

from local.template import FAKE_CREDENTIALS, function_ids, resolve_function

__all__ = [
    "ALWAYS",
    "DOCKER_HOST",
    "SAM_ENV_FILE",
    "ignored_by_sam",
    "sam_env_vars",
    "sam_invoke_command",
    "write_sam_env_vars",
]

SAM_ENV_FILE = "sam-env-vars.json"
"""The file's name in ``up``'s workdir."""

DOCKER_HOST = "host.docker.internal"
"""The name a container reaches the host by (Docker Desktop; ``host-gateway`` on Linux)."""

ALWAYS = ("COURIER_DLQ_URL", "COURIER_IDEMPOTENCY_TABLE")
"""The stack's resources: in the file even where their value happens to be SAM's own."""


def sam_env_vars(
    template: Path,
    *,
    endpoint_url: str,
    region: str,
    resource_values: Mapping[str, Mapping[str, str]],
    parameter_overrides: Mapping[str, str] | None = None,
    env_vars: Mapping[str, Mapping[str, str]] | None = None,
    extra_env: Mapping[str, str] | None = None,
    docker_host: str = DOCKER_HOST,
) -> dict[str, dict[str, str]]:
    """The ``--env-vars`` document that points each function of ``template`` at ``up``.

    Parameters
    ----------
    template:
        The template ``up`` runs.
    endpoint_url:
        The embedded AWS's endpoint on loopback (``http://127.0.0.1:PORT``).
    region:
        The functions' region.
    resource_values:
        What ``Ref`` and ``Fn::GetAtt`` of the local resources give.
    parameter_overrides, env_vars:
        ``up``'s template parameters (the local ones included) and its ``--env-vars``.
    extra_env:
        Variables ``up`` gives every function on top (e.g. a short retry backoff); only the
        ones a function declares are kept.
    docker_host:
        The host's name inside a container, put in place of the endpoint's host.

    Returns
    -------
    dict
        ``{logical_id: {name: value}}``, every value a string.
    """
    endpoint = urlsplit(endpoint_url)
    container_endpoint = endpoint._replace(netloc=f"{docker_host}:{endpoint.port}").geturl()
    document: dict[str, dict[str, str]] = {}
    for logical_id in function_ids(template, parameter_overrides=parameter_overrides):
        local = resolve_function(
            template,
            logical_id,
            parameter_overrides=parameter_overrides,
            resource_values=resource_values,
            env_vars=env_vars,
            region=region,
        ).environment
        own = resolve_function(template, logical_id, region=region).environment
        effective = {
            **local,
            **{name: value for name, value in (extra_env or {}).items() if name in local},
        }
        courier = {
            name: value.replace(endpoint_url, container_endpoint)
            for name, value in sorted(effective.items())
            if name.startswith("COURIER_") and (name in ALWAYS or own.get(name) != value)
        }
        document[logical_id] = {
            "AWS_ENDPOINT_URL": container_endpoint,
            "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["key"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["secret"],
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            **courier,
        }
    return document


def ignored_by_sam(
    template: Path,
    document: Mapping[str, Mapping[str, str]],
    *,
    parameter_overrides: Mapping[str, str] | None = None,
) -> dict[str, tuple[str, ...]]:
    """The names of ``document`` that ``sam local invoke`` ignores: those a function does not
    declare in the template (by function; functions with none left out)."""
    ignored = {}
    for logical_id in document:
        if logical_id == "Parameters":
            continue
        spec = resolve_function(
            template, logical_id, parameter_overrides=parameter_overrides, env_vars=document
        )
        if spec.ignored_overrides:
            ignored[logical_id] = spec.ignored_overrides
    return ignored


def write_sam_env_vars(path: Path, document: Mapping[str, Mapping[str, str]]) -> Path:
    """Write ``document`` as JSON to ``path``; return its absolute path."""
    path = path.resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


def sam_invoke_command(
    env_file: Path,
    *,
    region: str,
    function: str = "SenderFunction",
    event: str = "events/sender/recovery-code.json",
    template: Path | None = None,
    docker_host: str = DOCKER_HOST,
) -> str:
    """The ``sam local invoke`` command line that uses ``env_file``, ready to paste.

    It sets the fake keys in SAM's own environment and passes ``--region``: SAM hands the
    function its shell's credentials and region, whatever the file says.

    Parameters
    ----------
    env_file:
        The file :func:`write_sam_env_vars` wrote.
    region:
        The functions' region.
    function, event:
        What to invoke, with which event file.
    template:
        ``-t``, when ``up`` runs another template than the one SAM picks by itself.
    docker_host:
        The name :func:`sam_env_vars` used, mapped to the host for Linux's Docker.
    """
    words = [
        f"AWS_ACCESS_KEY_ID={FAKE_CREDENTIALS['key']}",
        f"AWS_SECRET_ACCESS_KEY={FAKE_CREDENTIALS['secret']}",
        "sam",
        "local",
        "invoke",
        function,
        *(["-t", str(template)] if template is not None else []),
        "--region",
        region,
        "--add-host",
        f"{docker_host}:host-gateway",
        "--env-vars",
        str(env_file),
        "-e",
        event,
    ]
    return shlex.join(words)

"""A function of ``template.yaml``, resolved the way ``sam local invoke`` resolves it.

The SAM CLI's own providers do the work: :class:`SamLocalStackProvider` applies the SAM
transform, ``Globals`` and the parameters; :class:`SamFunctionProvider` finds the function and
its layers; :class:`LocalLambdaRunner` builds the invoke configuration (code path, layers,
timeout, memory) and the environment, with SAM's precedence: ``--env-vars`` (function entry,
then ``Parameters``) over the shell's value of a declared variable over the template's value,
unresolvable values left empty. Only what would need Docker is left out.

Two things differ from a deployed stack, as with ``sam local invoke``: ``Ref`` to a resource
gives the value in ``resource_values`` (the local resources' URLs and names) or else the logical
ID; and the credentials are fake ones for the local endpoint, never the caller's.

Example
-------
>>> spec = resolve_function(TEMPLATE, "SenderFunction",
...                         parameter_overrides={"AllowPrivateSmtpHosts": "true"})  # doctest: +SKIP
>>> spec.handler, spec.timeout_seconds  # doctest: +SKIP
('app.lambda_handler', 60)
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from local.stack import TEMPLATE, load_template

__all__ = [
    "FAKE_CREDENTIALS",
    "FunctionSpec",
    "SqsEventSource",
    "TemplateError",
    "default_template",
    "function_ids",
    "load_env_vars",
    "parse_parameter_overrides",
    "resolve_function",
    "sqs_event_source",
]

FAKE_CREDENTIALS = {"key": "testing", "secret": "testing"}
"""What the function gets as its AWS keys: the local endpoint accepts any."""


class TemplateError(Exception):
    """The template, a function name, an ``--env-vars`` file or an override is unusable."""


@dataclass(frozen=True, kw_only=True)
class FunctionSpec:
    """Everything needed to run one function locally.

    Attributes
    ----------
    environment:
        The function's environment as ``sam local invoke`` gives it: the runtime's ``AWS_*``
        variables and the template's ``Environment``, every value a string.
    layer_dirs:
        The folders that stand for ``/opt/python``: a built layer's ``python/`` folder, or a
        source layer's ``ContentUri`` (which holds the package at its top).
    """

    logical_id: str
    template: Path
    runtime: str
    handler: str
    code_dir: Path
    layer_dirs: tuple[Path, ...]
    memory_mb: int
    timeout_seconds: int
    architecture: str
    environment: Mapping[str, str] = field(default_factory=dict)
    ignored_overrides: tuple[str, ...] = ()
    """``--env-vars`` names the template does not declare (SAM ignores them too)."""


@dataclass(frozen=True, kw_only=True)
class SqsEventSource:
    """An ``SQS`` event of a function: what the event source mapping needs."""

    queue: str
    """The queue's logical ID."""
    batch_size: int = 10
    batching_window_seconds: int = 0
    report_batch_item_failures: bool = False
    maximum_concurrency: int = 1000


def default_template(root: Path = TEMPLATE.parent) -> Path:
    """The template ``sam local invoke`` picks: the built one when ``sam build`` made it."""
    built = root / ".aws-sam" / "build" / "template.yaml"
    return built if built.is_file() else root / "template.yaml"


def parse_parameter_overrides(values: Iterable[str]) -> dict[str, str]:
    """``--parameter-overrides`` in SAM's syntax (``K=V`` or ``ParameterKey=K,ParameterValue=V``,
    several per string)."""
    from samcli.cli.types import CfnParameterOverridesType  # type: ignore[import-untyped]

    values = tuple(values)
    if not values:
        return {}
    try:
        parsed = CfnParameterOverridesType().convert(values, None, None)
    except Exception as exc:
        raise TemplateError(f"bad --parameter-overrides {' '.join(values)!r}: {exc}") from exc
    return {str(key): str(value) for key, value in parsed.items()}


def load_env_vars(path: Path | None) -> dict[str, dict[str, str]]:
    """An ``--env-vars`` file: ``{"FunctionLogicalId": {...}, "Parameters": {...}}``."""
    if path is None:
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TemplateError(f"cannot read --env-vars {path}: {exc}") from exc
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise TemplateError(
            f'--env-vars {path}: expected {{"FunctionLogicalId": {{...}}, "Parameters": {{...}}}}'
        )
    return data


def function_ids(
    template: Path, *, parameter_overrides: Mapping[str, Any] | None = None
) -> list[str]:
    """The logical IDs of the template's functions."""
    provider = _function_provider(template, dict(parameter_overrides or {}))
    return sorted(function.name for function in provider.get_all())


def resolve_function(
    template: Path,
    logical_id: str,
    *,
    parameter_overrides: Mapping[str, str] | None = None,
    resource_values: Mapping[str, Mapping[str, str]] | None = None,
    env_vars: Mapping[str, Mapping[str, str]] | None = None,
    region: str = "us-east-1",
) -> FunctionSpec:
    """Resolve ``logical_id`` of ``template`` as ``sam local invoke`` does.

    Parameters
    ----------
    template:
        The source ``template.yaml`` or the built ``.aws-sam/build/template.yaml``.
    parameter_overrides:
        Values of the template's parameters.
    resource_values:
        What ``Ref`` and ``Fn::GetAtt`` of a resource give: ``{logical_id: {"Ref": ..., "Arn":
        ...}}``.
    env_vars:
        The ``--env-vars`` file's content.
    region:
        The function's ``AWS_REGION``.

    Raises
    ------
    TemplateError
        Unknown function, a layer that is not in the template, an image function.
    """
    from samcli.commands.local.lib.local_lambda import (  # type: ignore[import-untyped]
        LocalLambdaRunner,
    )

    template = template.resolve()
    overrides: dict[str, Any] = {**(resource_values or {}), **(parameter_overrides or {})}
    provider = _function_provider(template, overrides)
    function = provider.get(logical_id)
    if function is None:
        known = ", ".join(sorted(f.name for f in provider.get_all())) or "none"
        raise TemplateError(f"Function {logical_id} not found in template (functions: {known})")
    if function.packagetype != "Zip" or not function.handler:
        raise TemplateError(f"{logical_id} is not a Zip function with a Handler")

    class _Runner(LocalLambdaRunner):  # type: ignore[misc]
        def get_aws_creds(self) -> dict[str, str]:
            # Never the caller's own credentials: the function talks to the local endpoint.
            return {"region": region, **FAKE_CREDENTIALS}

    runner = _Runner(
        None, provider, str(template.parent), str(template.parent), env_vars_values=env_vars
    )
    config = runner.get_invoke_config(function)
    declared = set((function.environment or {}).get("Variables", {}))
    requested: set[str] = set()
    for key in (logical_id, "Parameters"):
        requested |= set((env_vars or {}).get(key, {}))
    return FunctionSpec(
        logical_id=logical_id,
        template=template,
        runtime=str(config.runtime),
        handler=str(config.handler),
        code_dir=Path(config.code_abs_path),
        layer_dirs=tuple(_layer_dir(layer, template) for layer in config.layers),
        memory_mb=int(config.memory),
        timeout_seconds=int(config.timeout),
        architecture=str(config.architecture),
        environment=dict(config.env_vars.resolve()),
        ignored_overrides=tuple(sorted(requested - declared)),
    )


def sqs_event_source(
    template: Path, logical_id: str, *, parameter_overrides: Mapping[str, str] | None = None
) -> SqsEventSource | None:
    """The function's SQS event, if it has one.

    The queue is read from the template itself (SAM CLI's providers resolve ``Fn::GetAtt Queue.Arn``
    to a Lambda ARN); batch size, window and response types from the resolved function.
    """
    raw = load_template(template)["Resources"][logical_id]["Properties"].get("Events", {})
    provider = _function_provider(template.resolve(), dict(parameter_overrides or {}))
    function = provider.get(logical_id)
    resolved = (function.events if function is not None else None) or {}
    for name, event in raw.items():
        if event.get("Type") != "SQS":
            continue
        queue = event["Properties"]["Queue"]
        queue_id = queue["Fn::GetAtt"][0] if isinstance(queue, dict) else str(queue)
        properties = resolved.get(name, {}).get("Properties", {})
        return SqsEventSource(
            queue=queue_id.split(".")[0],
            batch_size=int(properties.get("BatchSize", 10)),
            batching_window_seconds=int(properties.get("MaximumBatchingWindowInSeconds", 0)),
            report_batch_item_failures="ReportBatchItemFailures"
            in properties.get("FunctionResponseTypes", []),
            maximum_concurrency=int(
                properties.get("ScalingConfig", {}).get("MaximumConcurrency", 1000)
            ),
        )
    return None


def _function_provider(template: Path, overrides: dict[str, Any]) -> Any:
    from samcli.lib.providers.sam_function_provider import (  # type: ignore[import-untyped]
        SamFunctionProvider,
    )
    from samcli.lib.providers.sam_stack_provider import (  # type: ignore[import-untyped]
        SamLocalStackProvider,
    )

    if not template.is_file():
        raise TemplateError(f"template not found: {template}")
    try:
        with warnings.catch_warnings():
            # The SAM CLI's own dependencies' deprecations, not ours.
            warnings.simplefilter("ignore", DeprecationWarning)
            stacks, _ = SamLocalStackProvider.get_stacks(
                str(template), parameter_overrides=overrides
            )
            return SamFunctionProvider(stacks, ignore_code_extraction_warnings=True)
    except Exception as exc:
        raise TemplateError(f"{template}: {exc}") from exc


def _layer_dir(layer: Any, template: Path) -> Path:
    """Where a layer's Python code is: ``python/`` when built, else the ``ContentUri`` itself."""
    if not layer.is_defined_within_template or not layer.codeuri:
        raise TemplateError(
            f"layer {layer.arn} is not defined in {template.name}: only local layers run here"
        )
    content = Path(layer.codeuri)
    content = content if content.is_absolute() else template.parent / content
    built = content / "python"
    return built if built.is_dir() else content

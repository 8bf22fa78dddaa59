"""The sender's environment as the Lambda runtime gives it, for a fresh interpreter.

Read from ``template.yaml`` (the function's variables, memory, the layer on the path), so the
benchmark imports the handler with exactly what a deployed stack sets: tracing on (``Tracing:
Active`` and ``LAMBDA_TASK_ROOT`` make Powertools load the X-Ray SDK and patch botocore), the
log level, the idempotency table. ``Ref`` to a parameter gives its default, ``Ref`` to a
resource the name :mod:`local.stack` gives it in moto. Credentials are fake and no AWS config
file is read, as in Lambda.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from local.stack import TEMPLATE, load_template

__all__ = ["FUNCTION", "REGION", "ROOT", "handler_module", "lambda_environment", "queue_url"]

ROOT = TEMPLATE.parent
FUNCTION = "SenderFunction"
REGION = "us-east-1"
_ACCOUNT = "123456789012"  # moto's


def queue_url(name: str, *, region: str = REGION) -> str:
    """The URL moto gives queue ``name``."""
    return f"https://sqs.{region}.amazonaws.com/{_ACCOUNT}/{name}"


def handler_module() -> str:
    """The module of the sender's ``Handler`` (``app`` of ``app.lambda_handler``)."""
    handler: str = load_template()["Resources"][FUNCTION]["Properties"]["Handler"]
    return handler.rpartition(".")[0]


def lambda_environment(*, region: str = REGION) -> dict[str, str]:
    """Everything the sender's process sees in Lambda, with the code and layer on the path."""
    template = load_template()
    function = template["Resources"][FUNCTION]["Properties"]
    code = ROOT / function["CodeUri"]
    variables = function.get("Environment", {}).get("Variables", {})
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        # /var/task and /opt/python
        "PYTHONPATH": os.pathsep.join(str(path) for path in (code, _layer_dir(template))),
        "LAMBDA_TASK_ROOT": str(code),
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{template['Globals']['Function']['Runtime']}",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.get("MemorySize", 128)),
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
    }
    for name, value in variables.items():
        environment[name] = _resolve(value, template, region=region)
    return environment


def _layer_dir(template: dict[str, Any]) -> Path:
    layers = [
        resource["Properties"]
        for resource in template["Resources"].values()
        if resource["Type"] == "AWS::Serverless::LayerVersion"
    ]
    if len(layers) != 1:
        raise ValueError(f"expected one layer in {TEMPLATE.name}, found {len(layers)}")
    return ROOT / str(layers[0]["ContentUri"])


def _resolve(value: Any, template: dict[str, Any], *, region: str) -> str:
    if not isinstance(value, dict):
        return str(value)
    if set(value) != {"Ref"}:
        raise ValueError(f"cannot resolve {value!r} in {TEMPLATE.name}")
    name = value["Ref"]
    if name in template.get("Parameters", {}):
        return str(template["Parameters"][name]["Default"])
    resource = template["Resources"][name]
    if resource["Type"] == "AWS::SQS::Queue":
        return queue_url(name, region=region)
    return str(name)  # local.stack names every resource after its logical ID

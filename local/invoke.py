"""Invoking a resolved function in a child process, as ``sam local invoke`` does in a container.

The child (:mod:`local._runtime`) gets a Lambda-like environment and nothing of the caller's:
the template's variables as resolved by :func:`local.template.resolve_function`, the runtime's
own (``LAMBDA_TASK_ROOT``, ``_HANDLER``, ``AWS_EXECUTION_ENV``, ``TZ``), ``PYTHONPATH`` = the
code folder then the layers (``/opt/python``), and AWS config files pointed at nothing, so the
only endpoint and keys are the ones given.

Example
-------
>>> result = invoke(spec, '{"Records": []}', extra_env={"AWS_ENDPOINT_URL": url})  # doctest: +SKIP
>>> result.payload, result.exit_code  # doctest: +SKIP
({'batchItemFailures': []}, 0)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.template import FunctionSpec

__all__ = ["INIT_GRACE_SECONDS", "InvokeResult", "invoke", "runtime_environment"]

INIT_GRACE_SECONDS = 10
"""Time the child may take to start and import the handler (Lambda's init phase limit)."""

_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class InvokeResult:
    """What one invocation gave back.

    Attributes
    ----------
    output:
        The child's stdout: the handler's result as JSON, or the error document.
    logs:
        The function's log (stderr), when captured.
    exit_code:
        0 when the handler returned; 1 on an unhandled exception, an import error or the timeout.
    """

    output: str
    logs: str
    exit_code: int

    @property
    def payload(self) -> Any:
        """The result (or error document) as JSON data; ``None`` when there was none."""
        try:
            return json.loads(self.output) if self.output.strip() else None
        except ValueError:
            return None

    @property
    def failed(self) -> bool:
        return self.exit_code != 0

    @property
    def error_type(self) -> str | None:
        """``errorType`` of a failed invocation (``Sandbox.Timedout`` at the timeout)."""
        payload = self.payload
        if self.failed and isinstance(payload, dict):
            return str(payload.get("errorType", "Unknown"))
        return "Runtime.ExitError" if self.failed else None


def runtime_environment(
    spec: FunctionSpec, *, extra_env: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The child's whole environment: the function's, the runtime's, then ``extra_env``."""
    python_path = [str(spec.code_dir)]
    for layer in spec.layer_dirs:
        site = layer / "lib" / spec.runtime / "site-packages"
        python_path += [str(site)] if site.is_dir() else []
        python_path.append(str(layer))
    python_path.append(str(_ROOT))  # for local._runtime only: it drops this entry
    environment = {
        "PATH": os.environ.get("PATH", os.defpath),
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        **spec.environment,
        "LAMBDA_TASK_ROOT": str(spec.code_dir),
        "_HANDLER": spec.handler,
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{spec.runtime}",
        "PYTHONPATH": os.pathsep.join(python_path),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_EC2_METADATA_DISABLED": "true",
        # The code folder is read-only in Lambda: leave no __pycache__ in it (or in a build).
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    environment.update(extra_env or {})
    return environment


def invoke(
    spec: FunctionSpec,
    event: str,
    *,
    extra_env: Mapping[str, str] | None = None,
    capture_logs: bool = True,
    python: str = sys.executable,
) -> InvokeResult:
    """Run ``spec``'s handler once on ``event`` (JSON text) in a new process.

    Parameters
    ----------
    spec:
        The resolved function.
    event:
        The event, as the JSON text ``sam local invoke -e`` reads.
    extra_env:
        Variables on top of the function's (the local endpoint, the CA bundle, ...).
    capture_logs:
        Keep the function's log in :attr:`InvokeResult.logs`; ``False`` lets it through to
        this process's stderr as it is written.
    python:
        The interpreter that plays the runtime.
    """
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and module)
        [python, "-m", "local._runtime"],
        cwd=spec.code_dir,
        env=runtime_environment(spec, extra_env=extra_env),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE if capture_logs else None,
        text=True,
        encoding="utf-8",
    )
    try:
        output, logs = child.communicate(event, timeout=spec.timeout_seconds + INIT_GRACE_SECONDS)
    except subprocess.TimeoutExpired:
        child.kill()
        output, logs = child.communicate()
        message = f"Task timed out after {spec.timeout_seconds:.2f} seconds (during init)"
        output = json.dumps({"errorType": "Sandbox.Timedout", "errorMessage": message})
        return InvokeResult(output=output, logs=logs or "", exit_code=1)
    return InvokeResult(output=output, logs=logs or "", exit_code=child.returncode or 0)

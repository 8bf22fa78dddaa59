"""The sender's environment as the Lambda runtime gives it, for a fresh interpreter.

Read from ``template.yaml`` (the function's variables, memory, the layer on the path), so the
benchmark imports the handler with exactly what a deployed stack sets: tracing on (``Tracing:
Active`` and ``LAMBDA_TASK_ROOT`` make Powertools load the X-Ray SDK and patch botocore), the
log level, the idempotency table. ``Ref`` to a parameter gives its default, ``Ref`` to a
resource the name :mod:`local.stack` gives it in moto. Credentials are fake and no AWS config
file is read, as in Lambda.

:func:`invocation_environment` adds what an invocation of the benchmark needs on top: the AWS
endpoints, the full trust store (:func:`trust_store`: the system's bundle plus the benchmark's
throwaway CA, so the handler loads as many roots as in Lambda), loopback SMTP hosts allowed,
and an X-Ray trace id, as during a sampled invocation.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from local.stack import TEMPLATE, load_template

__all__ = [
    "FUNCTION",
    "REGION",
    "ROOT",
    "TrustStore",
    "handler_module",
    "invocation_environment",
    "lambda_environment",
    "queue_url",
    "trust_store",
]

ROOT = TEMPLATE.parent
FUNCTION = "SenderFunction"
REGION = "us-east-1"
_ACCOUNT = "123456789012"  # moto's
_TRACE_ID = "Root=1-6925a0c0-5e1f2a3b4c5d6e7f8a9b0c1d;Parent=53995c3f42cd8ad8;Sampled=1"
_SYSTEM_BUNDLES = ("/etc/ssl/certs/ca-certificates.crt", "/etc/pki/tls/certs/ca-bundle.crt")


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


@dataclass(frozen=True)
class TrustStore:
    """A PEM bundle for ``SSL_CERT_FILE``."""

    path: str
    source: str
    """The system bundle it holds."""
    certificates: int


def trust_store(ca_file: str, directory: Path) -> TrustStore:
    """A bundle of the system's trust store (Debian's or Amazon Linux's file, else OpenSSL's
    default file, else certifi's) with the PEM of ``ca_file`` appended, written to
    ``directory``."""
    candidates = [*_SYSTEM_BUNDLES, ssl.get_default_verify_paths().openssl_cafile]
    source = next((path for path in candidates if path and os.path.isfile(path)), None)
    if source is None:
        import certifi

        source = certifi.where()
    system = Path(source).read_text(encoding="ascii")
    bundle = system.rstrip("\n") + "\n" + Path(ca_file).read_text(encoding="ascii")
    path = directory / "trust-store.pem"
    path.write_text(bundle, encoding="ascii")
    return TrustStore(str(path), source, bundle.count("-----BEGIN CERTIFICATE-----"))


def invocation_environment(
    aws: Mapping[str, str], *, trust: str, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The sender's Lambda environment with ``aws`` (endpoints, credentials, queue URLs), the
    trust store ``trust``, loopback SMTP hosts allowed and a sampled trace; ``extra`` last."""
    return {
        **lambda_environment(),
        **aws,
        "SSL_CERT_FILE": trust,
        "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "true",  # the server is on loopback
        "_X_AMZN_TRACE_ID": _TRACE_ID,  # as during an invocation: traced, sampled
        **(extra or {}),
    }

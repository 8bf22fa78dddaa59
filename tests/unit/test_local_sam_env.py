"""``up`` writes an ``--env-vars`` file that points the real ``sam local invoke`` at it."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

from local.sam_env import (
    SAM_ENV_FILE,
    ignored_by_sam,
    sam_env_vars,
    sam_invoke_command,
    write_sam_env_vars,
)
from local.sandbox import LOCAL_OVERRIDES
from local.template import load_env_vars, resolve_function

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
ENDPOINT = "http://127.0.0.1:40775"
DLQ_URL = f"{ENDPOINT}/123456789012/CourierDeadLetterQueue"
RESOURCES = {
    "CourierQueue": {"Ref": f"{ENDPOINT}/123456789012/CourierQueue"},
    "CourierDeadLetterQueue": {"Ref": DLQ_URL},
    "IdempotencyTable": {"Ref": "IdempotencyTable"},
}
AWS = {
    "AWS_ENDPOINT_URL": "http://host.docker.internal:40775",
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "eu-west-1",
    "AWS_DEFAULT_REGION": "eu-west-1",
}


def test_the_file_has_the_endpoint_keys_region_resources_and_ups_courier_overrides() -> None:
    # GIVEN `up --retry-backoff 1` with its local parameters and an --env-vars of its own
    document = sam_env_vars(
        TEMPLATE,
        endpoint_url=ENDPOINT,
        region="eu-west-1",
        resource_values=RESOURCES,
        parameter_overrides=LOCAL_OVERRIDES,
        env_vars={"SenderFunction": {"COURIER_SMTP_TIMEOUT_SECONDS": "5"}},
        extra_env={"COURIER_RETRY_BACKOFF_BASE_SECONDS": "1"},
    )

    # THEN each function gets the endpoint as a container reaches the host, fake keys, the
    # region, and the COURIER_* values that differ from the template's own, plus the DLQ
    # (its URL on the container's name for the host) and the table
    assert document == {
        "ConfigValidatorFunction": {**AWS, "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "true"},
        "SenderFunction": {
            **AWS,
            "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": "true",
            "COURIER_DLQ_URL": "http://host.docker.internal:40775/123456789012/CourierDeadLetterQueue",
            "COURIER_IDEMPOTENCY_TABLE": "IdempotencyTable",
            "COURIER_RETRY_BACKOFF_BASE_SECONDS": "1",
            "COURIER_SMTP_TIMEOUT_SECONDS": "5",
        },
    }


def test_the_file_is_in_sams_format_and_sam_applies_its_courier_variables(tmp_path: Path) -> None:
    # GIVEN the file `up` writes with its defaults
    document = sam_env_vars(
        TEMPLATE,
        endpoint_url=ENDPOINT,
        region="us-east-1",
        resource_values=RESOURCES,
        parameter_overrides=LOCAL_OVERRIDES,
    )
    path = write_sam_env_vars(tmp_path / SAM_ENV_FILE, document)

    # WHEN SAM's own resolver reads it for the sender, with no parameter overrides
    spec = resolve_function(TEMPLATE, "SenderFunction", env_vars=load_env_vars(path))

    # THEN it is JSON of {function: {name: string}}, and SAM takes every COURIER_* value
    assert path.is_absolute()
    assert json.loads(path.read_text()) == document
    assert spec.environment["COURIER_ALLOW_PRIVATE_SMTP_HOSTS"] == "true"
    assert spec.environment["COURIER_DLQ_URL"] == document["SenderFunction"]["COURIER_DLQ_URL"]
    # ... but not the variables the template does not declare (SAM's rule): the keys and the
    # region come from SAM's shell and --region, the endpoint only if the template declares it
    assert set(ignored_by_sam(TEMPLATE, document)["SenderFunction"]) <= set(AWS)


def test_the_command_line_passes_the_file_the_keys_and_the_region() -> None:
    # GIVEN the file's absolute path
    env_file = Path("/work/out/local") / SAM_ENV_FILE

    # WHEN the command line is made
    command = sam_invoke_command(env_file, region="eu-west-1")

    # THEN it pastes into a shell as SAM's own invoke of the sample event
    assert shlex.split(command) == [
        "AWS_ACCESS_KEY_ID=testing",
        "AWS_SECRET_ACCESS_KEY=testing",
        "sam",
        "local",
        "invoke",
        "SenderFunction",
        "--region",
        "eu-west-1",
        "--add-host",
        "host.docker.internal:host-gateway",
        "--env-vars",
        "/work/out/local/sam-env-vars.json",
        "-e",
        "events/sender/recovery-code.json",
    ]
    assert (ROOT / "events" / "sender" / "recovery-code.json").is_file()

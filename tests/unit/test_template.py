"""Tests of template.yaml, as CloudFormation will see it after the SAM transform.

`sam validate` and `cfn-lint` check the template's shape; these tests check what they cannot:
the wiring that keeps every message on one of the paths delivered, retried or dead-lettered
(docs/design.md §5), the least-privilege policies and the environment the library reads.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode
from samtranslator.translator.transform import transform

from courier.deadline import RESERVE_SECONDS, fits
from courier.stack import StackSettings
from courier.validation.settings import check_stack

TEMPLATE = Path(__file__).resolve().parents[2] / "template.yaml"

SENDER_TIMEOUT_FACTOR = 6  # AWS: queue visibility timeout >= 6 x the function's timeout
MAX_RECEIVE_COUNT = 21  # the most attempts a project may configure: message_retries 20, + 1

SENDER_ENVIRONMENT: dict[str, Any] = {
    "COURIER_SSM_PREFIX": {"Ref": "SsmPrefix"},
    "COURIER_DEFAULT_PROJECT": {"Ref": "DefaultProject"},
    "COURIER_DEFAULT_CONNECTION_URI_PARAMETER": {"Ref": "DefaultConnectionUriParameter"},
    "COURIER_DEFAULT_FROM_ADDRESS": {"Ref": "DefaultFromAddress"},
    "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": {"Ref": "AllowPrivateSmtpHosts"},
    "COURIER_SMTP_TIMEOUT_SECONDS": {"Ref": "SmtpTimeoutSeconds"},
    "COURIER_DLQ_URL": {"Ref": "CourierDeadLetterQueue"},
    "COURIER_IDEMPOTENCY_TABLE": {"Ref": "IdempotencyTable"},
    "COURIER_MAX_RECEIVE_COUNT": str(MAX_RECEIVE_COUNT),
    "COURIER_RETRY_BACKOFF_BASE_SECONDS": "30",
    "POWERTOOLS_SERVICE_NAME": "courier-sender",
    "POWERTOOLS_METRICS_NAMESPACE": "Courier",
    "POWERTOOLS_PARAMETERS_MAX_AGE": "60",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}


class _NoManagedPolicies:
    """Managed-policy loader for the transform: the template names no managed policy by name.

    SAM CLI passes a loader backed by IAM; here a lookup would mean a network call, so it fails.
    """

    def load(self) -> dict[str, str]:
        raise AssertionError("the transform asked IAM for managed policies")


def _load_template() -> dict[str, Any]:
    template, matches = decode(str(TEMPLATE))
    assert not matches, [str(match) for match in matches]
    assert template is not None
    # cfn-lint's nodes carry line marks; plain JSON types are what the SAM translator expects.
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def _with_s3_artifacts(template: dict[str, Any]) -> dict[str, Any]:
    """Point local CodeUri/ContentUri at S3, as `sam package` does before the real transform."""
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = "s3://bucket/function.zip"
        elif resource["Type"] == "AWS::Serverless::LayerVersion":
            resource["Properties"]["ContentUri"] = "s3://bucket/layer.zip"
    return template


@pytest.fixture(scope="module")
def resources() -> dict[str, Any]:
    # GIVEN the template with its artifacts in S3 and a region (the translator builds ARNs)
    template = _with_s3_artifacts(_load_template())
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        mp.delenv("AWS_PROFILE", raising=False)
        # WHEN SAM transforms it into plain CloudFormation
        transformed = transform(template, {}, _NoManagedPolicies())
    resources: dict[str, Any] = transformed["Resources"]
    return resources


def _of_type(resources: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return {name: res for name, res in resources.items() if res["Type"] == resource_type}


def _sender(resources: dict[str, Any]) -> dict[str, Any]:
    sender = resources["SenderFunction"]
    assert sender["Type"] == "AWS::Lambda::Function"
    properties: dict[str, Any] = sender["Properties"]
    return properties


def _sender_event_source(resources: dict[str, Any]) -> dict[str, Any]:
    mappings = [
        res["Properties"]
        for res in _of_type(resources, "AWS::Lambda::EventSourceMapping").values()
        if res["Properties"]["FunctionName"] == {"Ref": "SenderFunction"}
    ]
    assert len(mappings) == 1, mappings
    mapping: dict[str, Any] = mappings[0]
    return mapping


def _sender_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    role_ref = _sender(resources)["Role"]
    assert role_ref == {"Fn::GetAtt": ["SenderFunctionRole", "Arn"]}
    policies = resources["SenderFunctionRole"]["Properties"]["Policies"]
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def _actions(statement: dict[str, Any]) -> list[str]:
    action = statement["Action"]
    return [action] if isinstance(action, str) else list(action)


def test_sender_reports_batch_item_failures(resources: dict[str, Any]) -> None:
    # WHEN the sender's SQS event source mapping is read
    mapping = _sender_event_source(resources)

    # THEN it reads the courier queue and honours partial batch responses (a typo here would
    # make Lambda retry or delete whole batches)
    assert mapping["EventSourceArn"] == {"Fn::GetAtt": ["CourierQueue", "Arn"]}
    assert mapping["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sender_batch_and_concurrency_come_from_stack_parameters(
    resources: dict[str, Any],
) -> None:
    # WHEN the sender's SQS event source mapping is read
    mapping = _sender_event_source(resources)

    # THEN the BatchSize and MaximumConcurrency stack parameters drive it
    assert mapping["BatchSize"] == {"Ref": "BatchSize"}
    assert mapping["ScalingConfig"] == {"MaximumConcurrency": {"Ref": "MaximumConcurrency"}}


def test_queue_visibility_timeout_covers_six_function_timeouts(
    resources: dict[str, Any],
) -> None:
    # WHEN the queue's visibility timeout is compared with the sender's timeout
    visibility_timeout = resources["CourierQueue"]["Properties"]["VisibilityTimeout"]
    function_timeout = _sender(resources)["Timeout"]

    # THEN a message stays invisible while its batch may still be running (and retried)
    assert isinstance(visibility_timeout, int)
    assert isinstance(function_timeout, int)
    assert visibility_timeout >= SENDER_TIMEOUT_FACTOR * function_timeout


def test_the_largest_smtp_timeout_leaves_the_sender_time_to_start_a_message(
    resources: dict[str, Any],
) -> None:
    # GIVEN the SmtpTimeoutSeconds parameter as written, and the sender's timeout
    parameter = _load_template()["Parameters"]["SmtpTimeoutSeconds"]
    largest = parameter["MaxValue"]
    function_timeout = _sender(resources)["Timeout"]

    # THEN its bounds are in order and under the function's timeout
    assert 1 <= parameter["MinValue"] <= parameter["Default"] <= largest <= function_timeout
    # ... even the largest value leaves one whole reply's wait plus the reserve in an invocation
    # that lost its first second to starting up: CloudFormation refuses any value that would
    # have the sender hand back every message until it is dead-lettered out_of_time
    assert fits(remaining_seconds=function_timeout - 1, smtp_timeout=largest)
    # ... the validator, told the same timeout, has nothing to warn about at that value
    settings = StackSettings(smtp_timeout=largest, sender_timeout=function_timeout)
    assert check_stack(settings) == []
    # ... and the refusal states the numbers it is made of
    refusal = parameter["ConstraintDescription"]
    assert f"at most {largest}" in refusal
    assert f"{function_timeout} s" in refusal
    assert f"{RESERVE_SECONDS:g} s" in refusal


def test_queue_redrives_to_dead_letter_queue_after_all_attempts(
    resources: dict[str, Any],
) -> None:
    # WHEN the queue's redrive policy is read
    redrive = resources["CourierQueue"]["Properties"]["RedrivePolicy"]

    # THEN SQS dead-letters only after the most attempts a project can configure (the sender,
    # told the same count, dead-letters earlier with the cause)
    assert redrive == {
        "deadLetterTargetArn": {"Fn::GetAtt": ["CourierDeadLetterQueue", "Arn"]},
        "maxReceiveCount": MAX_RECEIVE_COUNT,
    }


@pytest.mark.parametrize("queue", ["CourierQueue", "CourierDeadLetterQueue"])
def test_queues_are_encrypted_at_rest(resources: dict[str, Any], queue: str) -> None:
    # WHEN a queue's properties are read
    properties = resources[queue]["Properties"]

    # THEN it is an SQS queue with SQS-managed server-side encryption
    assert resources[queue]["Type"] == "AWS::SQS::Queue"
    assert properties["SqsManagedSseEnabled"] is True


def test_sender_runs_with_the_courier_layer(resources: dict[str, Any]) -> None:
    # GIVEN the one layer version the stack builds
    layers = _of_type(resources, "AWS::Lambda::LayerVersion")
    assert len(layers) == 1, layers
    ((layer_name, layer),) = layers.items()
    assert layer_name.startswith("CourierLayer")

    # WHEN the sender's configuration is read
    sender = _sender(resources)

    # THEN the sender uses that layer, and both target python3.13 on arm64
    assert sender["Layers"] == [{"Ref": layer_name}]
    assert sender["Runtime"] == "python3.13"
    assert sender["Architectures"] == ["arm64"]
    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize(("name", "value"), SENDER_ENVIRONMENT.items())
def test_sender_environment_has_what_the_library_reads(
    resources: dict[str, Any], name: str, value: Any
) -> None:
    # WHEN the sender's environment is read
    variables = _sender(resources)["Environment"]["Variables"]

    # THEN the variable is set, to the stack parameter or resource it stands for
    assert name in variables
    assert variables[name] == value


def test_sender_decrypts_with_kms_only_through_ssm(resources: dict[str, Any]) -> None:
    # WHEN the sender's statements that grant a KMS action are collected
    kms_statements = [
        statement
        for statement in _sender_statements(resources)
        if any(action.startswith("kms:") for action in _actions(statement))
    ]

    # THEN there is one, for kms:Decrypt only, and only for calls that SSM makes on its behalf
    assert len(kms_statements) == 1, kms_statements
    (statement,) = kms_statements
    assert statement["Effect"] == "Allow"
    assert _actions(statement) == ["kms:Decrypt"]
    assert statement["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}
    }


def test_sender_reads_only_courier_parameters(resources: dict[str, Any]) -> None:
    # WHEN the sender's statements that grant an SSM action are collected
    ssm_statements = [
        statement
        for statement in _sender_statements(resources)
        if any(action.startswith("ssm:") for action in _actions(statement))
    ]

    # THEN they only read, and only under the prefix and the default sender's parameter
    parameter_arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    assert len(ssm_statements) == 1, ssm_statements
    (statement,) = ssm_statements
    assert sorted(_actions(statement)) == [
        "ssm:GetParameter",
        "ssm:GetParameters",
        "ssm:GetParametersByPath",
    ]
    assert statement["Resource"] == [
        {"Fn::Sub": parameter_arn + "${SsmPrefix}/*"},
        {"Fn::Sub": parameter_arn + "${DefaultConnectionUriParameter}"},
    ]


def test_sender_may_send_to_the_dlq_and_back_off_on_its_queue_only(
    resources: dict[str, Any],
) -> None:
    # WHEN the sender's statements that grant an SQS action are collected
    sqs_statements = [
        statement
        for statement in _sender_statements(resources)
        if any(action.startswith("sqs:") for action in _actions(statement))
    ]

    # THEN one lets it send to the dead-letter queue (and no other queue), and one lets it set
    # the visibility timeout (the retry backoff) on its own queue
    by_action = {tuple(_actions(statement)): statement for statement in sqs_statements}
    assert sorted(by_action) == [("sqs:ChangeMessageVisibility",), ("sqs:SendMessage*",)]
    assert by_action[("sqs:SendMessage*",)]["Resource"]["Fn::Sub"][1] == {
        "queueName": {"Fn::GetAtt": ["CourierDeadLetterQueue", "QueueName"]}
    }
    assert by_action[("sqs:ChangeMessageVisibility",)]["Resource"] == {
        "Fn::GetAtt": ["CourierQueue", "Arn"]
    }


def test_idempotency_table_matches_powertools_defaults(resources: dict[str, Any]) -> None:
    # WHEN the idempotency table is read
    table = resources["IdempotencyTable"]["Properties"]

    # THEN its key and TTL attributes are Powertools' defaults ("id", "expiration")
    assert table["KeySchema"] == [{"AttributeName": "id", "KeyType": "HASH"}]
    assert table["AttributeDefinitions"] == [{"AttributeName": "id", "AttributeType": "S"}]
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expiration", "Enabled": True}
    assert table["SSESpecification"] == {"SSEEnabled": True}


def test_alarm_fires_on_the_first_dead_lettered_message(resources: dict[str, Any]) -> None:
    # WHEN the dead-letter queue alarm is read
    alarm = resources["DeadLetterQueueAlarm"]
    properties = alarm["Properties"]

    # THEN it watches the dead-letter queue's visible messages and fires at one
    assert alarm["Type"] == "AWS::CloudWatch::Alarm"
    assert properties["Namespace"] == "AWS/SQS"
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["CourierDeadLetterQueue", "QueueName"]}}
    ]
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["Threshold"] == 1


def test_alarm_notifies_the_topic_given_and_none_otherwise(resources: dict[str, Any]) -> None:
    # WHEN the alarm's actions are read
    properties = resources["DeadLetterQueueAlarm"]["Properties"]

    # THEN both go to DeadLetterAlarmTopicArn when it is set, and are left out when it is empty
    expected = {
        "Fn::If": [
            "HasDeadLetterAlarmTopic",
            [{"Ref": "DeadLetterAlarmTopicArn"}],
            {"Ref": "AWS::NoValue"},
        ]
    }
    assert properties["AlarmActions"] == properties["OKActions"] == expected


# --- the config validator ------------------------------------------------------------------

VALIDATOR_ROUTES = ("validate", "apply")
# The stack settings the sender reads, read alike (docs/design.md §3), plus its own name.
VALIDATOR_ENVIRONMENT: dict[str, Any] = {
    "COURIER_SSM_PREFIX": {"Ref": "SsmPrefix"},
    "COURIER_DEFAULT_PROJECT": {"Ref": "DefaultProject"},
    "COURIER_DEFAULT_CONNECTION_URI_PARAMETER": {"Ref": "DefaultConnectionUriParameter"},
    "COURIER_DEFAULT_FROM_ADDRESS": {"Ref": "DefaultFromAddress"},
    "COURIER_ALLOW_PRIVATE_SMTP_HOSTS": {"Ref": "AllowPrivateSmtpHosts"},
    "COURIER_SMTP_TIMEOUT_SECONDS": {"Ref": "SmtpTimeoutSeconds"},
    "POWERTOOLS_SERVICE_NAME": "courier-config-validator",
    "POWERTOOLS_LOG_LEVEL": "INFO",
}
HTTP_API_INTEGRATION_LIMIT = 30  # seconds API Gateway waits for a Lambda integration


def _validator(resources: dict[str, Any]) -> dict[str, Any]:
    validator = resources["ConfigValidatorFunction"]
    assert validator["Type"] == "AWS::Lambda::Function"
    properties: dict[str, Any] = validator["Properties"]
    return properties


def _validator_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    assert _validator(resources)["Role"] == {"Fn::GetAtt": ["ConfigValidatorFunctionRole", "Arn"]}
    policies = resources["ConfigValidatorFunctionRole"]["Properties"]["Policies"]
    return [statement for policy in policies for statement in policy["PolicyDocument"]["Statement"]]


def _api_paths(resources: dict[str, Any]) -> dict[str, Any]:
    api = resources["ConfigApi"]
    assert api["Type"] == "AWS::ApiGatewayV2::Api"
    paths: dict[str, Any] = api["Properties"]["Body"]["paths"]
    return paths


@pytest.mark.parametrize("route", VALIDATOR_ROUTES)
def test_config_api_routes_require_iam_and_reach_the_validator(
    resources: dict[str, Any], route: str
) -> None:
    # WHEN the HTTP API's route of the validator is read
    operation = _api_paths(resources)[f"/projects/{{project_id}}/courier/{route}"]["post"]

    # THEN only SigV4-signed (IAM) requests get through, to the validator, with payload 2.0
    assert operation["security"] == [{"AWS_IAM": []}]
    integration = operation["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy"
    assert integration["payloadFormatVersion"] == "2.0"
    assert "${ConfigValidatorFunction.Arn}" in integration["uri"]["Fn::Sub"]


def test_config_api_has_only_the_validator_and_status_routes(resources: dict[str, Any]) -> None:
    # WHEN the HTTP API's paths are listed: THEN there are the two POST routes and the two
    # message status GET routes (tests/unit/test_status.py checks those), and no other
    assert {path: list(methods) for path, methods in _api_paths(resources).items()} == {
        **{f"/projects/{{project_id}}/courier/{route}": ["post"] for route in VALIDATOR_ROUTES},
        "/projects/{project_id}/courier/messages": ["get"],
        "/projects/{project_id}/courier/messages/{message_id}": ["get"],
    }


def test_queues_are_outputs() -> None:
    # GIVEN the template as written
    outputs = _load_template()["Outputs"]

    # THEN producers find the queue, and operators the DLQ to read and to move messages back
    assert {name: outputs[name]["Value"] for name in outputs if "Queue" in name} == {
        "QueueUrl": {"Ref": "CourierQueue"},
        "QueueArn": {"Fn::GetAtt": ["CourierQueue", "Arn"]},
        "DeadLetterQueueUrl": {"Ref": "CourierDeadLetterQueue"},
        "DeadLetterQueueArn": {"Fn::GetAtt": ["CourierDeadLetterQueue", "Arn"]},
    }


def test_config_api_url_is_an_output() -> None:
    # GIVEN the template as written
    outputs = _load_template()["Outputs"]

    # THEN the API's base URL is published
    assert outputs["ConfigApiUrl"]["Value"] == {
        "Fn::Sub": "https://${ConfigApi}.execute-api.${AWS::Region}.${AWS::URLSuffix}/"
    }


def test_validator_runs_with_the_layer_within_the_http_api_limit(
    resources: dict[str, Any],
) -> None:
    # WHEN the validator's configuration is read
    validator, sender = _validator(resources), _sender(resources)

    # THEN it runs on the sender's layer and runtime, and answers before API Gateway gives up
    assert validator["Layers"] == sender["Layers"]
    assert (validator["Runtime"], validator["Architectures"]) == ("python3.13", ["arm64"])
    assert validator["Handler"] == "app.lambda_handler"
    assert validator["Timeout"] < HTTP_API_INTEGRATION_LIMIT


@pytest.mark.parametrize(("name", "value"), VALIDATOR_ENVIRONMENT.items())
def test_validator_environment_matches_the_senders_settings(
    resources: dict[str, Any], name: str, value: Any
) -> None:
    # WHEN the validator's environment is read: THEN it has the stack setting the sender has
    assert _validator(resources)["Environment"]["Variables"][name] == value


def test_validator_is_told_the_senders_timeout(resources: dict[str, Any]) -> None:
    # WHEN the validator's environment is read
    variables = _validator(resources)["Environment"]["Variables"]

    # THEN COURIER_SENDER_TIMEOUT_SECONDS is the sender's Timeout (a literal in the template:
    # keep the two equal), so that its warning about SmtpTimeoutSeconds judges the real one
    assert variables["COURIER_SENDER_TIMEOUT_SECONDS"] == str(_sender(resources)["Timeout"])


def test_validator_writes_only_project_parameters(resources: dict[str, Any]) -> None:
    # WHEN the validator's statements that grant an SSM action are collected
    parameter_arn = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter"
    statements = {
        statement["Sid"]: statement
        for statement in _validator_statements(resources)
        if any(action.startswith("ssm:") for action in _actions(statement))
    }

    # THEN it reads the prefix and the default sender, and writes (or deletes) under the prefix
    assert set(statements) == {"ReadCourierParameters", "WriteProjectParameters"}
    read, write = statements["ReadCourierParameters"], statements["WriteProjectParameters"]
    assert _actions(read) == ["ssm:GetParameters"]
    assert read["Resource"] == [
        {"Fn::Sub": parameter_arn + "${SsmPrefix}/*"},
        {"Fn::Sub": parameter_arn + "${DefaultConnectionUriParameter}"},
    ]
    assert sorted(_actions(write)) == ["ssm:DeleteParameter", "ssm:PutParameter"]
    assert write["Resource"] == [{"Fn::Sub": parameter_arn + "${SsmPrefix}/*"}]


def test_validator_uses_kms_only_through_ssm(resources: dict[str, Any]) -> None:
    # WHEN the validator's statements that grant a KMS action are collected
    kms = [
        statement
        for statement in _validator_statements(resources)
        if any(action.startswith("kms:") for action in _actions(statement))
    ]

    # THEN one lets SSM encrypt and decrypt SecureStrings on its behalf, and nothing else
    assert len(kms) == 1, kms
    assert sorted(_actions(kms[0])) == ["kms:Decrypt", "kms:Encrypt"]
    assert kms[0]["Condition"] == {
        "StringEquals": {"kms:ViaService": {"Fn::Sub": "ssm.${AWS::Region}.amazonaws.com"}}
    }

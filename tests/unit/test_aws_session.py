"""courier.aws_session: clients from the shipped botocore data behave as boto3's own, for every
call courier makes, and the shipped data is what the installed botocore generates."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3.session
import pytest
from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer, IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence import dynamodb as powertools_dynamodb
from botocore import xform_name
from botocore.loaders import Loader

from courier import aws_session
from courier.aws_session import AWS_DATA, OPERATIONS, generate, session
from local.stack import StackResources
from tests.conftest import AWS_ENVIRONMENT

ROOT = Path(__file__).parents[2]
REGENERATE = "make aws-data (cd layers/courier && ../../.venv/bin/python -m courier.aws_session)"
QUEUE_URL = "https://sqs.us-east-1.amazonaws.com/123456789012/CourierQueue"
KEY = {"id": {"S": "acme#m-1"}}

Call = Callable[[StackResources], dict[str, Any]]
CALLS: dict[tuple[str, str], Call] = {
    ("dynamodb", "put_item"): lambda s: {"TableName": s.idempotency_table, "Item": KEY},
    ("dynamodb", "get_item"): lambda s: {"TableName": s.idempotency_table, "Key": KEY},
    ("dynamodb", "update_item"): lambda s: {
        "TableName": s.idempotency_table,
        "Key": KEY,
        "UpdateExpression": "SET #s = :s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":s": {"S": "COMPLETED"}},
    },
    ("dynamodb", "query"): lambda s: {
        "TableName": s.idempotency_table,
        "KeyConditionExpression": "id = :id",
        "ExpressionAttributeValues": {":id": KEY["id"]},
    },
    ("dynamodb", "batch_write_item"): lambda s: {
        "RequestItems": {s.idempotency_table: [{"PutRequest": {"Item": KEY}}]}
    },
    ("dynamodb", "batch_get_item"): lambda s: {
        "RequestItems": {s.idempotency_table: {"Keys": [KEY]}}
    },
    ("dynamodb", "delete_item"): lambda s: {"TableName": s.idempotency_table, "Key": KEY},
    ("ssm", "put_parameter"): lambda s: {
        "Name": "/courier/acme/config",
        "Value": "{}",
        "Type": "String",
        "Overwrite": True,
        "Tier": "Intelligent-Tiering",
    },
    ("ssm", "get_parameters"): lambda s: {
        "Names": ["/courier/acme/config", "/courier/acme/smtp/connection_uri"],
        "WithDecryption": True,
    },
    ("ssm", "delete_parameter"): lambda s: {"Name": "/courier/acme/config"},
    ("sqs", "send_message"): lambda s: {
        "QueueUrl": s.dead_letter_queue_url,
        "MessageBody": "{}",
        "MessageAttributes": {"cause": {"DataType": "String", "StringValue": "smtp"}},
    },
    ("sqs", "change_message_visibility_batch"): lambda s: {
        "QueueUrl": s.queue_url,
        "Entries": [{"Id": "0", "ReceiptHandle": "not-a-handle", "VisibilityTimeout": 30}],
    },
}
"""One valid call of each listed operation, in an order that works (put before get...)."""
FAKE_STACK = StackResources(
    queue_url=QUEUE_URL,
    queue_arn="arn:aws:sqs:us-east-1:123456789012:CourierQueue",
    dead_letter_queue_url=QUEUE_URL.replace("CourierQueue", "CourierDeadLetterQueue"),
    dead_letter_queue_arn="arn:aws:sqs:us-east-1:123456789012:CourierDeadLetterQueue",
    idempotency_table="IdempotencyTable",
    max_receive_count=21,
)


@pytest.fixture
def fake_credentials(monkeypatch: pytest.MonkeyPatch) -> None:
    """The tests' fake credentials and region, and no configuration of this machine's."""
    for name, value in AWS_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    for name in [*os.environ]:
        if name.startswith("AWS_ENDPOINT_URL") or name in ("AWS_PROFILE", "AWS_DATA_PATH"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def test_the_shipped_data_is_what_the_installed_botocore_generates() -> None:
    # GIVEN the files shipped in the layer
    shipped = {
        path.relative_to(AWS_DATA).as_posix(): path.read_bytes()
        for path in Path(AWS_DATA).rglob("*")
        if path.is_file()
    }
    # WHEN they are generated again from the installed botocore
    generated = generate()
    # THEN they are the same files, byte for byte
    assert shipped.keys() == generated.keys(), f"regenerate them: {REGENERATE}"
    stale = [name for name, content in generated.items() if shipped[name] != content]
    assert not stale, f"{', '.join(stale)} differ from botocore's; regenerate them: {REGENERATE}"


def test_the_calls_here_are_the_listed_operations() -> None:
    listed = {(service, method) for service, methods in OPERATIONS.items() for method in methods}
    assert set(CALLS) == listed


@pytest.mark.usefixtures("fake_credentials")
def test_every_listed_operation_is_a_method_and_every_error_a_class() -> None:
    # GIVEN a client of each service, from courier's session and from boto3's
    for service, methods in OPERATIONS.items():
        client = session().client(service)  # type: ignore[call-overload]
        plain = boto3.session.Session().client(service)  # type: ignore[call-overload]
        # THEN courier's has each listed method, and the same exception classes
        assert [method for method in methods if not hasattr(client, method)] == []
        assert client.exceptions._code_to_exception.keys() == (
            plain.exceptions._code_to_exception.keys()
        )


def test_code_calls_no_operation_that_is_not_listed() -> None:
    # GIVEN courier's layer, its functions, and the Powertools idempotency store they use
    sources = [
        *(ROOT / "layers/courier/courier").rglob("*.py"),
        *(ROOT / "functions").glob("*/*.py"),
        Path(powertools_dynamodb.__file__),
    ]
    text = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    # WHEN every attribute that is an operation of a service they make clients of is found
    services = set(re.findall(r"""\.client\(\s*["']([\w-]+)["']""", text)) | set(OPERATIONS)
    botocore_data = Loader()
    unlisted = set()
    for service in services:
        model = botocore_data.load_service_model(service, "service-2")
        methods = {xform_name(name) for name in model["operations"]}
        used = methods & set(re.findall(r"\.(\w+)\b", text))
        unlisted |= {f"{service}.{method}" for method in used - set(OPERATIONS.get(service, ()))}
    # THEN OPERATIONS lists it (an ordinary attribute named as an operation lands here too)
    assert not unlisted, f"add them to courier.aws_session.OPERATIONS, then {REGENERATE}"


def test_each_listed_operation_round_trips_to_moto(stack: StackResources) -> None:
    # GIVEN moto with the stack's tables and queues, and courier's clients
    aws = session()
    clients = {service: aws.client(service) for service in OPERATIONS}  # type: ignore[call-overload]
    # WHEN each listed operation is called THEN moto answers it
    for (service, method), arguments in CALLS.items():
        try:
            answer = getattr(clients[service], method)(**arguments(stack))
        except clients[service].exceptions.ClientError as exc:
            answer = exc.response
        assert answer["ResponseMetadata"]["HTTPStatusCode"] == 200, (service, method, answer)


ENVIRONMENTS = {
    "default": {},
    "another region": {"AWS_DEFAULT_REGION": "eu-central-1"},
    "china": {"AWS_DEFAULT_REGION": "cn-north-1"},
    "govcloud": {"AWS_DEFAULT_REGION": "us-gov-west-1"},
    "european sovereign cloud": {"AWS_DEFAULT_REGION": "eusc-de-east-1"},
    "fips": {"AWS_USE_FIPS_ENDPOINT": "true"},
    "dual stack": {"AWS_USE_DUALSTACK_ENDPOINT": "true", "AWS_DEFAULT_REGION": "ap-south-2"},
    "account id": {"AWS_ACCOUNT_ID": "123456789012"},
    "account id disabled": {
        "AWS_ACCOUNT_ID": "123456789012",
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
    },
    "endpoint url": {"AWS_ENDPOINT_URL": "http://127.0.0.1:5000"},
    "service endpoint url": {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:5000",
        "AWS_ENDPOINT_URL_DYNAMODB": "http://localhost:8000",
    },
    "defaults mode": {"AWS_DEFAULTS_MODE": "standard"},
}


class _Sent(Exception):
    """Not an error: the request, caught before it is sent."""

    def __init__(self, request: Any) -> None:
        super().__init__()
        self.request = request


def _sent(make_session: Callable[[], boto3.session.Session]) -> Iterator[tuple[Any, ...]]:
    """Where each listed operation would go, signed for what, and the clients' settings."""
    aws = make_session()
    for (service, method), arguments in CALLS.items():
        client = aws.client(service)  # type: ignore[call-overload]

        def stop(request: Any, **_: Any) -> None:
            raise _Sent(request)

        client.meta.events.register("before-send", stop)
        with pytest.raises(_Sent) as sent:
            getattr(client, method)(**arguments(FAKE_STACK))
        signature = sent.value.request.headers["Authorization"].decode()
        scope = re.search(r"Credential=[^/]+/\d+/([^,]+),", signature)
        config = client.meta.config
        yield (
            method,
            sent.value.request.url,
            scope and scope.group(1),
            config.retries,
            config.connect_timeout,
            client.meta.region_name,
        )


@pytest.mark.usefixtures("fake_credentials")
@pytest.mark.parametrize("environment", ENVIRONMENTS.values(), ids=ENVIRONMENTS.keys())
def test_clients_go_where_boto3s_own_go(
    monkeypatch: pytest.MonkeyPatch, environment: dict[str, str]
) -> None:
    # GIVEN an environment that steers endpoints
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    # WHEN each listed operation is about to be sent by courier's session and by boto3's
    # THEN both send it to the same URL, signed for the same region and service, with the
    # same settings
    assert list(_sent(session)) == list(_sent(boto3.session.Session))


@pytest.mark.usefixtures("fake_credentials")
def test_the_same_regions_are_known() -> None:
    plain = boto3.session.Session()
    for partition in plain.get_available_partitions():
        for service in OPERATIONS:
            assert session().get_available_regions(service, partition) == (
                plain.get_available_regions(service, partition)
            ), (service, partition)


def test_a_method_no_model_has_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aws_session, "OPERATIONS", {"ssm": ("get_parameters", "get_parametres")})
    with pytest.raises(ValueError, match="ssm has no operation get_parametres"):
        generate()


def test_powertools_idempotency_store_works_over_a_client_of_the_session(
    stack: StackResources,
) -> None:
    # GIVEN Powertools' idempotency store (as the sender's) over a DynamoDB client of session()
    store = DynamoDBPersistenceLayer(
        table_name=stack.idempotency_table, boto3_client=session().client("dynamodb")
    )
    store.configure(IdempotencyConfig(), function_name="courier-test")
    data = {"message": "acme:reset-42"}
    # WHEN a record is claimed twice THEN the second claim gets the first's record, parsed
    # from the modelled ConditionalCheckFailedException
    store.save_inprogress(data, remaining_time_in_millis=60_000)
    with pytest.raises(IdempotencyItemAlreadyExistsError) as held:
        store.save_inprogress(data, remaining_time_in_millis=60_000)
    assert held.value.old_data_record is not None
    assert held.value.old_data_record.status == "INPROGRESS"
    # WHEN it succeeds, and is then released THEN each write held
    store.save_success(data, result={"message_id": "<m@acme.example>"})
    record = store.get_record(data)
    assert record is not None
    assert record.status == "COMPLETED"
    store.delete_record(data, exception=RuntimeError("released"))
    with pytest.raises(IdempotencyItemNotFoundError):
        store.get_record(data)

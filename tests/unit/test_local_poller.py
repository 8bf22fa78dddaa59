"""The local event source mapping treats a batch's outcome as Lambda's SQS poller does.

The queues are template.yaml's, in moto (in process); the function is a stand-in that returns a
chosen result, so each rule of partial batch responses is seen on its own.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from local.invoke import InvokeResult
from local.poller import EventSourceMapping, failed_records
from local.stack import StackResources
from local.template import SqsEventSource

INVALID = "InvalidBatchResponse"
SOURCE = SqsEventSource(queue="CourierQueue", batch_size=10, report_batch_item_failures=True)

Respond = Callable[[list[str]], InvokeResult]


def returns(payload: Any) -> InvokeResult:
    return InvokeResult(output=json.dumps(payload), logs="", exit_code=0)


def fails_with(error_type: str) -> InvokeResult:
    return InvokeResult(output=json.dumps({"errorType": error_type}), logs="", exit_code=1)


class Function:
    """Records each event and answers with ``respond(message_ids)``."""

    def __init__(self, respond: Respond) -> None:
        self.respond = respond
        self.batches: list[list[str]] = []

    def __call__(self, event: str) -> InvokeResult:
        ids = [record["messageId"] for record in json.loads(event)["Records"]]
        self.batches.append(ids)
        return self.respond(ids)


def send(queue_url: str, count: int) -> list[str]:
    sqs = boto3.client("sqs")
    return [
        sqs.send_message(QueueUrl=queue_url, MessageBody=f'{{"n": {n}}}')["MessageId"]
        for n in range(count)
    ]


def queue_counts(queue_url: str) -> tuple[int, int]:
    """(visible, in flight) messages of the queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return (
        int(attributes["ApproximateNumberOfMessages"]),
        int(attributes["ApproximateNumberOfMessagesNotVisible"]),
    )


def mapping_for(
    stack: StackResources, function: Function, source: SqsEventSource = SOURCE
) -> EventSourceMapping:
    return EventSourceMapping(
        sqs=boto3.client("sqs"),
        queue_url=stack.queue_url,
        queue_arn=stack.queue_arn,
        source=source,
        invoke=function,
    )


def test_only_the_reported_failures_stay_on_the_queue(stack: StackResources) -> None:
    # GIVEN three messages and a function that reports the second as failed
    ids = send(stack.queue_url, 3)
    function = Function(lambda batch: returns({"batchItemFailures": [{"itemIdentifier": ids[1]}]}))

    # WHEN the mapping runs one batch
    report = mapping_for(stack, function).poll_once()

    # THEN the function saw all three as one SQS event, and only the second is left (in flight,
    # until its visibility timeout ends)
    assert report is not None
    assert sorted(function.batches[0]) == sorted(ids)
    assert report.failed_ids == (ids[1],)
    assert report.error_type is None
    assert report.receive_counts == dict.fromkeys(ids, 1)
    assert queue_counts(stack.queue_url) == (0, 1)


def test_a_failed_invocation_leaves_the_whole_batch(stack: StackResources) -> None:
    # GIVEN two messages and a function that raises
    send(stack.queue_url, 2)
    function = Function(lambda batch: fails_with("ValueError"))

    # WHEN the mapping runs one batch
    report = mapping_for(stack, function).poll_once()

    # THEN nothing is deleted, and the report says why
    assert report is not None
    assert report.error_type == "ValueError"
    assert len(report.failed_ids) == 2
    assert queue_counts(stack.queue_url) == (0, 2)


@pytest.mark.parametrize(
    ("payload", "left", "error"),
    [
        ({"batchItemFailures": []}, 0, None),
        ({"batchItemFailures": None}, 0, None),
        ({}, 0, None),
        (None, 0, None),
        ({"batchItemFailures": [{"itemIdentifier": "not-in-this-batch"}]}, 2, INVALID),
        ({"batchItemFailures": [{"itemIdentifier": ""}]}, 2, INVALID),
        ({"batchItemFailures": [{"id": "wrong key"}]}, 2, INVALID),
        ({"batchItemFailures": "not a list"}, 2, INVALID),
        (["not", "an", "object"], 2, INVALID),
    ],
)
def test_partial_batch_responses_are_read_as_lambda_reads_them(
    payload: Any, left: int, error: str | None
) -> None:
    # GIVEN a batch of two WHEN the function answers ``payload``
    failed, why = failed_records(returns(payload), ["a", "b"], report_batch_item_failures=True)

    # THEN an empty answer is a full success, an invalid one a full failure
    assert (len(failed), why) == (left, error)


def test_without_report_batch_item_failures_a_return_deletes_the_batch(
    stack: StackResources,
) -> None:
    # GIVEN a mapping without ReportBatchItemFailures and a function that reports a failure
    ids = send(stack.queue_url, 2)
    function = Function(lambda batch: returns({"batchItemFailures": [{"itemIdentifier": ids[0]}]}))
    source = SqsEventSource(queue="CourierQueue", report_batch_item_failures=False)

    # WHEN the mapping runs one batch
    mapping_for(stack, function, source).poll_once()

    # THEN the report is ignored: the whole batch is deleted
    assert queue_counts(stack.queue_url) == (0, 0)


def test_batches_are_no_larger_than_the_batch_size(stack: StackResources) -> None:
    # GIVEN five messages and a batch size of 2
    send(stack.queue_url, 5)
    function = Function(lambda batch: returns({"batchItemFailures": []}))
    source = SqsEventSource(queue="CourierQueue", batch_size=2, report_batch_item_failures=True)
    mapping = mapping_for(stack, function, source)

    # WHEN the mapping runs until the queue is empty
    while mapping.poll_once() is not None:
        pass

    # THEN every message went through, two at most at a time
    assert [len(batch) for batch in function.batches] == [2, 2, 1]


def test_the_queue_redrives_a_message_after_max_receive_count(stack: StackResources) -> None:
    # GIVEN a queue that redrives after 2 receives, visible again at once, and a failing function
    sqs = boto3.client("sqs")
    queue_url = sqs.create_queue(
        QueueName="ShortRedrive",
        Attributes={
            "VisibilityTimeout": "0",
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": stack.dead_letter_queue_arn, "maxReceiveCount": 2}
            ),
        },
    )["QueueUrl"]
    [message_id] = send(queue_url, 1)
    function = Function(lambda batch: fails_with("ValueError"))
    mapping = EventSourceMapping(
        sqs=sqs,
        queue_url=queue_url,
        queue_arn="arn:aws:sqs:us-east-1:123456789012:ShortRedrive",
        source=SOURCE,
        invoke=function,
    )

    # WHEN the mapping polls until the queue has nothing for it
    reports = []
    while (report := mapping.poll_once()) is not None:
        reports.append(report)

    # THEN the function saw it twice (receive counts 1 and 2) and then SQS moved it to the DLQ
    assert [r.receive_counts[message_id] for r in reports] == [1, 2]
    dead = sqs.receive_message(QueueUrl=stack.dead_letter_queue_url)["Messages"]
    assert [message["MessageId"] for message in dead] == [message_id]

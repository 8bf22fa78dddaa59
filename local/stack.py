"""The stack's AWS resources, created from ``template.yaml`` in an emulated AWS (moto).

Names, key schemas, visibility timeouts and redrive policies are read from the template, so the
tests and ``python -m local`` cannot drift from what ``sam deploy`` creates. Physical names are
the logical IDs (CloudFormation would generate them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cfnlint.decode import decode

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_sqs import SQSClient

__all__ = ["TEMPLATE", "StackResources", "create_stack_resources", "load_template"]

TEMPLATE = Path(__file__).resolve().parents[1] / "template.yaml"


@dataclass(frozen=True, kw_only=True)
class StackResources:
    queue_url: str
    queue_arn: str
    dead_letter_queue_url: str
    dead_letter_queue_arn: str
    idempotency_table: str
    max_receive_count: int
    status_table: str = "MessageStatusTable"

    def resource_values(self, *, region: str, account_id: str) -> dict[str, dict[str, str]]:
        """What ``Ref`` and ``Fn::GetAtt`` of each resource give, for the template resolver."""
        table_arn = f"arn:aws:dynamodb:{region}:{account_id}:table/{self.idempotency_table}"
        return {
            "CourierQueue": _queue_values(self.queue_url, self.queue_arn),
            "CourierDeadLetterQueue": _queue_values(
                self.dead_letter_queue_url, self.dead_letter_queue_arn
            ),
            "IdempotencyTable": {"Ref": self.idempotency_table, "Arn": table_arn},
            "MessageStatusTable": {
                "Ref": self.status_table,
                "Arn": f"arn:aws:dynamodb:{region}:{account_id}:table/{self.status_table}",
            },
        }


def _queue_values(url: str, arn: str) -> dict[str, str]:
    return {"Ref": url, "Arn": arn, "QueueUrl": url, "QueueName": arn.rsplit(":", 1)[1]}


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    """``template.yaml`` as plain JSON types (intrinsic functions as ``{"Ref": ...}`` dicts)."""
    template, matches = decode(str(path))
    if matches or template is None:
        raise ValueError(f"{path} does not parse: {[str(match) for match in matches]}")
    plain: dict[str, Any] = json.loads(json.dumps(template))
    return plain


def create_stack_resources(
    *, sqs: SQSClient, dynamodb: DynamoDBClient, template: dict[str, Any] | None = None
) -> StackResources:
    """Create the queues (with the template's redrive policy) and the two tables (with the
    template's keys, indexes and TTL)."""
    resources = (template or load_template())["Resources"]
    queue = resources["CourierQueue"]["Properties"]
    dead_letter_url = sqs.create_queue(QueueName="CourierDeadLetterQueue")["QueueUrl"]
    dead_letter_arn = _queue_arn(sqs, dead_letter_url)
    max_receive_count = int(queue["RedrivePolicy"]["maxReceiveCount"])
    queue_url = sqs.create_queue(
        QueueName="CourierQueue",
        Attributes={
            "VisibilityTimeout": str(queue["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(
                {"deadLetterTargetArn": dead_letter_arn, "maxReceiveCount": max_receive_count}
            ),
        },
    )["QueueUrl"]

    for name in ("IdempotencyTable", "MessageStatusTable"):
        _create_table(dynamodb, name, resources[name]["Properties"])
    return StackResources(
        queue_url=queue_url,
        queue_arn=_queue_arn(sqs, queue_url),
        dead_letter_queue_url=dead_letter_url,
        dead_letter_queue_arn=dead_letter_arn,
        idempotency_table="IdempotencyTable",
        max_receive_count=max_receive_count,
    )


def _queue_arn(sqs: SQSClient, queue_url: str) -> str:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
    return attributes["Attributes"]["QueueArn"]


def _create_table(dynamodb: DynamoDBClient, name: str, table: dict[str, Any]) -> None:
    indexes = {key: table[key] for key in ("GlobalSecondaryIndexes",) if key in table}
    dynamodb.create_table(
        TableName=name,
        KeySchema=table["KeySchema"],
        AttributeDefinitions=table["AttributeDefinitions"],
        BillingMode=table["BillingMode"],
        **indexes,
    )
    dynamodb.update_time_to_live(
        TableName=name, TimeToLiveSpecification=table["TimeToLiveSpecification"]
    )

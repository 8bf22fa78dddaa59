"""SQS handler of the courier sender: thin glue around :class:`courier.sender.Sender`.

The stack's settings are read from the environment once, here, and given to everything that
needs them. The clients and the configuration cache live at module scope, so warm invocations
reuse them; each client is made where it is first used (:class:`courier.aws_session.Clients`),
not at import: SSM's by the first configuration read, DynamoDB's by the first idempotency claim
or status write (while the batch's SMTP sessions open), SQS's by the first DLQ write or
visibility change. One DynamoDB client serves the idempotency records, the delivery log and the
status table (a second client of the same service is paid again at every cold start), with
short timeouts: a DynamoDB that hangs fails a claim (the message is retried, nothing is sent) or
a status write (logged) in seconds, instead of holding the invocation for botocore's default
minute.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import DynamoDBPersistenceLayer
from botocore.config import Config

from courier.aws_session import Clients
from courier.config_provider import SsmConfigProvider
from courier.delivery_log import DynamoDBDeliveryLog
from courier.observability import logger, metrics, traced
from courier.sender import Sender
from courier.ssm import ssm_client
from courier.stack import StackSettings
from courier.status_table import StatusTable

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

    from courier.sender import BatchResponse

# botocore's own check of each request (parameter_validation) is off: courier and Powertools
# build every request, DynamoDB checks it anyway (a ValidationException), and botocore's check
# was 28% of the client's CPU for a batch's status writes (35.5 ms against 25.4 ms for 100
# messages' 9 calls, medians of 8 rounds), CPU that Lambda gives sparingly.
DYNAMODB_CLIENT = Config(
    connect_timeout=1,
    read_timeout=2,
    retries={"mode": "standard", "max_attempts": 2},
    parameter_validation=False,
)

settings = StackSettings.from_environment()
table = settings.required("idempotency_table")
clients = Clients()
dynamodb = clients.on_first_use(lambda aws: aws.client("dynamodb", config=DYNAMODB_CLIENT))
sender = Sender(
    settings=settings,
    config_provider=SsmConfigProvider(
        settings=settings, boto3_client=clients.on_first_use(lambda aws: ssm_client(session=aws))
    ),
    sqs_client=clients.on_first_use(lambda aws: aws.client("sqs")),
    persistence_store=lambda: DynamoDBPersistenceLayer(table_name=table, boto3_client=dynamodb()),
    delivery_log=DynamoDBDeliveryLog(table_name=table, client=dynamodb),
    status_table=StatusTable(
        table_name=settings.status_table,
        client=dynamodb,
        retention_days=settings.status_retention_days,
    )
    if settings.status_table
    else None,
)


@logger.inject_lambda_context
@traced
@metrics.log_metrics
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> BatchResponse:
    """Deliver one SQS batch; return the partial batch response (``batchItemFailures``)."""
    return sender.handle(event, context)

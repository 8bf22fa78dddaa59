"""Handler of the config validator: thin glue around :class:`courier.validation.ValidatorApi`.

Invoked directly (the event is the request) or by the HTTP API (``POST /projects/{project_id}/
courier/validate`` and ``.../apply``, ``GET .../courier/messages`` and ``.../messages/{id}``,
IAM-authorized). The stack's settings are read from the
environment once, here, as the sender reads them; the SSM client lives at module scope, so warm
invocations reuse it.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from courier.observability import traced
from courier.stack import StackSettings
from courier.status_api import MessageStatusApi
from courier.validation import ConfigValidator, SsmConfigStore, ValidatorApi
from courier.validation.api import SERVICE, logger

settings = StackSettings.from_environment()
api = ValidatorApi(
    ConfigValidator(settings=settings, store=SsmConfigStore(settings=settings)),
    # Its DynamoDB client is made at the first status request: validation never pays for it.
    messages=MessageStatusApi(table_name=settings.status_table),
)


# Never log the event, whatever POWERTOOLS_LOGGER_LOG_EVENT says: it carries passwords.
@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.API_GATEWAY_HTTP, log_event=False
)
@traced(service=SERVICE)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """Validate (and, when asked, apply) one patch of a project's courier configuration."""
    return api.handle(event, context)

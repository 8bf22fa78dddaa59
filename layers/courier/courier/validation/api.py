"""The validator's two entrances: a direct invocation and the HTTP API (IAM-authorized).

A direct event (``sam local invoke``, ``aws lambda invoke``) is the request itself and gets the
:class:`~courier.validation.types.ValidationResponse` back. An API Gateway HTTP API (payload
2.0) event goes through Powertools' :class:`APIGatewayHttpResolver`:

* ``POST /projects/{project_id}/courier/validate``: validate only, never write;
* ``POST /projects/{project_id}/courier/apply``: validate, then write when nothing is wrong;
* ``GET /projects/{project_id}/courier/messages`` and ``.../messages/{message_id}``: the
  project's message status records (:mod:`courier.status_api`).

The body is the request without ``project_id`` (the path names the project; the route, not the
body, decides ``dry_run``). The answer is the same JSON: ``200`` when valid, ``422`` when not,
``400`` when the body is not a JSON object, ``503`` when SSM could not be read or written.

Example
-------
>>> entrance = ValidatorApi(validator)  # doctest: +SKIP
>>> entrance.handle({"project_id": "acme", "remove": [...]}, context)["valid"]  # doctest: +SKIP
True
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response, content_types
from aws_lambda_powertools.utilities.typing import LambdaContext

from courier.status_api import MessageStatusApi
from courier.validation.request import PatchRequest
from courier.validation.types import Finding, ValidationResponse
from courier.validation.validator import ConfigValidator, make_response

__all__ = ["ValidatorApi", "is_http_event", "logger"]

SERVICE = os.environ.get("POWERTOOLS_SERVICE_NAME") or "courier-config-validator"
"""The validator's service name (``template.yaml`` sets ``POWERTOOLS_SERVICE_NAME``)."""
ROUTES = {"validate": True, "apply": False}
"""The routes under ``/projects/{project_id}/courier/``, and their ``dry_run``."""
UNAVAILABLE = frozenset({"config_unavailable", "ssm_write_failed"})
"""Error codes that are SSM's trouble, not the request's: ``503``."""

logger = Logger(service=SERVICE)


def is_http_event(event: object) -> bool:
    """Whether ``event`` comes from an API Gateway HTTP API (payload format 2.0).

    Example
    -------
    >>> is_http_event({"project_id": "acme"}), is_http_event(
    ...     {"version": "2.0", "routeKey": "POST /x", "requestContext": {}})
    (False, True)
    """
    return (
        isinstance(event, Mapping)
        and event.get("version") == "2.0"
        and "requestContext" in event
        and "routeKey" in event
    )


class ValidatorApi:
    """Both entrances in front of one :class:`ConfigValidator`.

    Parameters
    ----------
    validator:
        Does the work.
    messages:
        Answers the message status routes (``None``: they are not routed).
    """

    def __init__(
        self, validator: ConfigValidator, *, messages: MessageStatusApi | None = None
    ) -> None:
        self.validator = validator
        self.resolver = APIGatewayHttpResolver()
        for route, dry_run in ROUTES.items():
            self.resolver.post(f"/projects/<project_id>/courier/{route}")(
                self._route(route, dry_run=dry_run)
            )
        if messages is not None:
            base = "/projects/<project_id>/courier/messages"
            self.resolver.get(base)(
                lambda project_id: self._status_answer(
                    "messages", project_id, messages.list_messages, self._raw_query()
                )
            )
            self.resolver.get(f"{base}/<message_id>")(
                lambda project_id, message_id: self._status_answer(
                    "message", project_id, messages.get_message, message_id
                )
            )

    def handle(self, event: Any, context: LambdaContext) -> dict[str, Any]:
        """Answer a direct invocation (the response) or an HTTP API event (an HTTP response)."""
        if is_http_event(event):
            return self.resolver.resolve(event, context)
        response = self.validator.handle(event, remaining_seconds=_remaining(context))
        _log(response, route="invoke")
        return dict(response)

    def _route(self, route: str, *, dry_run: bool) -> Callable[[str], Response[str]]:
        def answer(project_id: str) -> Response[str]:
            event = self.resolver.current_event
            caller = _caller(event.raw_event)
            try:
                body = json.loads(event.decoded_body or "")
            except ValueError:
                body = None
            if not isinstance(body, dict):
                not_json = Finding.error("", "body_not_json", "the body must be a JSON object")
                response = make_response(
                    PatchRequest(project_id=project_id, dry_run=dry_run),
                    [*self.validator.stack_findings(), not_json],
                )
                _log(response, route=route, caller=caller)
                return _http(400, response)
            response = self.validator.handle(
                {**body, "project_id": project_id},
                dry_run=dry_run,
                remaining_seconds=_remaining(self.resolver.lambda_context),
            )
            _log(response, route=route, caller=caller)
            if any(error["code"] in UNAVAILABLE for error in response["errors"]):
                return _http(503, response)
            return _http(200 if response["valid"] else 422, response)

        return answer

    def _raw_query(self) -> str:
        return str(self.resolver.current_event.raw_event.get("rawQueryString") or "")

    def _status_answer(
        self, route: str, project_id: str, answer: Callable[[str, str], tuple[int, Any]], arg: str
    ) -> Response[str]:
        status, body = answer(project_id, arg)
        logger.info(
            "message status %s",
            status,
            extra={
                "route": route,
                "project_id": project_id,
                "caller": _caller(self.resolver.current_event.raw_event),
                "error": body.get("error", {}).get("id"),
            },
        )
        return Response(
            status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(body)
        )


def _http(status: int, response: ValidationResponse) -> Response[str]:
    return Response(
        status_code=status, content_type=content_types.APPLICATION_JSON, body=json.dumps(response)
    )


def _caller(raw: Mapping[str, Any]) -> str | None:
    """The IAM principal that signed the request, for the audit line."""
    iam = (raw.get("requestContext", {}).get("authorizer") or {}).get("iam") or {}
    arn = iam.get("userArn") if isinstance(iam, Mapping) else None
    return arn if isinstance(arn, str) else None


def _remaining(context: LambdaContext | None) -> float | None:
    if context is None:
        return None
    try:
        return context.get_remaining_time_in_millis() / 1000
    except (AttributeError, TypeError):
        return None


def _log(response: ValidationResponse, *, route: str, caller: str | None = None) -> None:
    """One line per request: codes, never values."""
    logger.info(
        "config %s",
        "applied" if response["applied"] else ("valid" if response["valid"] else "invalid"),
        extra={
            "route": route,
            "project_id": response["project_id"],
            "dry_run": response["dry_run"],
            "caller": caller,
            "errors": [error["code"] for error in response["errors"]],
            "warnings": [warning["code"] for warning in response["warnings"]],
            "versions": response["versions"],
        },
    )

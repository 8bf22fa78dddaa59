"""At most one delivery per idempotency key, with the idempotency store's faults as facts.

Powertools idempotency (DynamoDB) writes an in-progress record before the send, and the result
or a release after it. What it raises does not say what happened to the mail: a failed success
write after the server accepted the message looks like any other store failure, and a failed
release after an SMTP error hides that error. :class:`DeliverOnce` keeps the attempt's own
account (:class:`Attempt`) and turns each of those cases into what it means:

- the server accepted the mail, only the success record failed: delivered (the write is tried
  again a few times first);
- the in-progress record could not be written: :class:`~courier.errors.IdempotencyStoreError`,
  nothing was sent;
- another attempt holds the record: :class:`~courier.errors.DeliveryInProgressError`;
- the send failed: that error, in an :class:`AttemptFailed` that says whether the record could
  not be released (a retry must then wait until it expires).

Example
-------
>>> once = DeliverOnce(DynamoDBPersistenceLayer(table_name="IdempotencyTable"))  # doctest: +SKIP
>>> once.deliver("acme:reset-42", send)  # doctest: +SKIP
Delivered(message_id='<courier.7560…@acme.example>', duplicate=False)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.idempotency import IdempotencyConfig, idempotent_function
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyAlreadyInProgressError,
    IdempotencyInconsistentStateError,
    IdempotencyPersistenceLayerError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import DataRecord

from courier.errors import CourierError, DeliveryInProgressError, IdempotencyStoreError
from courier.observability import logger

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

__all__ = [
    "EXPIRY_SECONDS",
    "WRITE_ATTEMPTS",
    "Attempt",
    "AttemptFailed",
    "DeliverOnce",
    "Delivered",
    "Send",
]

EXPIRY_SECONDS = 24 * 60 * 60
"""How long a delivered key is remembered (a repeat within it is not sent)."""
WRITE_ATTEMPTS = 3
"""Tries of the record's last write (success, or release after a failure), on top of boto3's
own retries."""

Send = Callable[["Attempt"], None]
"""Sends the message, noting in the :class:`Attempt` its ``Message-ID`` and whether the server
accepted it."""


@dataclass
class Attempt:
    """What one attempt at a message did, whatever the idempotency layer reports after it."""

    message_id: str | None = None
    accepted: bool = False
    """The server accepted the message (its ``250`` to the final dot)."""
    error: Exception | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Delivered:
    """The message is delivered: by this attempt, or (``duplicate``) by an earlier one."""

    message_id: str | None
    duplicate: bool = False


class AttemptFailed(CourierError):
    """The send failed with :attr:`error`; :attr:`holds_record`: the idempotency record could
    not be released, so a retry must wait until it expires."""

    def __init__(self, error: Exception, *, holds_record: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.holds_record = holds_record


class DeliverOnce:
    """Runs a send at most once per key.

    Parameters
    ----------
    persistence_store:
        Powertools' idempotency store; ``None`` sends every time (no duplicate suppression).
    """

    def __init__(self, persistence_store: BasePersistenceLayer | None) -> None:
        self._store = persistence_store
        self._config = IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=EXPIRY_SECONDS,
            response_hook=_mark_duplicate,
        )
        self._once = (
            idempotent_function(
                data_keyword_argument="delivery",
                persistence_store=persistence_store,
                config=self._config,
            )(_run)
            if persistence_store is not None
            else _run
        )

    def register_lambda_context(self, context: LambdaContext) -> None:
        """An in-progress record expires with the invocation that wrote it."""
        self._config.register_lambda_context(context)

    def deliver(self, key: str, send: Send) -> Delivered:
        """Run ``send`` unless ``key`` was delivered already.

        Raises
        ------
        AttemptFailed
            The send failed (its error inside).
        DeliveryInProgressError, IdempotencyStoreError
            The store's faults, as facts; nothing was sent by this attempt.
        """
        attempt = Attempt()
        delivery = {"key": key}
        try:
            result: dict[str, Any] = self._once(delivery=delivery, send=send, attempt=attempt)
        except IdempotencyAlreadyInProgressError as exc:
            raise DeliveryInProgressError(
                "another attempt is sending this message (its idempotency record is in progress)"
            ) from exc
        except IdempotencyInconsistentStateError as exc:
            raise IdempotencyStoreError(
                f"the idempotency store answered inconsistently ({exc})"
            ) from exc
        except IdempotencyPersistenceLayerError as exc:
            if attempt.accepted:  # delivered; only recording it failed
                self._write_again("save_success", delivery, {"message_id": attempt.message_id})
                return Delivered(attempt.message_id)
            if attempt.error is None:
                raise IdempotencyStoreError(
                    f"the idempotency record could not be written, nothing was sent ({exc})"
                ) from exc
            released = self._write_again("delete_record", delivery, attempt.error)
            raise AttemptFailed(attempt.error, holds_record=not released) from exc
        except Exception as exc:
            if exc is attempt.error:
                raise AttemptFailed(exc, holds_record=False) from exc
            raise
        return Delivered(result.get("message_id"), duplicate=bool(result.get("duplicate")))

    def _write_again(self, method: str, delivery: dict[str, str], argument: Any) -> bool:
        """Try the record's last write again, a few times; ``True`` once it held."""
        assert self._store is not None
        write = getattr(self._store, method)
        for _ in range(WRITE_ATTEMPTS):
            try:
                write(delivery, argument)
            except Exception as exc:
                logger.warning(f"the idempotency record's {method} failed: {exc!r}")
                continue
            return True
        logger.error(
            f"the idempotency record could not be updated ({method}); the outcome stands",
            extra={"idempotency_write": method},
        )
        return False


def _run(*, delivery: dict[str, str], send: Send, attempt: Attempt) -> dict[str, Any]:
    """The send, as Powertools wraps it (keyed on ``delivery["key"]``)."""
    try:
        send(attempt)
    except Exception as error:
        attempt.error = error
        raise
    attempt.accepted = True
    return {"message_id": attempt.message_id}


def _mark_duplicate(response: Any, idempotent_data: DataRecord) -> Any:
    return {**response, "duplicate": True} if isinstance(response, dict) else response

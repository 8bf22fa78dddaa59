"""At most one delivery per idempotency key, with the idempotency store's faults as facts.

A batch's mails go out together over pipelined sessions, so a message's idempotency record is
written in two steps instead of around one call: :meth:`DeliverOnce.claim` writes the
in-progress record before anything is sent (or finds that an earlier attempt delivered the
message), and :meth:`DeliverOnce.delivered` or :meth:`DeliverOnce.failed` writes the result
or releases the record once the server has answered. The records are Powertools'
(``BasePersistenceLayer.save_inprogress``, ``get_record``, ``save_success``,
``delete_record``: the same items, keys and expiry as Powertools' ``idempotent_function``
writes); only the order of the calls is courier's, because Powertools' handler wraps a single
call, and a session sending ten mails in one round trip each cannot be ten such calls.

What the store does is turned into what it means:

- the in-progress record could not be written: :class:`~courier.errors.IdempotencyStoreError`,
  nothing is sent;
- another attempt holds the record: :class:`~courier.errors.DeliveryInProgressError`;
- an earlier attempt delivered the message: :attr:`Claim.duplicate` (nothing is sent);
- the server accepted the mail, only the success record failed: delivered (the write is tried
  again a few times first);
- the send failed: the record is released, and :meth:`DeliverOnce.failed` says whether that
  held (if not, a retry must wait until the record expires).

Every method may be called from any thread: the store's client is boto3's, and nothing here
logs (a batch's log lines carry the message's keys, set by the thread that reports outcomes);
what went wrong with a write is in :attr:`Claim.write_failures` and :attr:`Claim.unrecorded`.

Example
-------
>>> once = DeliverOnce(DynamoDBPersistenceLayer(table_name="IdempotencyTable"))  # doctest: +SKIP
>>> claim = once.claim("acme:reset-42", remaining_millis=58_000)  # doctest: +SKIP
>>> once.delivered(claim, message_id="<courier.7560…@acme.example>")  # doctest: +SKIP
Delivered(message_id='<courier.7560…@acme.example>', duplicate=False)
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aws_lambda_powertools.utilities.idempotency.config import IdempotencyConfig
from aws_lambda_powertools.utilities.idempotency.exceptions import (
    IdempotencyItemAlreadyExistsError,
    IdempotencyItemNotFoundError,
)
from aws_lambda_powertools.utilities.idempotency.persistence.base import BasePersistenceLayer
from aws_lambda_powertools.utilities.idempotency.persistence.datarecord import (
    STATUS_CONSTANTS,
    DataRecord,
)

from courier.errors import DeliveryInProgressError, IdempotencyStoreError
from courier.lazy import Lazy, made

__all__ = [
    "EXPIRY_SECONDS",
    "RECORD_FUNCTION",
    "WRITE_ATTEMPTS",
    "Claim",
    "DeliverOnce",
    "Delivered",
]

EXPIRY_SECONDS = 24 * 60 * 60
"""How long a delivered key is remembered (a repeat within it is not sent)."""
WRITE_ATTEMPTS = 3
"""Tries of the record's last write (success, or release after a failure), on top of boto3's
own retries."""
RECORD_FUNCTION = "courier.once._run"
"""The function name in each record's key, as Powertools' ``idempotent_function`` named it
when it wrapped courier's send: records written before the two-step claim still count."""
_INCONSISTENT_READS = 2
"""Powertools' ``MAX_RETRIES``: how often a record that changed under the claim is read again."""


@dataclass(frozen=True)
class Delivered:
    """The message is delivered: by this attempt, or (``duplicate``) by an earlier one."""

    message_id: str | None
    duplicate: bool = False


@dataclass(eq=False)
class Claim:
    """The right to send one key's message, or (:attr:`duplicate`) the news that it was sent."""

    key: str
    duplicate: Delivered | None = None
    """Set when an earlier attempt delivered the message: send nothing."""
    write_failures: list[str] = field(default_factory=list)
    """Each failed try of the record's last write (for the outcome's log lines)."""
    unrecorded: str | None = None
    """The last write (``save_success`` or ``delete_record``) when none of its tries held."""

    @property
    def data(self) -> dict[str, str]:
        """The payload the record's key is hashed from."""
        return {"key": self.key}


class DeliverOnce:
    """Claims a key before its message is sent, and records what became of it.

    Parameters
    ----------
    persistence_store:
        Powertools' idempotency store, or how to make it on first use (its DynamoDB client);
        ``None`` sends every time (no duplicate suppression).
    """

    def __init__(
        self,
        persistence_store: BasePersistenceLayer | Callable[[], BasePersistenceLayer] | None,
    ) -> None:
        self._configured_store = (
            None
            if persistence_store is None
            else Lazy(lambda: _configured(made(persistence_store)))
        )

    @property
    def _store(self) -> BasePersistenceLayer | None:
        return self._configured_store() if self._configured_store is not None else None

    def claim(self, key: str, *, remaining_millis: int | None) -> Claim:
        """Write ``key``'s in-progress record, lasting ``remaining_millis`` (the invocation's).

        Raises
        ------
        DeliveryInProgressError
            Another attempt holds the record.
        IdempotencyStoreError
            The record could not be written or read; nothing may be sent.
        """
        claim = Claim(key)
        try:
            store = self._store
        except Exception as exc:  # its client could not be made (made on first use)
            raise IdempotencyStoreError(
                f"the idempotency store could not be reached, nothing was sent ({exc})"
            ) from exc
        if store is None:
            return claim
        for _ in range(_INCONSISTENT_READS + 1):
            try:
                store.save_inprogress(claim.data, remaining_time_in_millis=remaining_millis)
                return claim
            except IdempotencyItemAlreadyExistsError as exc:
                record = exc.old_data_record or self._read(claim)
            except Exception as exc:
                raise IdempotencyStoreError(
                    f"the idempotency record could not be written, nothing was sent ({exc})"
                ) from exc
            if record is None:
                continue  # deleted since the write failed: try again
            if record.status == STATUS_CONSTANTS["COMPLETED"]:
                claim.duplicate = Delivered(_message_id(record), duplicate=True)
                return claim
            if record.status == STATUS_CONSTANTS["INPROGRESS"] and not _in_progress_expired(record):
                raise DeliveryInProgressError(
                    "another attempt is sending this message (its idempotency record is in "
                    "progress)"
                )
            # Expired since the write failed: the next write may take it.
        raise IdempotencyStoreError(
            "the idempotency store answered inconsistently (the record kept changing while "
            "it was claimed), nothing was sent"
        )

    def delivered(self, claim: Claim, *, message_id: str | None) -> Delivered:
        """Record that the server accepted ``claim``'s mail; never raises (it was delivered)."""
        if self._store is not None:
            self._write_again(claim, "save_success", {"message_id": message_id})
        return Delivered(message_id)

    def failed(self, claim: Claim, error: Exception) -> bool:
        """Release ``claim`` after ``error``, so a retry may send; ``False`` if the record
        could not be released (a retry must wait until it expires). Never raises."""
        return self._store is None or self._write_again(claim, "delete_record", error)

    def _read(self, claim: Claim) -> DataRecord | None:
        assert self._store is not None
        try:
            return self._store.get_record(claim.data)
        except IdempotencyItemNotFoundError:
            return None
        except Exception as exc:
            raise IdempotencyStoreError(
                f"the idempotency record could not be read, nothing was sent ({exc})"
            ) from exc

    def _write_again(self, claim: Claim, method: str, argument: Any) -> bool:
        """Try the record's last write, a few times; ``True`` once it held."""
        write = getattr(self._store, method)
        for _ in range(WRITE_ATTEMPTS):
            try:
                write(claim.data, argument)
            except Exception as exc:
                claim.write_failures.append(f"the idempotency record's {method} failed: {exc!r}")
                continue
            return True
        claim.unrecorded = method
        return False


def _configured(store: BasePersistenceLayer) -> BasePersistenceLayer:
    store.configure(
        IdempotencyConfig(
            event_key_jmespath="key",
            raise_on_no_idempotency_key=True,
            expires_after_seconds=EXPIRY_SECONDS,
        ),
        function_name=RECORD_FUNCTION,
    )
    return store


def _message_id(record: DataRecord) -> str | None:
    response = record.response_json_as_dict() or {}
    message_id = response.get("message_id") if isinstance(response, dict) else None
    return message_id if isinstance(message_id, str) else None


def _in_progress_expired(record: DataRecord) -> bool:
    expiry = record.in_progress_expiry_timestamp
    return expiry is not None and expiry < int(datetime.datetime.now().timestamp() * 1000)

"""The failures of each message, counted where they happen: in the entry point.

Pub/Sub counts a delivery that a busy function refused (429, before our code ran) as an
attempt, and the dead letters it forwards carry no error. So the entry point records each
failure of a handler under the message's id (``delivery_failures/<function>-<message id>``):
how many failures were ours, the last error, and a fingerprint of the message. Two uses:

- ``vidcurate dlq list`` joins each dead letter with its record: by the original message id
  when the dead letter names it (ours do), else by fingerprint (Pub/Sub forwards data and
  attributes, not the id);
- with ``handler_dead_letters`` (set on the deployed functions), the entry point forwards a
  message to its dead-letter topic itself, with the error, once ``max_delivery_attempts``
  failures are recorded, and acknowledges it: poison is found after a handful of real tries
  while the subscription's own budget is sized for back-pressure
  (``shared/platform/backpressure.py``).

Records expire (a Firestore TTL on ``expire_at``) after a message could still be retried or
held as a dead letter.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from shared.ports import DocumentStore, MessageBus, OutgoingMessage
from shared.ports.bus import (
    DEAD_LETTER_ATTRIBUTE_PREFIXES,
    DEAD_LETTER_ERROR,
    DEAD_LETTER_ERROR_TYPE,
    DEAD_LETTER_FAILURES,
    DEAD_LETTER_MESSAGE_ID,
    DEAD_LETTER_SOURCE,
)
from shared.ports.documents import Transaction

DELIVERY_FAILURES = "delivery_failures"
RECORD_LIFETIME = timedelta(days=45)
"""Longer than a message lives: retention (31 days at most) plus the dead-letter hold (7)."""
MAX_ERROR_CHARS = 10_000


@dataclass(frozen=True)
class DeliveryFailure:
    """What the entry point recorded about one message's failures."""

    function: str
    message_id: str
    failures: int
    error: str
    error_type: str


def fingerprint(data: bytes, attributes: Mapping[str, str]) -> str:
    """Identifies a message by its content: the same before and after dead-lettering."""
    kept = {
        key: value
        for key, value in attributes.items()
        if not key.startswith(DEAD_LETTER_ATTRIBUTE_PREFIXES)
    }
    digest = hashlib.sha256(hashlib.sha256(data).digest())
    digest.update(json.dumps(kept, sort_keys=True, ensure_ascii=True).encode())
    return digest.hexdigest()[:40]


def failure_path(function: str, message_id: str) -> str:
    # A document id cannot hold '/'; Pub/Sub ids are digits, local ones hex.
    return f"{DELIVERY_FAILURES}/{function}-{quote(message_id, safe='')}"


def _failure(document: Mapping[str, Any]) -> DeliveryFailure:
    return DeliveryFailure(
        function=str(document.get("function", "")),
        message_id=str(document.get("message_id", "")),
        failures=int(document.get("failures", 0)),
        error=str(document.get("error", "")),
        error_type=str(document.get("error_type", "")),
    )


def record_failure(
    documents: DocumentStore,
    function: str,
    message_id: str,
    message_fingerprint: str | None,
    exc: BaseException,
    *,
    now: datetime | None = None,
) -> DeliveryFailure:
    """Count one more failure of ``message_id`` in ``function``; returns the record."""
    moment = now or datetime.now(UTC)
    path = failure_path(function, message_id)
    error = (str(exc) or type(exc).__name__)[:MAX_ERROR_CHARS]

    def apply(transaction: Transaction) -> dict[str, Any]:
        existing = transaction.get(path)
        before = existing.data if existing is not None else {}
        record = {
            "function": function,
            "message_id": message_id,
            "fingerprint": message_fingerprint,
            "failures": int(before.get("failures", 0)) + 1,
            "error": error,
            "error_type": type(exc).__name__,
            "first_failed_at": before.get("first_failed_at", moment),
            "last_failed_at": moment,
            "expire_at": moment + RECORD_LIFETIME,
        }
        transaction.set(path, record)
        return record

    return _failure(documents.run_transaction(apply))


def forward_to_dead_letter(
    bus: MessageBus,
    dead_letter_topic: str,
    subscription: str,
    data: bytes,
    attributes: Mapping[str, str],
    failure: DeliveryFailure,
) -> str:
    """Publish the message to its dead-letter topic with why it died; returns the new id."""
    dead_attributes = {
        **{k: v for k, v in attributes.items() if not k.startswith(DEAD_LETTER_ATTRIBUTE_PREFIXES)},
        DEAD_LETTER_SOURCE: subscription,
        DEAD_LETTER_ERROR: failure.error,
        DEAD_LETTER_ERROR_TYPE: failure.error_type,
        DEAD_LETTER_FAILURES: str(failure.failures),
        DEAD_LETTER_MESSAGE_ID: failure.message_id,
    }
    return bus.publish_many(dead_letter_topic, [OutgoingMessage(data, dead_attributes)])[0]


@dataclass(frozen=True)
class LetterKey:
    """How to find a dead letter's record: its function, the id it had before it died (if the
    dead letter says), its own id and its fingerprint."""

    function: str
    source_message_id: str | None
    message_id: str
    fingerprint: str


def find_failures(
    documents: DocumentStore, letters: Sequence[LetterKey]
) -> dict[LetterKey, DeliveryFailure]:
    """The recorded failures of each dead letter that has some: one batched read by id, then
    one indexed query per letter still unmatched (a Pub/Sub-forwarded one)."""
    by_path: dict[str, list[LetterKey]] = {}
    for letter in letters:
        for message_id in {letter.source_message_id, letter.message_id} - {None}:
            assert message_id is not None
            by_path.setdefault(failure_path(letter.function, message_id), []).append(letter)
    found: dict[LetterKey, DeliveryFailure] = {}
    for path, document in documents.get_many(list(by_path)).items():
        for letter in by_path[path]:
            found.setdefault(letter, _failure(document.data))
    for letter in letters:
        if letter in found:
            continue
        matches = documents.query(
            DELIVERY_FAILURES,
            [("fingerprint", "==", letter.fingerprint), ("function", "==", letter.function)],
            limit=1,
        )
        if matches:
            found[letter] = _failure(matches[0].data)
    return found

"""The smallest real services: echo a message, and track the latest version of objects.

They exist to prove the plumbing (events in, documents out, the error contract, idempotency
under duplicate and reordered delivery) and to give the demo something to show.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from typing import Any

from shared.core.errors import AlreadyExistsError, PermanentError, TransientError
from shared.platform.events import PubSubEvent, StorageObjectData
from shared.ports import SERVER_TIMESTAMP, DocumentStore, Transaction

PINGS = "pings"
MAX_BUSY_SECONDS = 60.0
OBJECTS = "objects"


def record_ping(documents: DocumentStore, event: PubSubEvent) -> dict[str, Any]:
    """Store the message under its message id; a redelivery rewrites the same document.

    A JSON body ``{"fail": "permanent"}`` or ``{"fail": "transient"}`` exercises the error
    contract end to end (quarantine versus retry then dead letter); ``{"busy_seconds": S}``
    keeps a worker's CPU busy for S seconds (at most 60) first, to see timeouts, lease
    extension and shutdown with work in flight.
    """
    message = event.message
    try:
        body: Any = json.loads(message.data) if message.data else None
    except ValueError:
        body = message.data.decode("utf-8", errors="replace")
    if isinstance(body, dict) and body.get("fail") == "permanent":
        raise PermanentError(f"message {message.message_id}: asked to fail permanently")
    if isinstance(body, dict) and body.get("fail") == "transient":
        raise TransientError(f"message {message.message_id}: asked to fail transiently")
    if isinstance(body, dict) and isinstance(body.get("busy_seconds"), int | float):
        _keep_busy(min(float(body["busy_seconds"]), MAX_BUSY_SECONDS))
    record = {
        "message_id": message.message_id,
        "body": body,
        "attributes": dict(message.attributes),
        "published_at": message.publish_time,
        "recorded_at": SERVER_TIMESTAMP,
    }
    # A redelivery finds the first record and leaves it exactly as it was.
    with contextlib.suppress(AlreadyExistsError):
        documents.create(f"{PINGS}/{message.message_id}", record)
    return record


def _keep_busy(seconds: float) -> None:
    """Spin in Python (holding the interpreter, as CPU-bound handlers do) for ``seconds``."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        sum(range(10_000))


def object_doc_id(bucket: str, name: str) -> str:
    """A document id for an object (names may contain '/', ids may not)."""
    return hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()[:32]


def record_object(documents: DocumentStore, obj: StorageObjectData) -> bool:
    """Keep the newest generation of an object; older or repeated events change nothing.

    Returns whether the document changed. Generations only grow, so comparing them makes the
    result independent of delivery order.
    """
    path = f"{OBJECTS}/{object_doc_id(obj.bucket, obj.name)}"

    def apply(tx: Transaction) -> bool:
        current = tx.get(path)
        if current is not None and int(current.data.get("generation", 0)) >= obj.generation:
            return False
        tx.set(
            path,
            {
                "bucket": obj.bucket,
                "name": obj.name,
                "generation": obj.generation,
                "size": obj.size,
                "content_type": obj.content_type,
                "md5_hash": obj.md5_hash,
                "recorded_at": SERVER_TIMESTAMP,
            },
        )
        return True

    return documents.run_transaction(apply)

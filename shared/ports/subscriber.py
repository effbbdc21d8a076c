"""Subscriber port: what the event runtime pulls deliveries from.

The local SQLite bus implements it, and so does the Pub/Sub adapter (pull subscriptions), so
one runtime can serve functions from either. Retry, backoff and dead-lettering belong to the
subscription (Pub/Sub retry and dead-letter policies, or the local bus's equivalents), not to
the runtime.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable


@dataclass(frozen=True, slots=True)
class ReceivedMessage:
    """One delivery of a message to a subscription."""

    ack_id: str
    subscription: str
    topic: str
    message_id: str
    data: bytes
    attributes: Mapping[str, str]
    publish_time: datetime
    delivery_attempt: int


@runtime_checkable
class Subscriber(Protocol):
    """Pull, acknowledge, refuse and extend deliveries on subscriptions."""

    def pull(self, subscription: str, max_messages: int = 100) -> list[ReceivedMessage]:
        """Lease up to ``max_messages`` available deliveries (may return none)."""
        ...

    def ack(self, subscription: str, ack_ids: Sequence[str]) -> None:
        """The deliveries were handled: never deliver them again."""
        ...

    def nack(self, subscription: str, ack_id: str, error: str) -> None:
        """The delivery failed with ``error``: redeliver after backoff, or dead-letter it."""
        ...

    def extend(self, subscription: str, ack_ids: Sequence[str], seconds: float) -> None:
        """Keep the leases of deliveries still being worked on."""
        ...

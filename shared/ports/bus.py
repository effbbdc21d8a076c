"""Message bus port: publish to a topic, Pub/Sub style."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

# Attributes a dead letter carries. Pub/Sub adds the CloudPubSubDeadLetter* ones when it
# forwards a message after its subscription's attempts; the local bus and the entry point
# (which forwards poison itself, shared/platform/deliveries.py) add the same and ours.
DEAD_LETTER_SOURCE = "CloudPubSubDeadLetterSourceSubscription"
DEAD_LETTER_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"
DEAD_LETTER_ERROR = "vidcurate-error"
DEAD_LETTER_ERROR_TYPE = "vidcurate-error-type"
DEAD_LETTER_TOPIC = "vidcurate-source-topic"
DEAD_LETTER_MESSAGE_ID = "vidcurate-source-message-id"
DEAD_LETTER_FAILURES = "vidcurate-failures"
DEAD_LETTER_ATTRIBUTE_PREFIXES = ("CloudPubSubDeadLetter", "vidcurate-")
"""What replaying a dead letter strips before it publishes the original again."""


@dataclass(frozen=True)
class OutgoingMessage:
    """One message to publish: opaque bytes plus string attributes."""

    data: bytes
    attributes: Mapping[str, str] = field(default_factory=dict)


class MessageBus(Protocol):
    """Publishes messages; delivery is at least once, in any order."""

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message and return its message id once it is durably accepted."""
        ...

    def publish_many(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish several messages, batched, and return their ids in order."""
        ...

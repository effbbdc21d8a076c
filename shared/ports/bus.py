"""Message bus port: publish to a topic, Pub/Sub style."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol


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

"""Inspect and replay dead-lettered messages, over the bus and subscriber ports.

Each function's dead-letter topic has a holding subscription. Pub/Sub has no "peek", so
listing pulls and immediately releases the leases; replaying publishes the original data and
attributes back to the function's source topic and acknowledges the dead letter.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from shared.platform.runtime.catalog import FunctionSpec
from shared.platform.settings import PlatformSettings
from shared.ports import MessageBus, OutgoingMessage, ReceivedMessage, Subscriber

DEAD_LETTER_ATTRIBUTE_PREFIXES = ("CloudPubSubDeadLetter", "vidcurate-")
ERROR_ATTRIBUTE = "vidcurate-error"
SOURCE_MESSAGE_ATTRIBUTE = "vidcurate-source-message-id"


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message and why it died."""

    function: str
    message_id: str
    source_message_id: str | None
    error: str | None
    attempts: str | None
    published: datetime
    data: bytes
    attributes: dict[str, str]


def _dead_letter(spec: FunctionSpec, message: ReceivedMessage) -> DeadLetter:
    attributes = dict(message.attributes)
    return DeadLetter(
        function=spec.name,
        message_id=message.message_id,
        source_message_id=attributes.get(SOURCE_MESSAGE_ATTRIBUTE),
        error=attributes.get(ERROR_ATTRIBUTE),
        attempts=attributes.get("CloudPubSubDeadLetterSourceDeliveryCount"),
        published=message.publish_time,
        data=message.data,
        attributes=attributes,
    )


def _pull_all(subscriber: Subscriber, subscription: str, limit: int) -> list[ReceivedMessage]:
    messages: list[ReceivedMessage] = []
    while len(messages) < limit:
        batch = subscriber.pull(subscription, min(100, limit - len(messages)))
        if not batch:
            break
        messages.extend(batch)
    return messages


def list_dead_letters(
    subscriber: Subscriber, specs: Sequence[FunctionSpec], limit: int = 1000
) -> list[DeadLetter]:
    """Dead letters of the given functions, oldest first; nothing is consumed."""
    found: list[DeadLetter] = []
    for spec in specs:
        subscription = spec.hold_subscription
        messages = _pull_all(subscriber, subscription, limit)
        subscriber.extend(subscription, [m.ack_id for m in messages], 0)
        found.extend(_dead_letter(spec, m) for m in messages)
    return sorted(found, key=lambda d: d.published)


def replay_dead_letters(
    subscriber: Subscriber,
    bus: MessageBus,
    settings: PlatformSettings,
    specs: Sequence[FunctionSpec],
    message_ids: Collection[str] | None = None,
    limit: int = 1000,
) -> list[DeadLetter]:
    """Publish dead letters back to their function's topic; returns those replayed.

    Every subscription of that topic receives the message again, not only the function that
    failed (a topic has no per-subscription publish); idempotent handlers make that safe.

    ``message_ids`` selects by dead-letter or original message id; None replays all.
    """
    replayed: list[DeadLetter] = []
    for spec in specs:
        subscription = spec.hold_subscription
        messages = _pull_all(subscriber, subscription, limit)
        chosen = [
            m
            for m in messages
            if message_ids is None
            or m.message_id in message_ids
            or m.attributes.get(SOURCE_MESSAGE_ATTRIBUTE) in message_ids
        ]
        others = [m.ack_id for m in messages if m not in chosen]
        subscriber.extend(subscription, others, 0)
        if not chosen:
            continue
        bus.publish_many(
            spec.source_topic(settings),
            [
                OutgoingMessage(
                    m.data,
                    {
                        k: v
                        for k, v in m.attributes.items()
                        if not k.startswith(DEAD_LETTER_ATTRIBUTE_PREFIXES)
                    },
                )
                for m in chosen
            ],
        )
        # Acked only after the republish succeeded: a crash in between replays twice, which
        # idempotent handlers absorb, instead of losing the message.
        subscriber.ack(subscription, [m.ack_id for m in chosen])
        replayed.extend(_dead_letter(spec, m) for m in chosen)
    return replayed

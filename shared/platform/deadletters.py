"""Inspect and replay dead-lettered messages, over the bus and subscriber ports.

Each function's dead-letter topic has a holding subscription. Pub/Sub has no "peek", so
listing pulls and immediately releases the leases; replaying publishes the original data and
attributes back to the function's source topic and acknowledges the dead letter.

A dead letter's error: the one it carries (forwarded by the local bus or by the entry point),
else the last one the entry point recorded for that message (``deliveries``): Pub/Sub's own
dead letters carry none. Neither: the handler never failed, the deliveries were refused or
timed out (a crash, the function's timeout).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from shared.platform.deliveries import LetterKey, find_failures, fingerprint
from shared.platform.runtime.catalog import FunctionSpec
from shared.platform.settings import PlatformSettings
from shared.ports import DocumentStore, MessageBus, OutgoingMessage, ReceivedMessage, Subscriber
from shared.ports.bus import (
    DEAD_LETTER_ATTRIBUTE_PREFIXES,
    DEAD_LETTER_COUNT,
    DEAD_LETTER_ERROR,
    DEAD_LETTER_FAILURES,
    DEAD_LETTER_MESSAGE_ID,
)

NO_ERROR_RECORDED = (
    "no error recorded: every delivery was refused or cut short (a busy, crashed or timed-out"
    " function)"
)


@dataclass(frozen=True)
class DeadLetter:
    """One dead-lettered message and why it died."""

    function: str
    message_id: str
    source_message_id: str | None
    error: str | None
    attempts: int | None
    """Deliveries Pub/Sub (or the local bus) made before dead-lettering (None: not said)."""
    published: datetime
    failures: int | None
    """Failures of the handler, counted by the entry point (None: not known)."""
    data: bytes
    attributes: dict[str, str]


def _dead_letter(spec: FunctionSpec, message: ReceivedMessage) -> DeadLetter:
    attributes = dict(message.attributes)
    return DeadLetter(
        function=spec.name,
        message_id=message.message_id,
        source_message_id=attributes.get(DEAD_LETTER_MESSAGE_ID),
        error=attributes.get(DEAD_LETTER_ERROR),
        attempts=_number(attributes.get(DEAD_LETTER_COUNT)),
        published=message.publish_time,
        failures=_number(attributes.get(DEAD_LETTER_FAILURES)),
        data=message.data,
        attributes=attributes,
    )


def _number(text: str | None) -> int | None:
    return int(text) if text is not None and text.isdigit() else None


def with_recorded_errors(
    documents: DocumentStore, letters: Sequence[DeadLetter]
) -> list[DeadLetter]:
    """``letters`` with what the entry point recorded joined in: the error of those that
    carry none, the handler's failure count of every one."""
    keys = [
        LetterKey(
            function=letter.function,
            source_message_id=letter.source_message_id,
            message_id=letter.message_id,
            fingerprint=fingerprint(letter.data, letter.attributes),
        )
        for letter in letters
    ]
    found = find_failures(documents, keys)
    joined: list[DeadLetter] = []
    for letter, key in zip(letters, keys, strict=True):
        record = found.get(key)
        if record is not None:
            joined.append(
                replace(
                    letter,
                    error=letter.error or f"{record.error_type}: {record.error}",
                    failures=record.failures if letter.failures is None else letter.failures,
                    source_message_id=letter.source_message_id or record.message_id,
                )
            )
        elif letter.error is None:
            joined.append(replace(letter, error=NO_ERROR_RECORDED, failures=0))
        else:
            joined.append(letter)
    return joined


def _pull_all(subscriber: Subscriber, subscription: str, limit: int) -> list[ReceivedMessage]:
    messages: list[ReceivedMessage] = []
    while len(messages) < limit:
        batch = subscriber.pull(subscription, min(100, limit - len(messages)))
        if not batch:
            break
        messages.extend(batch)
    return messages


def list_dead_letters(
    subscriber: Subscriber,
    specs: Sequence[FunctionSpec],
    limit: int = 1000,
    documents: DocumentStore | None = None,
) -> list[DeadLetter]:
    """Dead letters of the given functions, oldest first; nothing is consumed. With
    ``documents``, those without an error get the one the entry point recorded."""
    found: list[DeadLetter] = []
    for spec in specs:
        subscription = spec.hold_subscription
        messages = _pull_all(subscriber, subscription, limit)
        subscriber.extend(subscription, [m.ack_id for m in messages], 0)
        found.extend(_dead_letter(spec, m) for m in messages)
    if documents is not None:
        found = with_recorded_errors(documents, found)
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
            or m.attributes.get(DEAD_LETTER_MESSAGE_ID) in message_ids
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

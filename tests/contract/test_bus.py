"""The message bus and subscriber contract: the SQLite bus and Pub/Sub (emulator) alike."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.errors import NotFoundError
from shared.ports import OutgoingMessage

DEAD_LETTER_SOURCE = "CloudPubSubDeadLetterSourceSubscription"
DEAD_LETTER_COUNT = "CloudPubSubDeadLetterSourceDeliveryCount"


def name(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_published_message_arrives_with_data_and_attributes(messaging):
    # GIVEN a subscription on a topic
    topic, subscription = name("topic"), name("sub")
    messaging.subscribe(subscription, topic)
    before = datetime.now(UTC)

    # WHEN a message is published
    message_id = messaging.bus.publish(topic, b"\x00payload\xff", {"kind": "ping", "n": "1"})

    # THEN one delivery carries it
    (delivery,) = messaging.pull_until(subscription, 1)
    assert delivery.message_id == message_id
    assert delivery.data == b"\x00payload\xff"
    assert dict(delivery.attributes) == {"kind": "ping", "n": "1"}
    assert delivery.subscription == subscription
    assert delivery.topic == topic
    assert delivery.delivery_attempt == 1
    assert before - timedelta(seconds=5) <= delivery.publish_time <= datetime.now(UTC)
    messaging.subscriber.ack(subscription, [delivery.ack_id])


def test_publish_many_returns_ids_in_order_and_delivers_each(messaging):
    topic, subscription = name("topic"), name("sub")
    messaging.subscribe(subscription, topic)
    outgoing = [OutgoingMessage(f"m{i}".encode(), {"i": str(i)}) for i in range(25)]

    message_ids = messaging.bus.publish_many(topic, outgoing)

    assert len(message_ids) == len(set(message_ids)) == 25
    received = messaging.pull_until(subscription, 25)
    by_id = {delivery.message_id: delivery for delivery in received}
    assert set(by_id) == set(message_ids)
    for i, message_id in enumerate(message_ids):
        assert by_id[message_id].data == f"m{i}".encode()
        assert dict(by_id[message_id].attributes) == {"i": str(i)}
    messaging.subscriber.ack(subscription, [delivery.ack_id for delivery in received])


def test_every_subscription_of_a_topic_gets_its_own_copy(messaging):
    topic, first, second = name("topic"), name("sub"), name("sub")
    messaging.subscribe(first, topic)
    messaging.subscribe(second, topic)

    message_id = messaging.bus.publish(topic, b"fan-out")

    for subscription in (first, second):
        (delivery,) = messaging.pull_until(subscription, 1)
        assert delivery.message_id == message_id
        messaging.subscriber.ack(subscription, [delivery.ack_id])


def test_ack_removes_a_message_and_nack_brings_it_back(messaging):
    topic, subscription = name("topic"), name("sub")
    messaging.subscribe(subscription, topic, dead_letter_topic=name("dead"))
    messaging.bus.publish_many(topic, [OutgoingMessage(b"keep"), OutgoingMessage(b"done")])
    deliveries = {d.data: d for d in messaging.pull_until(subscription, 2)}

    # WHEN one delivery is acked and the other nacked
    messaging.subscriber.ack(subscription, [deliveries[b"done"].ack_id])
    messaging.subscriber.nack(subscription, deliveries[b"keep"].ack_id, "handler failed")

    # THEN only the nacked one comes back, as a second attempt
    (again,) = messaging.pull_until(subscription, 1)
    assert again.data == b"keep"
    assert again.message_id == deliveries[b"keep"].message_id
    assert again.delivery_attempt == 2
    messaging.subscriber.ack(subscription, [again.ack_id])
    assert messaging.pull_for(subscription, 1.0) == []


def test_a_leased_message_is_not_delivered_twice_while_extended(messaging):
    topic, subscription = name("topic"), name("sub")
    messaging.subscribe(subscription, topic)
    messaging.bus.publish(topic, b"slow work")
    (delivery,) = messaging.pull_until(subscription, 1)

    messaging.subscriber.extend(subscription, [delivery.ack_id], 60)

    assert messaging.pull_for(subscription, 1.0) == []
    messaging.subscriber.ack(subscription, [delivery.ack_id])


def test_a_message_nacked_on_every_attempt_lands_in_the_dead_letter_topic(messaging):
    # GIVEN a subscription with a dead-letter topic and a holding subscription on it
    topic, subscription = name("topic"), name("sub")
    dead_letter_topic, hold = name("dead"), name("hold")
    messaging.subscribe(hold, dead_letter_topic)
    messaging.subscribe(subscription, topic, dead_letter_topic=dead_letter_topic)
    message_id = messaging.bus.publish(topic, b"poison", {"video": "v1"})

    # WHEN every delivery is refused
    attempts = []
    for _ in range(messaging.max_delivery_attempts):
        (delivery,) = messaging.pull_until(subscription, 1)
        assert delivery.message_id == message_id
        attempts.append(delivery.delivery_attempt)
        messaging.subscriber.nack(subscription, delivery.ack_id, "boom")

    # THEN it is delivered no more, and the holding subscription has it. (The Pub/Sub
    # emulator moves a message to its dead-letter topic when the subscription is next
    # pulled, as a consumer keeps doing; Pub/Sub itself does it in the background.)
    assert attempts == list(range(1, messaging.max_delivery_attempts + 1))
    dead = None
    deadline = time.monotonic() + 30
    while dead is None and time.monotonic() < deadline:
        assert messaging.subscriber.pull(subscription) == []
        held = messaging.subscriber.pull(hold)
        dead = held[0] if held else None
        time.sleep(0.05)
    assert dead is not None, "the message never reached the dead-letter topic"
    assert dead.data == b"poison"
    assert dead.attributes["video"] == "v1"
    assert dead.attributes[DEAD_LETTER_SOURCE] == subscription
    assert dead.attributes[DEAD_LETTER_COUNT] == str(messaging.max_delivery_attempts)
    assert dead.topic == dead_letter_topic
    messaging.subscriber.ack(hold, [dead.ack_id])


def test_a_subscription_gets_only_messages_published_after_it_exists(messaging):
    topic, early, late = name("topic"), name("sub"), name("sub")
    messaging.subscribe(early, topic)
    messaging.bus.publish(topic, b"before")

    messaging.subscribe(late, topic)
    messaging.bus.publish(topic, b"after")

    assert sorted(d.data for d in messaging.pull_until(early, 2)) == [b"after", b"before"]
    (delivery,) = messaging.pull_until(late, 1)
    assert delivery.data == b"after"


def test_pulling_an_unknown_subscription_raises_not_found(messaging):
    with pytest.raises(NotFoundError):
        messaging.subscriber.pull(name("nosub"))

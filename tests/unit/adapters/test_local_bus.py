"""Local bus semantics beyond the port contract: leases, backoff, dead letters, durability."""

from __future__ import annotations

import pytest
from support import poll

from shared.adapters.local.bus import DEAD_LETTER_ERROR, SqliteMessageBus
from shared.core.errors import NotFoundError
from shared.ports import OutgoingMessage


def make_bus(tmp_path, **kw) -> SqliteMessageBus:
    bus = SqliteMessageBus(tmp_path / "bus.sqlite", **kw)
    bus.create_subscription("work", "jobs", dead_letter_topic="jobs-dl", max_delivery_attempts=3)
    bus.create_subscription("jobs-dl-hold", "jobs-dl")
    return bus


# The bus's deadlines and backoffs below are tenths of a second: poll often, bounded.
POLL_TIMEOUT_S = 5.0
POLL_INTERVAL_S = 0.01


def test_every_subscription_of_a_topic_gets_its_own_copy(tmp_path):
    bus = make_bus(tmp_path)
    bus.create_subscription("audit", "jobs")

    bus.publish("jobs", b"x", {"k": "v"})

    assert [m.data for m in bus.pull("work")] == [b"x"]
    assert [m.attributes for m in bus.pull("audit")] == [{"k": "v"}]


def test_a_topic_without_subscriptions_drops_messages_like_pubsub(tmp_path):
    bus = make_bus(tmp_path)
    bus.publish("nobody-listens", b"x")
    assert bus.backlog(["work"]) == 0


def test_pull_from_unknown_subscription_is_an_error(tmp_path):
    with pytest.raises(NotFoundError, match="nope"):
        make_bus(tmp_path).pull("nope")


def test_an_unacked_delivery_comes_back_after_the_ack_deadline(tmp_path):
    bus = make_bus(tmp_path, ack_deadline_seconds=0.2)
    bus.publish("jobs", b"x")
    first = bus.pull("work")
    assert bus.pull("work") == []  # leased

    again = poll(lambda: bus.pull("work"), POLL_TIMEOUT_S, POLL_INTERVAL_S)

    assert again[0].message_id == first[0].message_id
    assert again[0].delivery_attempt == 2


def test_a_late_ack_does_not_remove_the_redelivery(tmp_path):
    bus = make_bus(tmp_path, ack_deadline_seconds=0.1)
    bus.publish("jobs", b"x")
    stale = bus.pull("work")[0]
    fresh = poll(lambda: bus.pull("work"), POLL_TIMEOUT_S, POLL_INTERVAL_S)[0]

    bus.ack("work", [stale.ack_id])
    assert bus.backlog(["work"]) == 1
    bus.ack("work", [fresh.ack_id])
    assert bus.backlog(["work"]) == 0


def test_nack_backs_off_exponentially_then_dead_letters_with_the_error(tmp_path):
    bus = make_bus(tmp_path, min_backoff_seconds=0.05, max_backoff_seconds=1.0)
    bus.publish("jobs", b"poison", {"origin": "test"})

    message = bus.pull("work")[0]
    bus.nack("work", message.ack_id, "boom 1")
    assert bus.pull("work") == []  # backing off
    message = poll(lambda: bus.pull("work"), POLL_TIMEOUT_S, POLL_INTERVAL_S)[0]
    bus.nack("work", message.ack_id, "boom 2")
    message = poll(lambda: bus.pull("work"), POLL_TIMEOUT_S, POLL_INTERVAL_S)[0]
    assert message.delivery_attempt == 3
    bus.nack("work", message.ack_id, "boom 3")

    assert bus.backlog(["work"]) == 0
    dead = bus.pull("jobs-dl-hold")
    assert len(dead) == 1
    assert dead[0].data == b"poison"
    assert dead[0].attributes["origin"] == "test"
    assert dead[0].attributes[DEAD_LETTER_ERROR] == "boom 3"
    assert dead[0].attributes["CloudPubSubDeadLetterSourceDeliveryCount"] == "3"


def test_a_handler_that_dies_every_time_ends_in_the_dead_letter(tmp_path):
    bus = make_bus(tmp_path, ack_deadline_seconds=0.05)
    bus.publish("jobs", b"crasher")
    for _ in range(3):
        # leased, never acked: the process "died"
        poll(lambda: bus.pull("work"), POLL_TIMEOUT_S, POLL_INTERVAL_S)

    poll(
        lambda: bus.pull("work") == [] and bus.backlog(["work"]) == 0,
        POLL_TIMEOUT_S,
        POLL_INTERVAL_S,
    )
    dead = bus.pull("jobs-dl-hold")
    assert [d.data for d in dead] == [b"crasher"]
    assert "ack deadline" in dead[0].attributes[DEAD_LETTER_ERROR]


def test_messages_survive_reopening_the_file(tmp_path):
    bus = make_bus(tmp_path)
    bus.publish_many("jobs", [OutgoingMessage(b"a")] * 3)
    bus.close()

    reopened = SqliteMessageBus(tmp_path / "bus.sqlite")

    assert len(reopened.pull("work")) == 3


def test_stats_split_pending_in_flight_and_retrying(tmp_path):
    bus = make_bus(tmp_path, min_backoff_seconds=30)
    for data in (b"a", b"b", b"c"):
        bus.publish("jobs", data)
    leased = bus.pull("work", max_messages=2)
    bus.nack("work", leased[0].ack_id, "later")

    stats = {s.subscription: s for s in bus.stats()}["work"]

    assert (stats.pending, stats.in_flight, stats.retrying) == (1, 1, 1)

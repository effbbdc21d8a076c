"""Back-pressure never dead-letters a healthy message; poison still reaches the dead letters.

A simulated Pub/Sub push subscription (simulated time, no sleeping) delivers a burst to an
endpoint that refuses (429) whatever exceeds its instance cap, as Cloud Run does at max
instances. What the endpoint admits runs through the real entry point
(``shared.platform.runtime.entrypoint``) over the local stores, which counts its handler's
failures and forwards poison to the dead-letter topic itself. The subscription follows
Pub/Sub's documented semantics:

- at most a "push window" of requests in flight; the window starts small, grows on each
  success and shrinks on each failure (halved, or, the least a shrinking window can do,
  by one);
- every refused or failed push is a delivery attempt; the message is offered again after
  its retry policy's exponential backoff (minimum, doubling, capped at the maximum);
- after ``max_delivery_attempts`` attempts the message goes to the dead-letter topic.
"""

from __future__ import annotations

import base64
import heapq
import itertools
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import pytest
from cloudevents.http import CloudEvent

from shared.bootstrap import build_context, build_subscriber
from shared.catalog import function_spec
from shared.config import Settings
from shared.core.errors import BusyError, TransientError
from shared.platform.backpressure import (
    Consumer,
    DeliveryBudget,
    budget_for,
    drain_seconds,
    problems,
    required_attempts,
)
from shared.platform.context import Context
from shared.platform.deadletters import NO_ERROR_RECORDED, list_dead_letters
from shared.platform.events import PUBSUB_PUBLISHED
from shared.platform.runtime.entrypoint import entrypoint
from shared.ports.bus import DEAD_LETTER_COUNT, DEAD_LETTER_SOURCE

FUNCTION = "critique_worker"
TOPIC = "critique-jobs"
BURST = 10_000
POISON = 25
INSTANCES = 20
SECONDS_PER_MESSAGE = 30.0
FAILURE_BUDGET = 5  # the entry point's own: Settings.max_delivery_attempts
INITIAL_WINDOW = 3  # "a small single-digit window"

WindowModel = Literal["halve", "decrement"]


@dataclass
class Message:
    message_id: str
    data: bytes
    attempts: int = 0
    outcome: str | None = None  # "acked" | "dead-lettered"
    refused: int = 0
    acked_at: float | None = None


@dataclass
class Result:
    messages: list[Message]
    refused: int
    pushes: int
    pubsub_dead_letters: list[Message] = field(default_factory=list)
    finished_at: float = 0.0


def push_simulation(
    handle: Callable[[Message], bool],
    messages: list[Message],
    *,
    budget: DeliveryBudget,
    instances: int,
    seconds_per_message: float,
    window_model: WindowModel,
    seed: int = 7,
) -> Result:
    """Deliver ``messages`` (all published at time 0) through a push subscription with
    ``budget`` to an endpoint of ``instances`` slots; ``handle`` runs an admitted message
    and says whether it was acknowledged (a 2xx)."""
    rng = random.Random(seed)
    ready: deque[Message] = deque(messages)
    waiting: list[tuple[float, int, Message]] = []  # (eligible at, seq, message): backoff
    completions: list[tuple[float, int, Message, bool]] = []  # (time, seq, message, acked)
    sequence = itertools.count()
    window = float(INITIAL_WINDOW)
    in_flight = 0  # pushes Pub/Sub has outstanding
    busy = 0  # requests the endpoint is serving
    now = 0.0
    result = Result(messages=messages, refused=0, pushes=0)

    def backoff(attempts: int) -> float:
        return min(
            budget.maximum_backoff_seconds,
            budget.minimum_backoff_seconds * 2 ** (attempts - 1),
        )

    def failed(message: Message) -> None:
        nonlocal window
        window = max(1.0, window / 2 if window_model == "halve" else window - 1)
        if message.attempts >= budget.max_delivery_attempts:
            message.outcome = "dead-lettered"
            result.pubsub_dead_letters.append(message)
        else:
            heapq.heappush(waiting, (now + backoff(message.attempts), next(sequence), message))

    while ready or waiting or completions:
        while waiting and waiting[0][0] <= now:
            ready.append(heapq.heappop(waiting)[2])
        # Push while the window allows.
        while ready and in_flight < int(window):
            message = ready.popleft()
            message.attempts += 1
            result.pushes += 1
            if busy >= instances:  # no instance free: Cloud Run answers 429 at once
                message.refused += 1
                result.refused += 1
                failed(message)
                continue
            in_flight += 1
            busy += 1
            acked = handle(message)
            took = seconds_per_message * rng.uniform(0.5, 1.5) if acked else 0.5
            heapq.heappush(completions, (now + took, next(sequence), message, acked))
        # Next event: a completion or the end of a backoff.
        upcoming = [t for t, *_ in completions[:1]] + [t for t, *_ in waiting[:1]]
        if not upcoming:
            break
        now = min(upcoming)
        while completions and completions[0][0] <= now:
            _, _, message, acked = heapq.heappop(completions)
            in_flight -= 1
            busy -= 1
            if acked:
                window += 1
                message.outcome = message.outcome or "acked"
                message.acked_at = now
            else:
                failed(message)
    result.finished_at = now
    return result


@pytest.fixture
def worker(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """The entry point over the local stores, serving a handler that fails poison items."""

    def make(handler_dead_letters: bool) -> tuple[Context[Settings], Callable[[Message], bool]]:
        caplog.set_level(logging.WARNING, logger="vidcurate.functions")
        settings = Settings(
            _env_file=None,
            home=tmp_path / f"home-{handler_dead_letters}",
            handler_dead_letters=handler_dead_letters,
            max_delivery_attempts=FAILURE_BUDGET,
        )
        context = build_context(settings)

        @entrypoint(FUNCTION, lambda: context)
        def critique_worker(cloud_event: CloudEvent) -> str:
            item = json.loads(base64.b64decode(cloud_event.get_data()["message"]["data"]))
            if item["poison"]:
                raise TransientError(f"model answered 500 for item {item['item']}")
            return "generated"

        def handle(message: Message) -> bool:
            """One admitted push, as functions-framework hands it over: True is a 2xx."""
            event = CloudEvent(
                {
                    "id": message.message_id,
                    "type": PUBSUB_PUBLISHED,
                    "source": f"//pubsub.googleapis.com/projects/p/topics/{TOPIC}",
                    "specversion": "1.0",
                    "time": datetime.now(UTC).isoformat(),
                },
                {
                    "message": {
                        "data": base64.b64encode(message.data).decode(),
                        "attributes": {"run": "r1"},
                        "messageId": message.message_id,
                    },
                    "subscription": f"projects/p/subscriptions/{FUNCTION}",
                },
            )
            try:
                critique_worker(event)
            except Exception:  # a 500 to Pub/Sub
                return False
            return True

        return context, handle

    return make


def burst(poison: int = POISON) -> list[Message]:
    poisoned = set(range(0, BURST, BURST // poison)) if poison else set()
    return [
        Message(str(10**15 + n), json.dumps({"item": n, "poison": n in poisoned}).encode())
        for n in range(BURST)
    ]


def is_poison(message: Message) -> bool:
    return bool(json.loads(message.data)["poison"])


@pytest.mark.parametrize("window_model", ["halve", "decrement"])
def test_a_burst_against_capped_instances_dead_letters_only_poison(worker, window_model):
    context, handle = worker(handler_dead_letters=True)
    consumer = Consumer(FUNCTION, INSTANCES, BURST, SECONDS_PER_MESSAGE)
    budget = budget_for(consumer)
    assert problems(consumer, budget) == []
    messages = burst()

    result = push_simulation(
        handle,
        messages,
        budget=budget,
        instances=INSTANCES,
        seconds_per_message=SECONDS_PER_MESSAGE,
        window_model=window_model,
    )

    healthy = [m for m in messages if not is_poison(m)]
    poison = [m for m in messages if is_poison(m)]
    # Back-pressure happened, and healthy messages met it more than once...
    assert result.refused > BURST // 100, result.refused
    assert max(m.refused for m in healthy) >= 2
    # ...and every healthy one was handled, none dead-lettered.
    assert result.pubsub_dead_letters == []
    assert all(m.outcome == "acked" for m in healthy)
    # The burst drained within the subscription's retention.
    assert result.finished_at <= budget.retention_seconds
    assert result.finished_at <= drain_seconds(consumer)
    # Poison: forwarded by the entry point after exactly its failure budget, with the error.
    letters = list_dead_letters(
        build_subscriber(context), [function_spec(FUNCTION)], documents=context.documents
    )
    assert sorted(d.source_message_id or "" for d in letters) == sorted(
        m.message_id for m in poison
    )
    for letter in letters:
        item = json.loads(letter.data)["item"]
        assert letter.error == f"model answered 500 for item {item}"
        assert letter.failures == FAILURE_BUDGET
        assert letter.attributes[DEAD_LETTER_SOURCE] == FUNCTION
        assert letter.attributes["run"] == "r1"
    # Each poison message ran exactly FAILURE_BUDGET times (refusals are not runs) and was
    # then acknowledged.
    assert all(m.outcome == "acked" for m in poison)


def test_the_old_budget_dead_letters_healthy_messages(worker):
    """Without the entry point's own count, five attempts lose healthy messages to
    back-pressure: the simulation can tell a budget that is too small."""
    _, handle = worker(handler_dead_letters=False)
    old = DeliveryBudget(
        max_delivery_attempts=5,
        minimum_backoff_seconds=10,
        maximum_backoff_seconds=600,
        retention_seconds=7 * 24 * 3600,
    )
    consumer = Consumer(FUNCTION, INSTANCES, BURST, SECONDS_PER_MESSAGE)
    assert problems(consumer, old)
    messages = burst(poison=0)

    result = push_simulation(
        handle,
        messages,
        budget=old,
        instances=INSTANCES,
        seconds_per_message=SECONDS_PER_MESSAGE,
        window_model="decrement",
    )

    assert len(result.pubsub_dead_letters) > 10, len(result.pubsub_dead_letters)


def test_pubsub_dead_letters_show_the_error_the_entry_point_recorded(worker):
    """A message Pub/Sub dead-letters itself (the handler failed fewer times than the entry
    point's budget, the rest were refusals or timeouts) is listed with its last error, found
    by content: the forwarded copy has a new id and no error attribute."""
    context, handle = worker(handler_dead_letters=True)
    failing, refused_only = burst(poison=0)[:2]
    failing.data = json.dumps({"item": 99, "poison": True}).encode()
    assert handle(failing) is False  # one real failure, recorded
    hold = function_spec(FUNCTION)
    for message in (failing, refused_only):
        context.bus.publish(
            hold.dead_letter_topic,
            message.data,
            {"run": "r1", DEAD_LETTER_SOURCE: FUNCTION, DEAD_LETTER_COUNT: "29"},
        )

    letters = list_dead_letters(build_subscriber(context), [hold], documents=context.documents)

    by_item = {json.loads(d.data)["item"]: d for d in letters}
    assert by_item[99].error == "TransientError: model answered 500 for item 99"
    assert by_item[99].failures == 1
    assert by_item[99].source_message_id == failing.message_id
    assert by_item[99].attempts == 29
    never_failed = by_item[json.loads(refused_only.data)["item"]]
    assert never_failed.error == NO_ERROR_RECORDED
    assert never_failed.failures == 0


@pytest.mark.parametrize(
    ("burst_size", "attempts"),
    [(1, 10), (100, 17), (10_000, 24), (100_000, 27), (350_000, 29)],
)
def test_required_attempts_grow_with_the_logarithm_of_the_burst(burst_size, attempts):
    assert required_attempts(burst_size) == attempts
    assert burst_size * 2.0**-attempts <= 1e-3


def test_a_burst_that_outlives_retention_is_a_problem():
    consumer = Consumer("slow", instances=1, expected_burst=350_000, seconds_per_message=30)

    found = problems(consumer, budget_for(consumer))

    assert any("raise the instance cap" in line for line in found), found


def test_waiting_for_another_delivery_is_not_a_failure(tmp_path):
    """A delivery that finds its twin at work (BusyError) is retried as often as it takes:
    never counted towards the dead letter, never recorded as a failure."""
    settings = Settings(
        _env_file=None, home=tmp_path, handler_dead_letters=True, max_delivery_attempts=5
    )
    context = build_context(settings)

    @entrypoint(FUNCTION, lambda: context)
    def critique_worker(cloud_event: CloudEvent) -> str:
        raise BusyError("item 7 is being generated by delivery abc")

    event = CloudEvent(
        {
            "id": "42",
            "type": PUBSUB_PUBLISHED,
            "source": f"//pubsub.googleapis.com/projects/p/topics/{TOPIC}",
            "specversion": "1.0",
        },
        {"message": {"data": base64.b64encode(b"{}").decode(), "messageId": "42"}},
    )
    for _ in range(3 * FAILURE_BUDGET):
        with pytest.raises(BusyError):
            critique_worker(event)

    assert context.documents.query("delivery_failures") == []
    letters = list_dead_letters(build_subscriber(context), [function_spec(FUNCTION)])
    assert letters == []

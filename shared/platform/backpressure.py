"""How many delivery attempts a push subscription needs so that back-pressure alone never
dead-letters a message: the rule every subscription in ``terraform/functions.tf`` follows.

A push subscription counts every refused delivery as an attempt: a function at its instance
cap answers 429 before our code runs. Two mechanisms keep healthy messages out of the dead
letters anyway:

- The entry point counts the failures that are ours (an exception in a handler) per message
  and forwards the message to the dead-letter topic itself, with its error, after
  ``max_delivery_attempts`` of them (``shared/platform/deliveries.py``). Poison is found
  after a handful of real tries, whatever Pub/Sub's own budget.
- Pub/Sub's budget is then sized for back-pressure. Pub/Sub pushes at most a "push window"
  of requests at once; the window grows on each success and shrinks on each failure. A
  refusal is therefore followed by a success before the window overshoots again, so while a
  backlog drains at most half of the pushes are refused, spread over the messages pushed.
  A healthy message reaches the dead letters only if it is refused on every one of its
  ``A`` attempts: at most ``B * 2**-A`` messages of a burst of ``B``. Keeping that below
  ``DEAD_LETTER_ODDS`` gives ``A >= log2(B / DEAD_LETTER_ODDS)``.
- A burst of ``B`` messages of ``T`` seconds each drains from ``C`` instances (each taking
  one request at a time) in ``B * T / C`` seconds, or twice that with the window at half
  the cap. Messages not acknowledged within the subscription's retention are dropped
  without a dead letter, so retention must cover it.

tests/unit/platform/test_backpressure.py drives the real entry point through a simulated
push subscription (window, per-message backoff, dead-letter after ``A`` attempts) against
an endpoint that refuses whatever exceeds its cap.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

DEAD_LETTER_ODDS = 1e-3
"""Expected healthy messages dead-lettered per burst by back-pressure: one in a thousand bursts."""

PUBSUB_MIN_ATTEMPTS = 5
PUBSUB_MAX_ATTEMPTS = 100
PUBSUB_MAX_BACKOFF_SECONDS = 600
PUBSUB_MAX_RETENTION_SECONDS = 31 * 24 * 3600
MIN_BACKOFF_FLOOR_SECONDS = 10
"""A refused push is not retried sooner: the instances it met are busy for about that long."""

WINDOW_UTILISATION = 0.5
"""The share of the instance cap the push window holds at least, on average, while it halves
on each refusal."""


@dataclass(frozen=True)
class Consumer:
    """A function behind a push subscription, as the back-pressure rule sees it."""

    name: str
    instances: int
    """Most requests it serves at once: max instances x requests per instance."""
    expected_burst: int
    """The most messages published to it at once (a fan-out, a bulk upload)."""
    seconds_per_message: float
    """How long one message takes, on average."""


@dataclass(frozen=True)
class DeliveryBudget:
    """What a subscription's dead-letter and retry policies allow."""

    max_delivery_attempts: int
    minimum_backoff_seconds: float
    maximum_backoff_seconds: float
    retention_seconds: float


def required_attempts(expected_burst: int) -> int:
    """Pub/Sub delivery attempts so that a burst loses no healthy message but by odds of
    ``DEAD_LETTER_ODDS``."""
    if expected_burst < 1:
        raise ValueError("expected_burst must be at least 1")
    needed = math.ceil(math.log2(expected_burst / DEAD_LETTER_ODDS))
    return max(PUBSUB_MIN_ATTEMPTS, needed)


def drain_seconds(consumer: Consumer) -> float:
    """How long a burst takes to drain with the push window at half the instance cap."""
    return (
        consumer.expected_burst
        * consumer.seconds_per_message
        / (consumer.instances * WINDOW_UTILISATION)
    )


def problems(consumer: Consumer, budget: DeliveryBudget) -> list[str]:
    """Why ``budget`` could dead-letter healthy messages of ``consumer`` (empty: it cannot)."""
    found: list[str] = []
    attempts = required_attempts(consumer.expected_burst)
    if attempts > PUBSUB_MAX_ATTEMPTS:
        found.append(
            f"{consumer.name}: a burst of {consumer.expected_burst} needs {attempts} attempts,"
            f" more than Pub/Sub's {PUBSUB_MAX_ATTEMPTS}"
        )
    if not attempts <= budget.max_delivery_attempts <= PUBSUB_MAX_ATTEMPTS:
        found.append(
            f"{consumer.name}: max_delivery_attempts {budget.max_delivery_attempts}, needs"
            f" {attempts} to {PUBSUB_MAX_ATTEMPTS} for a burst of {consumer.expected_burst}"
        )
    if not (
        MIN_BACKOFF_FLOOR_SECONDS
        <= budget.minimum_backoff_seconds
        <= budget.maximum_backoff_seconds
        <= PUBSUB_MAX_BACKOFF_SECONDS
    ):
        found.append(
            f"{consumer.name}: backoff {budget.minimum_backoff_seconds}-"
            f"{budget.maximum_backoff_seconds} s, needs {MIN_BACKOFF_FLOOR_SECONDS} <= minimum"
            f" <= maximum <= {PUBSUB_MAX_BACKOFF_SECONDS}"
        )
    drain = drain_seconds(consumer)
    if drain > PUBSUB_MAX_RETENTION_SECONDS:
        found.append(
            f"{consumer.name}: a burst of {consumer.expected_burst} drains in {drain:.0f} s,"
            f" longer than Pub/Sub keeps a message ({PUBSUB_MAX_RETENTION_SECONDS} s):"
            " raise the instance cap"
        )
    elif budget.retention_seconds < drain:
        found.append(
            f"{consumer.name}: retention {budget.retention_seconds:.0f} s, the burst drains in"
            f" {drain:.0f} s"
        )
    return found


def budget_for(consumer: Consumer) -> DeliveryBudget:
    """The smallest budget that satisfies the rule (retention at least Pub/Sub's 7 days)."""
    return DeliveryBudget(
        max_delivery_attempts=required_attempts(consumer.expected_burst),
        minimum_backoff_seconds=MIN_BACKOFF_FLOOR_SECONDS,
        maximum_backoff_seconds=PUBSUB_MAX_BACKOFF_SECONDS,
        retention_seconds=max(7 * 24 * 3600, math.ceil(drain_seconds(consumer))),
    )

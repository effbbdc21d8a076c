"""The chaos workload: a handler with an exactly-once effect, crashing on purpose.

Run as a script it serves the workload until idle, so a test can kill it mid-run and start it
again: ``python tests/chaos/worker.py HOME CRASH_RATE``.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from shared.adapters.local import build_local_services
from shared.config import Settings
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.catalog import FunctionSpec, TopicTrigger
from shared.platform.runtime.local import EventRuntime, Route
from shared.ports import DocumentStore, Transaction

SPEC = FunctionSpec("chaos", TopicTrigger("chaos"), "chaos workload", capability="platform")
SHARDS = 8
POISON_EVERY = 97


class InjectedCrashError(RuntimeError):
    """A failure the test injected."""


def settings_for(home: Path, **extra: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "min_backoff_seconds": 0.0,
        "max_backoff_seconds": 0.05,
        "max_delivery_attempts": 10,
        "ack_deadline_seconds": 2.0,
        "workers": 4,
        "log_level": "CRITICAL",
    }
    values.update(extra)
    return Settings(**values)


def _roll(message_id: str, attempt: int, salt: str) -> float:
    digest = hashlib.sha256(f"{message_id}:{attempt}:{salt}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def apply_effect(documents: DocumentStore, key: int) -> None:
    """Record ``key`` once: a result document plus a sharded counter bumped exactly once."""
    claim = f"claims/{key}"
    shard = f"counters/applied-{key % SHARDS}"

    def run(tx: Transaction) -> None:
        if tx.get(claim) is not None:
            return
        counter = tx.get(shard)
        tx.create(claim, {"key": key})
        tx.set(shard, {"count": (counter.data["count"] if counter else 0) + 1})
        tx.set(f"results/{key}", {"key": key, "square": key * key})

    documents.run_transaction(run)


def make_handler(documents: DocumentStore, crash_rate: float) -> Any:
    def handle(cloud_event: Any) -> None:
        event = parse_pubsub_event(cloud_event)
        key = json.loads(event.message.data)["k"]
        attempt = event.delivery_attempt or 1
        if key % POISON_EVERY == 0:
            raise InjectedCrashError(f"poison key {key}")
        crash = _roll(event.message.message_id, attempt, "crash") < crash_rate
        after = _roll(event.message.message_id, attempt, "when") < 0.5
        if crash and not after:
            raise InjectedCrashError(f"crash before the effect of key {key}")
        apply_effect(documents, key)
        if crash and after:
            raise InjectedCrashError(f"crash after the effect of key {key}")

    return handle


def setup(settings: Settings) -> Any:
    """Build the stores and the chaos subscription (with its dead-letter topic)."""
    blobs, documents, bus = build_local_services(settings)
    bus.create_subscription(
        SPEC.subscription,
        "chaos",
        dead_letter_topic=SPEC.dead_letter_topic,
        max_delivery_attempts=settings.max_delivery_attempts,
    )
    bus.create_subscription(SPEC.hold_subscription, SPEC.dead_letter_topic)
    return blobs, documents, bus


def build_runtime(settings: Settings, crash_rate: float) -> tuple[EventRuntime, Any, Any]:
    _blobs, documents, bus = setup(settings)
    route = Route(SPEC, make_handler(documents, crash_rate))
    return EventRuntime(settings, bus, [route]), documents, bus


if __name__ == "__main__":
    home, rate = Path(sys.argv[1]), float(sys.argv[2])
    runtime, _documents, _bus = build_runtime(settings_for(home), rate)
    runtime.run_until_idle(timeout=600)

"""The local bus's topics and subscriptions, derived from the function catalogue.

In the cloud, terraform creates the same shape: one subscription per function with a
dead-letter topic, and a holding subscription on each dead-letter topic.
"""

from __future__ import annotations

from collections.abc import Sequence

from shared.adapters.local.bus import SqliteMessageBus
from shared.config import Settings
from shared.runtime.catalog import FUNCTIONS, FunctionSpec


def ensure_local_topology(
    settings: Settings, bus: SqliteMessageBus, specs: Sequence[FunctionSpec] = FUNCTIONS
) -> None:
    """Create (or update) every subscription the catalogue needs; idempotent."""
    for spec in specs:
        bus.create_subscription(
            spec.subscription,
            spec.source_topic(settings),
            dead_letter_topic=spec.dead_letter_topic,
            max_delivery_attempts=settings.max_delivery_attempts,
        )
        bus.create_subscription(spec.hold_subscription, spec.dead_letter_topic)

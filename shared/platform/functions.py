"""Health checks: ping and echo_object.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger, TopicTrigger

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="ping",
        trigger=TopicTrigger(topic="ping"),
        capability="platform",
        description="Echo a Pub/Sub message into the document store (health check, demo).",
    ),
    FunctionSpec(
        name="echo_object",
        trigger=StorageTrigger(bucket="annotations"),
        capability="platform",
        description="Record the latest generation of every object finalized in a bucket.",
    ),
)

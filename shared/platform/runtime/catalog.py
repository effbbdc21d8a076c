"""What a deployed function is: its trigger, capability and extras (the list is
``shared/catalog.py``).

A function named ``x`` lives in ``functions/x/main.py`` with an entry point also named ``x``,
and is deployed by ``module.function["x"]`` from ``local.function_catalog`` in
``terraform/functions.tf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.platform.settings import BucketRole, PlatformSettings

StorageEventType = Literal["OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE"]


@dataclass(frozen=True)
class StorageTrigger:
    """Object events (finalized by default) in the bucket that has this role.

    ``events`` are GCS notification event types; a function that keeps state about objects
    also asks for OBJECT_DELETE and OBJECT_ARCHIVE (a delete in a versioned bucket).
    """

    bucket: BucketRole
    events: tuple[StorageEventType, ...] = ("OBJECT_FINALIZE",)


@dataclass(frozen=True)
class TopicTrigger:
    """Message published on this Pub/Sub topic."""

    topic: str


Trigger = StorageTrigger | TopicTrigger


Extra = Literal["models", "hub", "media"]
"""Optional dependency groups of ``pyproject.toml`` a function's archive may carry: model SDKs
(openai, google-genai), the Hugging Face Hub client, PyAV and Pillow."""


@dataclass(frozen=True)
class FunctionSpec:
    """One Cloud Function: its name (folder, entry point), what triggers it, the capability
    package it belongs to and the optional dependencies its archive needs."""

    name: str
    trigger: Trigger
    description: str
    capability: str
    extras: tuple[Extra, ...] = ()
    max_instances: int | None = None
    """At most this many deliveries at once: the deployed function's instance cap
    (terraform's ``max_instance_count``), and the local runtime's for this function."""

    @property
    def subscription(self) -> str:
        """The subscription that delivers this function's events."""
        return subscription_of(self.name)

    @property
    def dead_letter_topic(self) -> str:
        """Where this function's poison events end."""
        return dead_letter_topic_of(self.name)

    @property
    def hold_subscription(self) -> str:
        """The subscription that keeps dead letters for inspection and replay."""
        return f"{self.dead_letter_topic}-hold"

    def source_topic(self, settings: PlatformSettings) -> str:
        """The topic this function's subscription reads.

        Storage triggers read the bucket's notification topic, as GCS notifications and
        Eventarc do (they deliver through Pub/Sub too).
        """
        if isinstance(self.trigger, TopicTrigger):
            return self.trigger.topic
        return storage_topic(settings.bucket(self.trigger.bucket))


def storage_topic(bucket: str) -> str:
    """The topic that carries a bucket's object notifications."""
    return f"gcs-notifications-{bucket}"


def subscription_of(function: str) -> str:
    """The subscription that delivers ``function``'s events (named after it)."""
    return function


def dead_letter_topic_of(function: str) -> str:
    """Where ``function``'s poison events end."""
    return f"{function}-dead-letter"

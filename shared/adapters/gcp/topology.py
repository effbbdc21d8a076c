"""Topics, subscriptions and buckets for emulators and hand-made projects.

Production topology comes from terraform; this module creates the same shape from the
function catalogue so that the GCP adapters can run against the emulators (or a scratch
project): per function, its source topic, a pull subscription with a retry policy and a
dead-letter policy, the dead-letter topic and a holding subscription on it. Every step is
idempotent: what exists already is left as it is.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient
from google.cloud.storage import Client as StorageClient

from shared.adapters.gcp._errors import translated
from shared.platform.runtime.catalog import FunctionSpec
from shared.platform.settings import BUCKET_ROLES, PlatformSettings

# Pub/Sub's bounds on subscription settings.
MIN_DELIVERY_ATTEMPTS, MAX_DELIVERY_ATTEMPTS = 5, 100
MIN_ACK_DEADLINE_S, MAX_ACK_DEADLINE_S = 10, 600
MAX_BACKOFF_S = 600.0


def _duration(seconds: float) -> dict[str, int]:
    seconds = max(0.0, min(MAX_BACKOFF_S, seconds))
    whole = int(seconds)
    return {"seconds": whole, "nanos": round((seconds - whole) * 1e9)}


def ensure_topic(publisher: PublisherClient, project: str, topic: str) -> None:
    """Create the topic unless it exists."""
    with translated(f"pubsub topic {topic}"), contextlib.suppress(gexc.AlreadyExists):
        publisher.create_topic(request={"name": publisher.topic_path(project, topic)})


def ensure_subscription(
    subscriber: SubscriberClient,
    settings: PlatformSettings,
    name: str,
    topic: str,
    *,
    dead_letter_topic: str | None = None,
) -> None:
    """Create a pull subscription unless it exists; with a dead-letter topic, retry it too."""
    project = settings.project
    request: dict[str, Any] = {
        "name": subscriber.subscription_path(project, name),
        "topic": subscriber.topic_path(project, topic),
        "ack_deadline_seconds": max(
            MIN_ACK_DEADLINE_S, min(MAX_ACK_DEADLINE_S, round(settings.ack_deadline_seconds))
        ),
    }
    if dead_letter_topic is not None:
        request["dead_letter_policy"] = {
            "dead_letter_topic": subscriber.topic_path(project, dead_letter_topic),
            "max_delivery_attempts": max(
                MIN_DELIVERY_ATTEMPTS, min(MAX_DELIVERY_ATTEMPTS, settings.max_delivery_attempts)
            ),
        }
        request["retry_policy"] = {
            "minimum_backoff": _duration(settings.min_backoff_seconds),
            "maximum_backoff": _duration(
                max(settings.min_backoff_seconds, settings.max_backoff_seconds)
            ),
        }
    with translated(f"pubsub subscription {name}"), contextlib.suppress(gexc.AlreadyExists):
        subscriber.create_subscription(request=request)


def ensure_topology(
    settings: PlatformSettings,
    publisher: PublisherClient | None = None,
    subscriber: SubscriberClient | None = None,
    *,
    specs: Sequence[FunctionSpec],
) -> None:
    """Create every topic and subscription the catalogue's functions need."""
    own_publisher = publisher is None
    own_subscriber = subscriber is None
    publisher = publisher if publisher is not None else PublisherClient()
    subscriber = subscriber if subscriber is not None else SubscriberClient()
    try:
        for spec in specs:
            source = spec.source_topic(settings)
            ensure_topic(publisher, settings.project, source)
            ensure_topic(publisher, settings.project, spec.dead_letter_topic)
            ensure_subscription(
                subscriber,
                settings,
                spec.subscription,
                source,
                dead_letter_topic=spec.dead_letter_topic,
            )
            ensure_subscription(
                subscriber, settings, spec.hold_subscription, spec.dead_letter_topic
            )
    finally:
        if own_publisher:
            publisher.transport.close()
        if own_subscriber:
            subscriber.close()


def ensure_buckets(settings: PlatformSettings, client: StorageClient | None = None) -> None:
    """Create the four role buckets of ``settings`` unless they exist."""
    own_client = client is None
    client = client if client is not None else StorageClient(project=settings.project)
    try:
        for role in BUCKET_ROLES:
            bucket = settings.bucket(role)
            # GCS answers 409 when the bucket exists.
            with translated(f"gs://{bucket}"), contextlib.suppress(gexc.Conflict):
                client.create_bucket(bucket, location=settings.region)
    finally:
        if own_client:
            client.close()

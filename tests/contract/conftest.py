"""One suite per port, run against the local adapter and the GCP adapter (on emulators).

Every contract test takes the ``backend`` parameter through the fixtures below; the ``gcp``
case is marked ``emulator`` and grouped so that one xdist worker runs all of them against
one set of emulators.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from emulators import EMULATOR_MARKS, unique

from shared.config import Settings
from shared.ports import BlobStore, DocumentStore, MessageBus, ReceivedMessage, Subscriber

BACKENDS = [
    pytest.param("local", id="local"),
    pytest.param("gcp", id="gcp", marks=EMULATOR_MARKS),
]

MAX_DELIVERY_ATTEMPTS = 5  # Pub/Sub's smallest allowed value


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """Which adapters the test runs against: ``local`` or ``gcp``."""
    return str(request.param)


@pytest.fixture
def settings(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Settings of this test: its own home (local) or its own emulator project (gcp)."""
    project = request.getfixturevalue("gcp_project") if backend == "gcp" else "contract"
    return Settings(
        backend=backend,
        home=tmp_path / "home",
        project=project,
        min_backoff_seconds=0.05,
        max_backoff_seconds=0.2,
        max_delivery_attempts=MAX_DELIVERY_ATTEMPTS,
        ack_deadline_seconds=30,
        log_level="CRITICAL",
    )


@pytest.fixture
def blobs(backend: str, settings: Settings, request: pytest.FixtureRequest) -> Iterator[BlobStore]:
    """The blob store under test."""
    if backend == "gcp":
        request.getfixturevalue("gcs_env")
        from shared.adapters.gcp.storage import GcsBlobStore  # noqa: PLC0415

        store = GcsBlobStore(settings)
        yield store
        store.close()
        return
    from shared.adapters.local import build_local_services  # noqa: PLC0415

    local_blobs, documents, bus = build_local_services(settings)
    yield local_blobs
    documents.close()
    bus.close()


@pytest.fixture
def bucket(backend: str, blobs: BlobStore) -> str:
    """An empty bucket of this test's own."""
    name = unique("contract")
    if backend == "gcp":
        blobs.client.create_bucket(name)
    return name


@pytest.fixture
def documents(
    backend: str, settings: Settings, request: pytest.FixtureRequest
) -> Iterator[DocumentStore]:
    """The document store under test, empty."""
    if backend == "gcp":
        request.getfixturevalue("firestore_env")
        from shared.adapters.gcp.firestore import FirestoreDocumentStore  # noqa: PLC0415

        store = FirestoreDocumentStore(settings)
        yield store
        store.close()
        return
    from shared.adapters.local.documents import SqliteDocumentStore  # noqa: PLC0415

    local = SqliteDocumentStore(settings.home / "documents.sqlite")
    yield local
    local.close()


@dataclass
class BusUnderTest:
    """A bus, the subscriber over it, and how to make a subscription on this backend."""

    bus: MessageBus
    subscriber: Subscriber
    subscribe: Callable[..., None]
    max_delivery_attempts: int

    def pull_until(
        self, subscription: str, count: int, timeout: float = 30.0
    ) -> list[ReceivedMessage]:
        """Pull until ``count`` deliveries arrived (bounded); fails the test otherwise."""
        received: list[ReceivedMessage] = []
        deadline = time.monotonic() + timeout
        while len(received) < count and time.monotonic() < deadline:
            batch = self.subscriber.pull(subscription, max_messages=count - len(received))
            received.extend(batch)
            if not batch:
                time.sleep(0.05)  # bounded poll; Pub/Sub pull returns at once when empty
        assert len(received) >= count, f"{subscription}: {len(received)} of {count} arrived"
        return received

    def pull_for(self, subscription: str, seconds: float) -> list[ReceivedMessage]:
        """Everything delivered within ``seconds``."""
        received: list[ReceivedMessage] = []
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            batch = self.subscriber.pull(subscription)
            received.extend(batch)
            if not batch:
                time.sleep(0.05)
        return received


@pytest.fixture
def messaging(
    backend: str, settings: Settings, request: pytest.FixtureRequest
) -> Iterator[BusUnderTest]:
    """The message bus and subscriber under test."""
    if backend == "gcp":
        request.getfixturevalue("pubsub_env")
        from shared.adapters.gcp.pubsub import PubSubMessageBus, PubSubSubscriber  # noqa: PLC0415
        from shared.adapters.gcp.topology import ensure_subscription, ensure_topic  # noqa: PLC0415

        publisher = PubSubMessageBus(settings)
        subscriber = PubSubSubscriber(settings)

        def subscribe_gcp(name: str, topic: str, *, dead_letter_topic: str | None = None) -> None:
            for needed in (topic, dead_letter_topic):
                if needed is not None:
                    ensure_topic(publisher.publisher, settings.project, needed)
            ensure_subscription(
                subscriber.subscriber, settings, name, topic, dead_letter_topic=dead_letter_topic
            )

        yield BusUnderTest(publisher, subscriber, subscribe_gcp, settings.max_delivery_attempts)
        publisher.close()
        subscriber.close()
        return

    from shared.adapters.local.bus import SqliteMessageBus  # noqa: PLC0415

    local = SqliteMessageBus(
        settings.home / "bus.sqlite",
        ack_deadline_seconds=settings.ack_deadline_seconds,
        min_backoff_seconds=settings.min_backoff_seconds,
        max_backoff_seconds=settings.max_backoff_seconds,
        max_delivery_attempts=settings.max_delivery_attempts,
    )

    def subscribe_local(name: str, topic: str, *, dead_letter_topic: str | None = None) -> None:
        local.create_subscription(
            name,
            topic,
            dead_letter_topic=dead_letter_topic,
            max_delivery_attempts=settings.max_delivery_attempts if dead_letter_topic else None,
        )

    yield BusUnderTest(local, local, subscribe_local, settings.max_delivery_attempts)
    local.close()

"""The Google Cloud adapters: Cloud Storage, Firestore and Pub/Sub.

The client libraries honour the standard ``STORAGE_EMULATOR_HOST``,
``FIRESTORE_EMULATOR_HOST`` and ``PUBSUB_EMULATOR_HOST`` variables, so the same adapters
run against the emulators on a laptop.
"""

from __future__ import annotations

from shared.adapters.gcp.firestore import FirestoreDocumentStore
from shared.adapters.gcp.pubsub import PubSubMessageBus, PubSubSubscriber
from shared.adapters.gcp.storage import GcsBlobStore
from shared.platform.settings import PlatformSettings
from shared.ports import BlobStore, DocumentStore, MessageBus


def build_gcp_services(settings: PlatformSettings) -> tuple[BlobStore, DocumentStore, MessageBus]:
    """Build the Cloud Storage, Firestore and Pub/Sub adapters for ``settings.project``."""
    return (
        GcsBlobStore(settings),
        FirestoreDocumentStore(settings),
        PubSubMessageBus(settings),
    )


__all__ = [
    "FirestoreDocumentStore",
    "GcsBlobStore",
    "PubSubMessageBus",
    "PubSubSubscriber",
    "build_gcp_services",
]

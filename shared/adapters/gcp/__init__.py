"""The Google Cloud adapters: Cloud Storage, Firestore and Pub/Sub.

The client libraries honour the standard ``STORAGE_EMULATOR_HOST``,
``FIRESTORE_EMULATOR_HOST`` and ``PUBSUB_EMULATOR_HOST`` variables, so the same adapters
run against the emulators on a laptop.
"""

from __future__ import annotations

from google.auth import exceptions as auth_exceptions

from shared.adapters.gcp.firestore import FirestoreDocumentStore
from shared.adapters.gcp.pubsub import PubSubMessageBus, PubSubSubscriber
from shared.adapters.gcp.storage import GcsBlobStore
from shared.core.errors import ConfigError
from shared.platform.settings import PlatformSettings
from shared.ports import BlobStore, DocumentStore, MessageBus


def build_gcp_services(settings: PlatformSettings) -> tuple[BlobStore, DocumentStore, MessageBus]:
    """Build the Cloud Storage, Firestore and Pub/Sub adapters for ``settings.project``;
    without credentials (and no emulators), one ConfigError that says what to set."""
    try:
        return (
            GcsBlobStore(settings),
            FirestoreDocumentStore(settings),
            PubSubMessageBus(settings),
        )
    except auth_exceptions.DefaultCredentialsError as exc:
        raise ConfigError(
            f"--backend gcp: no Google Cloud credentials for project {settings.project} "
            "(run `gcloud auth application-default login` or set GOOGLE_APPLICATION_CREDENTIALS; "
            "for the emulators set PUBSUB_EMULATOR_HOST, FIRESTORE_EMULATOR_HOST and "
            "STORAGE_EMULATOR_HOST)"
        ) from exc


__all__ = [
    "FirestoreDocumentStore",
    "GcsBlobStore",
    "PubSubMessageBus",
    "PubSubSubscriber",
    "build_gcp_services",
]

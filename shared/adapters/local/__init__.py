"""The embedded default: folders for buckets, SQLite for documents and the message bus."""

from __future__ import annotations

from shared.adapters.local.blobstore import LocalBlobStore
from shared.adapters.local.bus import SqliteMessageBus
from shared.adapters.local.documents import SqliteDocumentStore
from shared.platform.settings import PlatformSettings


def build_local_services(
    settings: PlatformSettings,
) -> tuple[LocalBlobStore, SqliteDocumentStore, SqliteMessageBus]:
    """Build the local adapters under ``settings.home``."""
    home = settings.home
    home.mkdir(parents=True, exist_ok=True)
    bus = SqliteMessageBus(
        home / "bus.sqlite",
        ack_deadline_seconds=settings.ack_deadline_seconds,
        min_backoff_seconds=settings.min_backoff_seconds,
        max_backoff_seconds=settings.max_backoff_seconds,
        max_delivery_attempts=settings.max_delivery_attempts,
    )
    blobs = LocalBlobStore(
        home / "buckets",
        bus,
        project=settings.project,
        versions_not_kept=settings.versions_not_kept(),
    )
    documents = SqliteDocumentStore(home / "documents.sqlite")
    return blobs, documents, bus


__all__ = ["LocalBlobStore", "SqliteDocumentStore", "SqliteMessageBus", "build_local_services"]

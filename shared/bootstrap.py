"""The composition root: the one place that turns Settings into services."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from shared.config import Settings
from shared.ports import BlobStore, DocumentStore, MessageBus


@dataclass
class Services:
    """Everything a function or the CLI needs, built once per process."""

    settings: Settings
    blobs: BlobStore
    documents: DocumentStore
    bus: MessageBus
    extras: dict[str, Any] = field(default_factory=dict)

    def close(self) -> None:
        """Release connections (SQLite files, gRPC channels)."""
        for component in (self.blobs, self.documents, self.bus):
            close = getattr(component, "close", None)
            if callable(close):
                close()


def build_services(settings: Settings) -> Services:
    """Build the adapters that ``settings.backend`` selects."""
    if settings.backend == "gcp":
        from shared.adapters.gcp import build_gcp_services  # noqa: PLC0415 (cloud SDKs on demand)

        blobs, documents, bus = build_gcp_services(settings)
    else:
        from shared.adapters.local import build_local_services  # noqa: PLC0415

        blobs, documents, bus = build_local_services(settings)
    return Services(settings=settings, blobs=blobs, documents=documents, bus=bus)


_lock = threading.Lock()
_current: Services | None = None


def get_services() -> Services:
    """The process-wide services, built from the environment on first use.

    Function entry points call this; the local runtime and tests install their own with
    :func:`use_services` so that functions share the runtime's stores.
    """
    global _current  # noqa: PLW0603 (one composition per process, like a client cache)
    with _lock:
        if _current is None:
            _current = build_services(Settings())
        return _current


def use_services(services: Services | None) -> None:
    """Install (or with None, forget) the process-wide services."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = services

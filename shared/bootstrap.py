"""The composition root: the one place that turns Settings into services."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.errors import ConfigError
from shared.logging import configure_logging
from shared.ports import BlobStore, DocumentStore, HubPublisher, MessageBus, Subscriber

if TYPE_CHECKING:
    from shared.runtime.dispatch import Handler
    from shared.runtime.local import EventRuntime, RuntimeStats
    from shared.services.models import ModelClient

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


@dataclass
class Services:
    """Everything a function or the CLI needs, built once per process."""

    settings: Settings
    blobs: BlobStore
    documents: DocumentStore
    bus: MessageBus
    model_client: ModelClient | None = field(default=None, repr=False)  # built on first use

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
        from shared.runtime.topology import ensure_local_topology  # noqa: PLC0415

        blobs, documents, bus = build_local_services(settings)
        ensure_local_topology(settings, bus)
    return Services(settings=settings, blobs=blobs, documents=documents, bus=bus)


def build_hub_publisher(settings: Settings) -> HubPublisher:
    """The Hugging Face Hub publisher for ``settings`` (endpoint, token, retry bounds).

    Building it needs no token: the publisher refuses writes without one, so reads (and a
    clear error) still work on a machine where HF_TOKEN is not set.
    """
    from shared.adapters.hf import HfHubPublisher  # noqa: PLC0415 (huggingface_hub on demand)

    return HfHubPublisher(settings)


def build_model_client(services: Services) -> ModelClient:
    """The model client: providers with configured keys (offline otherwise), one limiter.

    Built once per process and shared, so the per-model rate limit covers every worker.
    """
    from shared.services.models import ModelClient, build_providers  # noqa: PLC0415

    with _lock:
        if services.model_client is None:
            services.model_client = ModelClient(
                services.settings, services.documents, build_providers(services.settings)
            )
        return services.model_client


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
            settings = Settings()
            configure_logging(settings.log_level)
            _current = build_services(settings)
        return _current


def use_services(services: Services | None) -> None:
    """Install (or with None, forget) the process-wide services."""
    global _current  # noqa: PLW0603
    with _lock:
        _current = services


def build_subscriber(services: Services) -> Subscriber:
    """Where the runtime pulls deliveries from: the local bus, or Pub/Sub subscriptions."""
    if services.settings.backend == "gcp":
        from shared.adapters.gcp.pubsub import PubSubSubscriber  # noqa: PLC0415

        return PubSubSubscriber(services.settings)
    if not isinstance(services.bus, Subscriber):
        raise ConfigError("the local bus does not implement the subscriber port")
    return services.bus


def build_runtime(
    services: Services,
    *,
    handlers: Mapping[str, Handler] | None = None,
    functions_dir: Path = FUNCTIONS_DIR,
    on_progress: Callable[[RuntimeStats], None] | None = None,
) -> EventRuntime:
    """The event runtime over every catalogued function (or only those in ``handlers``).

    Without ``handlers`` it serves the deployed entry points from ``functions_dir``.
    """
    from shared.runtime.catalog import FUNCTIONS  # noqa: PLC0415
    from shared.runtime.dispatch import load_entry_point  # noqa: PLC0415
    from shared.runtime.local import EventRuntime, Route, Scanner  # noqa: PLC0415

    if handlers is None:
        routes = [Route(spec, load_entry_point(functions_dir, spec.name)) for spec in FUNCTIONS]
    else:
        routes = [Route(spec, handlers[spec.name]) for spec in FUNCTIONS if spec.name in handlers]
    scanner = services.blobs if isinstance(services.blobs, Scanner) else None
    return EventRuntime(
        services.settings,
        build_subscriber(services),
        routes,
        scanner=scanner,
        on_progress=on_progress,
    )

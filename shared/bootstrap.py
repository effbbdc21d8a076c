"""The composition root: the one place that turns settings into a context, and the only
module that imports adapters."""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from shared.config import Settings
from shared.core.errors import ConfigError
from shared.platform.context import Context, Remotes
from shared.platform.logging import configure_logging
from shared.platform.runtime.catalog import FunctionSpec
from shared.ports import HubPublisher, MessageBus, Subscriber
from shared.ports.clips import ClipSource
from shared.ports.datasets import ShardSource
from shared.ports.images import ImageGenerator
from shared.ports.jobs import JobRunner
from shared.ports.models import ModelProvider
from shared.ports.speech import Transcriber

if TYPE_CHECKING:
    from shared.platform.runtime.dispatch import Handler
    from shared.platform.runtime.local import EventRuntime, RuntimeStats

__all__ = [
    "Context",
    "build_clip_source",
    "build_context",
    "build_hub_publisher",
    "build_image_generators",
    "build_providers",
    "build_runtime",
    "build_shard_source",
    "build_subscriber",
    "build_transcribers",
    "get_context",
    "provision_gcp",
    "use_context",
]

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


def build_context(settings: Settings) -> Context[Settings]:
    """Build the adapters that ``settings.backend`` selects, and the remote gateways' factories."""
    if settings.backend == "gcp":
        from shared.adapters.gcp import build_gcp_services  # noqa: PLC0415 (cloud SDKs on demand)

        blobs, documents, bus = build_gcp_services(settings)
    else:
        from shared.adapters.local import build_local_services  # noqa: PLC0415

        blobs, documents, bus = build_local_services(settings)
        _ensure_local_topology(settings, bus)
    remotes = Remotes(
        model_providers=build_providers,
        hub=build_hub_publisher,
        shard_source=build_shard_source,
        image_generators=build_image_generators,
        transcribers=build_transcribers,
        clip_sources=build_clip_source,
    )
    return Context(settings=settings, blobs=blobs, documents=documents, bus=bus, remotes=remotes)


def _ensure_local_topology(settings: Settings, bus: MessageBus) -> None:
    """Create (or update) every subscription the catalogue needs on the local bus.

    In the cloud, terraform creates the same shape: one subscription per function with a
    dead-letter topic, and a holding subscription on each dead-letter topic.
    """
    from shared.adapters.local.bus import SqliteMessageBus  # noqa: PLC0415
    from shared.catalog import FUNCTIONS  # noqa: PLC0415

    if not isinstance(bus, SqliteMessageBus):
        raise ConfigError("the local backend needs the SQLite message bus")
    for spec in FUNCTIONS:
        bus.create_subscription(
            spec.subscription,
            spec.source_topic(settings),
            dead_letter_topic=spec.dead_letter_topic,
            max_delivery_attempts=settings.max_delivery_attempts,
        )
        bus.create_subscription(spec.hold_subscription, spec.dead_letter_topic)


def build_hub_publisher(settings: Settings) -> HubPublisher:
    """The Hugging Face Hub publisher for ``settings`` (endpoint, token, retry bounds).

    Building it needs no token: the publisher refuses writes without one, so reads (and a
    clear error) still work on a machine where HF_TOKEN is not set.
    """
    from shared.adapters.hf.publisher import HfHubPublisher  # noqa: PLC0415

    return HfHubPublisher(settings)


def build_shard_source(settings: Settings) -> ShardSource:
    """Dataset shards on the Hub, as ``settings`` configures it (endpoint, token, retries)."""
    from shared.adapters.hf.shards import HfShardSource  # noqa: PLC0415

    return HfShardSource(settings)


def build_providers(settings: Settings) -> dict[str, ModelProvider]:
    """The model providers with configured keys (and the offline one, always)."""
    from shared.adapters.models.offline import OfflineProvider  # noqa: PLC0415

    providers: dict[str, ModelProvider] = {"offline": OfflineProvider()}
    if settings.llm_provider == "offline":
        return providers
    if settings.openai_api_key is not None or settings.openai_base_url is not None:
        from shared.adapters.models.openai_provider import OpenAIProvider  # noqa: PLC0415

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        providers["openai"] = OpenAIProvider(
            api_key=key,
            base_url=settings.openai_base_url,
            name="openai-compatible" if settings.openai_base_url else "openai",
        )
    if settings.gemini_api_key is not None:
        from shared.adapters.models.gemini_provider import GeminiProvider  # noqa: PLC0415

        providers["gemini"] = GeminiProvider(
            api_key=settings.gemini_api_key.get_secret_value(),
            base_url=settings.gemini_base_url,
        )
    return providers


def build_clip_source(settings: Settings, name: str) -> ClipSource:
    """The clip source ``name``: ``clipcafe`` (its key from the settings), or a folder of
    clips in ClipCafe's shape."""
    if name == "clipcafe":
        if settings.clipcafe_api_key is None:
            raise ConfigError(
                "ClipCafe needs an API key: set VIDCURATE_CLIPCAFE_API_KEY (CLIPCAFE_API_KEY; "
                "Secret Manager clipcafe-api-key in the cloud), or search a folder of clips "
                "with --source DIR"
            )
        from shared.adapters.clipcafe import ClipCafeSource  # noqa: PLC0415 (httpx2 on demand)

        return ClipCafeSource(
            api_key=settings.clipcafe_api_key.get_secret_value(),
            base_url=settings.clipcafe_base_url,
            requests_per_minute=settings.clip_search_per_minute,
        )
    from shared.adapters.local.clipfolder import FolderClipSource  # noqa: PLC0415

    return FolderClipSource(Path(name))


def build_transcribers(settings: Settings) -> dict[str, Transcriber]:
    """The speech-to-text providers: a compatible server (base URL) or OpenAI when
    configured, and the offline one, always."""
    from shared.adapters.models.offline_speech import OfflineTranscriber  # noqa: PLC0415

    transcribers: dict[str, Transcriber] = {"offline": OfflineTranscriber()}
    if settings.llm_provider == "offline":
        return transcribers
    base_url = settings.transcription_base_url
    if base_url is not None or settings.openai_api_key is not None:
        from shared.adapters.models.openai_speech import OpenAITranscriber  # noqa: PLC0415

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        transcribers["openai"] = OpenAITranscriber(
            api_key=key,
            base_url=base_url,
            name="openai-compatible" if base_url else "openai",
        )
    return transcribers


def build_job_runner(settings: Settings, job: str | None = None) -> JobRunner:
    """A Cloud Run job's executions: the active-learning job's by default (``learn round
    --where cloud``), or the one named (``features run --where cloud``)."""
    from shared.adapters.gcp.jobs import CloudRunJobs  # noqa: PLC0415 (its SDK loads here only)

    return CloudRunJobs(
        settings.project,
        settings.region,
        job or settings.learn_job,
        endpoint=settings.run_api_endpoint,
    )


def build_image_generators(settings: Settings) -> dict[str, ImageGenerator]:
    """The image generators with configured keys (and the offline one, always)."""
    from shared.adapters.models.offline_images import OfflineImageGenerator  # noqa: PLC0415

    generators: dict[str, ImageGenerator] = {"offline": OfflineImageGenerator()}
    if settings.llm_provider == "offline":
        return generators
    if settings.openai_api_key is not None or settings.openai_base_url is not None:
        from shared.adapters.models.openai_images import OpenAIImageGenerator  # noqa: PLC0415

        key = settings.openai_api_key.get_secret_value() if settings.openai_api_key else "none"
        generators["openai"] = OpenAIImageGenerator(
            api_key=key,
            base_url=settings.openai_base_url,
            name="openai-compatible" if settings.openai_base_url else "openai",
        )
    if settings.gemini_api_key is not None:
        from shared.adapters.models.gemini_images import GeminiImageGenerator  # noqa: PLC0415

        generators["gemini"] = GeminiImageGenerator(
            api_key=settings.gemini_api_key.get_secret_value(), base_url=settings.gemini_base_url
        )
    if settings.vertex_api_key is not None or settings.vertex_location is not None:
        from shared.adapters.models.gemini_images import ImagenGenerator  # noqa: PLC0415

        generators["imagen"] = ImagenGenerator(
            api_key=settings.vertex_api_key.get_secret_value() if settings.vertex_api_key else None,
            project=settings.project,
            location=settings.vertex_location,
            base_url=settings.vertex_base_url,
        )
    return generators


_lock = threading.Lock()
_current: Context[Settings] | None = None


def get_context() -> Context[Settings]:
    """The process-wide context, built from the environment on first use.

    Function entry points call this; the local runtime and tests install their own with
    :func:`use_context` so that functions share the runtime's stores.
    """
    global _current  # noqa: PLW0603 (one composition per process, like a client cache)
    with _lock:
        if _current is None:
            settings = Settings()
            configure_logging(settings.log_level)
            _current = build_context(settings)
        return _current


def use_context(context: Context[Settings] | None) -> None:
    """Install (or with None, forget) the process-wide context."""
    global _current  # noqa: PLW0603 (one composition per process, like a client cache)
    with _lock:
        _current = context


def build_subscriber(context: Context[Settings]) -> Subscriber:
    """Where the runtime pulls deliveries from: the local bus, or Pub/Sub subscriptions."""
    if context.settings.backend == "gcp":
        from shared.adapters.gcp.pubsub import PubSubSubscriber  # noqa: PLC0415

        return PubSubSubscriber(context.settings)
    if not isinstance(context.bus, Subscriber):
        raise ConfigError("the local bus does not implement the subscriber port")
    return context.bus


def provision_gcp(settings: Settings, specs: Sequence[FunctionSpec] | None = None) -> None:
    """Create the buckets, topics and subscriptions of the catalogue in a GCP project (or
    the emulators): what terraform creates in production."""
    from shared.adapters.gcp.topology import ensure_buckets, ensure_topology  # noqa: PLC0415
    from shared.catalog import FUNCTIONS  # noqa: PLC0415

    ensure_buckets(settings)
    ensure_topology(settings, specs=FUNCTIONS if specs is None else specs)


def build_runtime(
    context: Context[Settings],
    *,
    handlers: Mapping[str, Handler] | None = None,
    functions_dir: Path = FUNCTIONS_DIR,
    on_progress: Callable[[RuntimeStats], None] | None = None,
) -> EventRuntime:
    """The event runtime over every catalogued function (or only those in ``handlers``).

    Without ``handlers`` it serves the deployed entry points from ``functions_dir``.
    """
    from shared.catalog import FUNCTIONS  # noqa: PLC0415
    from shared.platform.runtime.dispatch import load_entry_point  # noqa: PLC0415
    from shared.platform.runtime.local import EventRuntime, Route, Scanner  # noqa: PLC0415

    if handlers is None:
        routes = [Route(spec, load_entry_point(functions_dir, spec.name)) for spec in FUNCTIONS]
    else:
        routes = [Route(spec, handlers[spec.name]) for spec in FUNCTIONS if spec.name in handlers]
    scanner = context.blobs if isinstance(context.blobs, Scanner) else None
    return EventRuntime(
        context.settings,
        build_subscriber(context),
        routes,
        scanner=scanner,
        on_progress=on_progress,
    )

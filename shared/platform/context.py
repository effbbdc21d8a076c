"""What a handler receives: its settings, the stores, the bus, and remote gateways.

The composition root (``shared/bootstrap.py``) builds one :class:`Context` per process from
the adapters that the settings select; capabilities take it as a parameter and never reach
for the root or an adapter. ``Context`` is generic in its settings, so a capability declares
the settings it reads (``Context[CritiqueSettings]``) and the process's combined settings
satisfy every capability at once.

Remote gateways (model providers, the Hub, dataset shard sources) are built on first use:
their SDKs are heavy to import and a function that never calls a model should not pay for
them. :class:`Remotes` holds the factories the root supplies and keeps what they built, and
lets a layer keep what it derives from them (the model client) once per context.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar, cast

from shared.core.errors import ConfigError
from shared.platform.settings import PlatformSettings
from shared.ports import BlobStore, DocumentStore, HubPublisher, MessageBus
from shared.ports.clips import ClipSource
from shared.ports.datasets import ShardSource
from shared.ports.images import ImageGenerator
from shared.ports.models import ModelProvider
from shared.ports.speech import Transcriber

S_co = TypeVar("S_co", bound=PlatformSettings, covariant=True)
T = TypeVar("T")
F = TypeVar("F")


@dataclass
class Remotes:
    """Factories of the remote gateways (given the settings), and what was built from them.

    What is built is kept with the settings object it was built from: a context whose
    settings are replaced (tests do; a process does not) builds again instead of using a
    gateway configured for other settings.
    """

    model_providers: Callable[[Any], Mapping[str, ModelProvider]] | None = None
    hub: Callable[[Any], HubPublisher] | None = None
    shard_source: Callable[[Any], ShardSource] | None = None
    image_generators: Callable[[Any], Mapping[str, ImageGenerator]] | None = None
    transcribers: Callable[[Any], Mapping[str, Transcriber]] | None = None
    clip_sources: Callable[[Any, str], ClipSource] | None = None
    _built: dict[object, tuple[object, object]] = field(default_factory=dict, repr=False)
    _lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def once(self, key: object, settings: object, build: Callable[[], T]) -> T:
        """``build()`` the first time ``key`` is asked for with ``settings``; the same object
        afterwards. Shared by every thread (the model client's rate limiter must be)."""
        with self._lock:
            entry = self._built.get(key)
            if entry is None or entry[0] is not settings:
                entry = (settings, build())
                self._built[key] = entry
            return cast(T, entry[1])

    def install(self, key: object, settings: object, value: object | None) -> None:
        """Use ``value`` for ``key`` with ``settings`` (None: build it again on next use)."""
        with self._lock:
            if value is None:
                self._built.pop(key, None)
            else:
                self._built[key] = (settings, value)

    def providers(self, settings: PlatformSettings) -> Mapping[str, ModelProvider]:
        """The model providers by family (``openai``, ``gemini``, ``offline``)."""
        factory = _required(self.model_providers, "model providers")
        return self.once("model_providers", settings, lambda: factory(settings))

    def hub_publisher(self, settings: PlatformSettings) -> HubPublisher:
        """The Hugging Face Hub publisher."""
        factory = _required(self.hub, "a Hub publisher")
        return self.once("hub", settings, lambda: factory(settings))

    def shards(self, settings: PlatformSettings) -> ShardSource:
        """Where dataset shards are read from."""
        factory = _required(self.shard_source, "a shard source")
        return self.once("shard_source", settings, lambda: factory(settings))

    def images(self, settings: PlatformSettings) -> Mapping[str, ImageGenerator]:
        """The image generators by family (``openai``, ``gemini``, ``imagen``, ``offline``)."""
        factory = _required(self.image_generators, "image generators")
        return self.once("image_generators", settings, lambda: factory(settings))

    def speech(self, settings: PlatformSettings) -> Mapping[str, Transcriber]:
        """The speech-to-text providers by family (``openai``, ``offline``)."""
        factory = _required(self.transcribers, "transcribers")
        return self.once("transcribers", settings, lambda: factory(settings))

    def clips(self, settings: PlatformSettings, name: str) -> ClipSource:
        """The clip source called ``name`` (``clipcafe``, or a folder of clips)."""
        factory = _required(self.clip_sources, "clip sources")
        return self.once(("clip_source", name), settings, lambda: factory(settings, name))


def _required(factory: F | None, what: str) -> F:
    if factory is None:
        raise ConfigError(f"this context was built without {what}")
    return factory


@dataclass(eq=False)
class Context(Generic[S_co]):
    """Everything a function, a job or the CLI needs, built once per process."""

    settings: S_co
    blobs: BlobStore
    documents: DocumentStore
    bus: MessageBus
    remotes: Remotes = field(default_factory=Remotes, repr=False)

    def model_providers(self) -> Mapping[str, ModelProvider]:
        """The model providers that this context's settings configure."""
        return self.remotes.providers(self.settings)

    def hub(self) -> HubPublisher:
        """The Hub publisher that this context's settings configure."""
        return self.remotes.hub_publisher(self.settings)

    def image_generators(self) -> Mapping[str, ImageGenerator]:
        """The image generators that this context's settings configure."""
        return self.remotes.images(self.settings)

    def transcribers(self) -> Mapping[str, Transcriber]:
        """The speech-to-text providers that this context's settings configure."""
        return self.remotes.speech(self.settings)

    def clip_source(self, name: str) -> ClipSource:
        """The clip source ``name`` (``clipcafe`` or a folder) as the settings configure it."""
        return self.remotes.clips(self.settings, name)

    def shard_source(self) -> ShardSource:
        """The dataset shard source that this context's settings configure."""
        return self.remotes.shards(self.settings)

    def close(self) -> None:
        """Release connections (SQLite files, gRPC channels)."""
        for component in (self.blobs, self.documents, self.bus):
            close = getattr(component, "close", None)
            if callable(close):
                close()

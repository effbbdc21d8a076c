"""Generating images: provider choice, one retry layer, a per-model rate limit, a cost ledger.

:meth:`ImageClient.generate` is to pictures what :meth:`ModelClient.generate
<shared.llm.client.ModelClient.generate>` is to text, with the same rules:

- the provider follows the model name and the keys configured (``gpt-*``, ``dall-e-*`` and
  other names: OpenAI; ``gemini-*``: Gemini; ``imagen-*``: Imagen on Vertex AI); without
  one, the offline provider draws a labelled placeholder and says so in every record;
- one tenacity layer retries rate limits, 5xx, timeouts and unusable answers, waiting at
  least what ``Retry-After`` asks, bounded by attempts, by time and by an optional deadline
  (adapters never retry);
- a sliding-window limiter keeps each model under its pictures per minute
  (``VIDCURATE_IMAGE_LIMITS``), shared by every worker thread of the process;
- a model without a price per picture (``VIDCURATE_IMAGE_PRICES``) is refused before
  anything is asked; every picture is one document in ``model_calls`` with its price, so
  ``vidcurate costs`` counts it beside the text calls.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

from tenacity import Retrying

from shared.core.errors import ConfigError
from shared.llm.client import RETRYABLE, ModelCallFailedError, retrying
from shared.llm.ledger import record_call
from shared.llm.limits import RateLimiter
from shared.llm.settings import LlmSettings, ModelLimit
from shared.platform.context import Context
from shared.ports import DocumentStore
from shared.ports.images import GeneratedImage, ImageGenerator, ImageRequest
from shared.ports.models import ModelUnavailableError

log = logging.getLogger("vidcurate.images")

IMAGE_PROMPT_NAME = "image_generation"  # the ledger's prompt_name when the caller names none


@dataclass(frozen=True)
class ImageResult:
    """A picture and what it cost."""

    data: bytes
    mime_type: str
    provider: str
    model: str  # as recorded: the version that answered, "offline-<model>" offline
    requested_model: str
    revised_prompt: str | None
    cost_usd: float
    attempts: int
    call_id: str


@dataclass(frozen=True)
class _Call:
    generator: ImageGenerator
    request: ImageRequest
    prompt_name: str
    prompt_version: str
    labels: Mapping[str, str]
    deadline: float | None


def family_of(model: str) -> str:
    """The provider family that serves ``model``: ``imagen``, ``gemini`` or ``openai``
    (every other name, as for text: an OpenAI-compatible server may serve it)."""
    if model.startswith("imagen"):
        return "imagen"
    if model.startswith("gemini"):
        return "gemini"
    return "openai"


class ImageClient:
    """The one way to generate an image (see the module docstring).

    ``generators`` are the image providers by family (``openai``, ``gemini``, ``imagen``)
    and ``offline``, which is required.
    """

    def __init__(
        self,
        settings: LlmSettings,
        documents: DocumentStore,
        generators: Mapping[str, ImageGenerator],
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if "offline" not in generators:
            raise ConfigError("the image client needs the offline image generator")
        self.settings = settings
        self._documents = documents
        self._generators = dict(generators)
        self._limiter = limiter or RateLimiter(_image_quotas(settings), clock=clock, sleep=sleep)
        self._sleep = sleep
        self._clock = clock

    def provider_for(self, model: str) -> ImageGenerator:
        """The generator that draws ``model`` with the keys configured (offline otherwise)."""
        family = family_of(model)
        if self.settings.llm_provider != "offline" and family in self._generators:
            return self._generators[family]
        return self._generators["offline"]

    def is_offline(self, model: str) -> bool:
        """Whether pictures of ``model`` would be drawn by the offline provider."""
        return self.provider_for(model).name == "offline"

    def price_per_image(self, model: str) -> float:
        """The list price of one picture of ``model`` (what it costs with keys; offline
        pictures are recorded at $0). ConfigError for a model without a price."""
        problem = self.settings.unpriced_image_message(model, "image model")
        if problem:
            raise ConfigError(problem)
        return self.settings.image_prices[model]

    def generate(
        self,
        prompt: str,
        *,
        model: str,
        category: str,
        size: str = "1024x1024",
        labels: Mapping[str, str] | None = None,
        prompt_name: str = IMAGE_PROMPT_NAME,
        prompt_version: str = "1",
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> ImageResult:
        """Draw one ``size`` picture of ``prompt`` for the style ``category`` with ``model``.

        ``prompt_name`` and ``prompt_version`` name the caller's prompt in the ledger (as
        text calls do), ``labels`` are recorded with the call (``kind``, ``run``...).
        ``deadline`` is an instant of the client's clock that no attempt or wait may pass.
        Raises ConfigError for a model without a price (before any call), ValueError for
        a ``size`` that is not ``WIDTHxHEIGHT`` or an empty prompt,
        :class:`ModelCallFailedError` when retryable failures outlast the budget, and
        ``ModelRequestError`` (permanent) at once for a request that cannot succeed (a
        refused key, a prompt the provider will not draw).
        """
        price = self.price_per_image(model)
        generator = self.provider_for(model)
        request = ImageRequest(
            model=model,
            prompt=prompt,
            category=category,
            size=size,
            timeout_seconds=self.settings.image_timeout_seconds,
            labels={**(labels or {}), "prompt_name": prompt_name},
        )
        call = _Call(generator, request, prompt_name, prompt_version, labels or {}, deadline)
        image, attempts = self._draw_with_retries(call, max_retries)
        offline = generator.name == "offline"
        result = ImageResult(
            data=image.data,
            mime_type=image.mime_type,
            provider=generator.name,
            model=image.model,
            requested_model=model,
            revised_prompt=image.revised_prompt,
            cost_usd=0.0 if offline else price,
            attempts=attempts,
            call_id=uuid.uuid4().hex,
        )
        self._record(call, image, result)
        return result

    def _retrying(self, call: _Call, max_retries: int | None) -> Retrying:
        """The model client's retry layer (shared.llm.client.retrying)."""
        return retrying(
            self.settings,
            who=call.generator.name,
            model=call.request.model,
            max_retries=max_retries,
            deadline=call.deadline,
            clock=self._clock,
            sleep=self._sleep,
        )

    def _draw_with_retries(
        self, call: _Call, max_retries: int | None
    ) -> tuple[GeneratedImage, int]:
        generator, model = call.generator, call.request.model
        attempts = 0
        try:
            for attempt in self._retrying(call, max_retries):
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if generator.name != "offline":  # no quota to respect on this machine
                        self._limiter.acquire(model, 1, deadline=call.deadline)
                    image = self._attempt(call)
        except RETRYABLE as exc:
            raise ModelCallFailedError(
                f"{generator.name} {model}: {type(exc).__name__} after {attempts} "
                f"attempt(s): {exc}",
                attempts,
                exc,
            ) from exc
        return image, attempts

    def _attempt(self, call: _Call) -> GeneratedImage:
        """One try, timed out by what is left of the deadline after any wait for the quota."""
        asked = call.request
        if call.deadline is not None:
            left = call.deadline - self._clock()
            if left <= 1:
                raise ModelUnavailableError(
                    f"{call.generator.name} {asked.model}: no time left before the deadline"
                )
            asked = replace(asked, timeout_seconds=min(asked.timeout_seconds, left))
        return call.generator.generate_image(asked)

    def _record(self, call: _Call, image: GeneratedImage, result: ImageResult) -> None:
        # One document per picture, in the ledger text calls use: `vidcurate costs` sums
        # both (by model, and by labels.kind or else prompt_name).
        record_call(
            self._documents,
            result.call_id,
            {
                "outcome": "success",
                "provider": result.provider,
                "model": result.model,
                "requested_model": result.requested_model,
                "prompt_name": call.prompt_name,
                "prompt_version": call.prompt_version,
                "input_tokens": image.input_tokens,
                "output_tokens": image.output_tokens,
                "cost_usd": result.cost_usd,
                "attempts": result.attempts,
                "labels": dict(call.labels),
                "images": 1,
                "category": call.request.category,
                "size": call.request.size,
            },
        )


def _image_quotas(settings: LlmSettings) -> LlmSettings:
    """``settings`` whose model limits are the image quotas, one "token" per picture, so the
    text layer's sliding-window limiter counts pictures per minute. Every model that can
    reach it has a price (unpriced ones are refused first), so the priced and the limited
    models are all the limiter needs."""
    limits = {
        model: ModelLimit(
            requests_per_minute=settings.image_limit(model),
            tokens_per_minute=settings.image_limit(model),
        )
        for model in {*settings.image_prices, *settings.image_limits}
    }
    return settings.model_copy(update={"model_limits": limits})


@runtime_checkable
class _ImageGeneratorsSource(Protocol):
    def image_generators(self) -> Mapping[str, ImageGenerator]: ...


def image_client(
    context: Context[LlmSettings], generators: Mapping[str, ImageGenerator] | None = None
) -> ImageClient:
    """The context's image client, with ONE rate limiter for every worker of the process
    (built on first use, again only if the context's settings are replaced).

    ``generators`` are the image providers by family (the composition root's
    ``build_image_generators(settings)``); without them, the context's own
    (``context.image_generators()``) when the context offers them. The first call builds
    the client: later calls with the same settings get it whatever they pass.
    """
    settings = context.settings

    def build() -> ImageClient:
        chosen = generators
        if chosen is None:
            if not isinstance(context, _ImageGeneratorsSource):
                raise ConfigError("this context was built without image generators")
            chosen = context.image_generators()
        return ImageClient(settings, context.documents, chosen)

    return context.remotes.once(ImageClient, settings, build)

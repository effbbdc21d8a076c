"""Transcribing audio: provider choice, one retry layer, a per-model rate limit, a cost ledger.

:meth:`TranscriptionClient.transcribe` is to audio what :meth:`ModelClient.generate
<shared.llm.client.ModelClient.generate>` is to text, with the same rules:

- the provider: an OpenAI-compatible transcription server when
  ``VIDCURATE_TRANSCRIPTION_BASE_URL`` is set (a self-hosted faster-whisper), else OpenAI
  when a key is set, else the offline transcriber (words from the clip's subtitles), which
  says so in every record;
- one tenacity layer retries rate limits, 5xx, timeouts and unusable answers, honouring
  ``Retry-After``, bounded by attempts, time and an optional deadline;
- a sliding-window limiter keeps each model under its requests per minute
  (``VIDCURATE_TRANSCRIPTION_LIMITS``), shared by every worker thread of the process;
- a model without a price per audio minute (``VIDCURATE_TRANSCRIPTION_PRICES``) is refused
  before anything is sent; every transcription is one ``model_calls`` document with its
  audio seconds and cost, so ``vidcurate costs`` counts it beside the text calls.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from shared.core.errors import ConfigError
from shared.llm.client import RETRYABLE, ModelCallFailedError, retrying
from shared.llm.ledger import record_call
from shared.llm.limits import RateLimiter
from shared.llm.settings import LlmSettings, ModelLimit
from shared.platform.context import Context
from shared.ports import DocumentStore
from shared.ports.speech import (
    Cue,
    ModelUnavailableError,
    Transcriber,
    Transcript,
    TranscriptionRequest,
)

__all__ = ["TranscriptionClient", "TranscriptionResult", "transcription_client"]

TRANSCRIPTION_PROMPT = "transcription"  # the ledger's prompt_name for speech-to-text


@dataclass(frozen=True)
class TranscriptionResult:
    """What was heard and what it cost."""

    transcript: Transcript
    provider: str
    model: str  # as recorded: "offline-<model>" offline
    audio_seconds: float
    cost_usd: float
    attempts: int
    call_id: str


class TranscriptionClient:
    """The one way to transcribe audio (see the module docstring). ``transcribers`` by
    family: ``openai`` (OpenAI or the compatible server) and ``offline`` (required)."""

    def __init__(
        self,
        settings: LlmSettings,
        documents: DocumentStore,
        transcribers: Mapping[str, Transcriber],
        *,
        limiter: RateLimiter | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if "offline" not in transcribers:
            raise ConfigError("the transcription client needs the offline transcriber")
        self.settings = settings
        self._documents = documents
        self._transcribers = dict(transcribers)
        quotas = _transcription_quotas(settings)
        self._limiter = limiter or RateLimiter(quotas, clock=clock, sleep=sleep)
        self._sleep = sleep
        self._clock = clock

    def provider_for(self, model: str) -> Transcriber:
        """The transcriber for ``model`` with the keys configured (offline otherwise)."""
        if self.settings.llm_provider != "offline" and "openai" in self._transcribers:
            return self._transcribers["openai"]
        return self._transcribers["offline"]

    def is_offline(self, model: str) -> bool:
        """Whether ``model`` would be answered from subtitles instead of heard."""
        return self.provider_for(model).name == "offline"

    def price_per_minute(self, model: str) -> float:
        """USD per audio minute of ``model``; ConfigError for a model without a price."""
        problem = self.settings.unpriced_transcription_message(model, "transcription model")
        if problem:
            raise ConfigError(problem)
        return self.settings.transcription_prices[model]

    def transcribe(
        self,
        audio: bytes,
        *,
        model: str,
        audio_seconds: float,
        language: str | None = None,
        cues: Sequence[Cue] = (),
        labels: Mapping[str, str] | None = None,
        max_retries: int | None = None,
        deadline: float | None = None,
    ) -> TranscriptionResult:
        """The words heard in ``audio`` (WAV, ``audio_seconds`` long) with ``model``.

        ``cues`` (the clip's subtitles) are what the offline transcriber answers from.
        Raises ConfigError for an unpriced model (before any call), ModelCallFailedError when
        retryable failures outlast the budget, ModelRequestError (permanent) at once.
        """
        price = self.price_per_minute(model)
        transcriber = self.provider_for(model)
        request = TranscriptionRequest(
            model=model,
            audio=audio,
            language=language,
            duration_seconds=audio_seconds,
            cues=tuple(cues),
            timeout_seconds=self.settings.transcription_timeout_seconds,
            labels=dict(labels or {}),
        )
        transcript, attempts = self._with_retries(transcriber, request, max_retries, deadline)
        offline = transcriber.name == "offline"
        result = TranscriptionResult(
            transcript=transcript,
            provider=transcriber.name,
            model=transcript.model,
            audio_seconds=audio_seconds,
            cost_usd=0.0 if offline else round(price * audio_seconds / 60.0, 8),
            attempts=attempts,
            call_id=uuid.uuid4().hex,
        )
        self._record(result, requested_model=model, labels=labels or {})
        return result

    def _with_retries(
        self,
        transcriber: Transcriber,
        request: TranscriptionRequest,
        max_retries: int | None,
        deadline: float | None,
    ) -> tuple[Transcript, int]:
        attempts = 0
        policy = retrying(
            self.settings,
            who=transcriber.name,
            model=request.model,
            max_retries=max_retries,
            deadline=deadline,
            clock=self._clock,
            sleep=self._sleep,
        )
        try:
            for attempt in policy:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    if transcriber.name != "offline":
                        self._limiter.acquire(request.model, 1, deadline=deadline)
                    transcript = transcriber.transcribe(self._timed(transcriber, request, deadline))
        except RETRYABLE as exc:
            raise ModelCallFailedError(
                f"{transcriber.name} {request.model}: {type(exc).__name__} after {attempts} "
                f"attempt(s): {exc}",
                attempts,
                exc,
            ) from exc
        return transcript, attempts

    def _timed(
        self, transcriber: Transcriber, request: TranscriptionRequest, deadline: float | None
    ) -> TranscriptionRequest:
        if deadline is None:
            return request
        left = deadline - self._clock()
        if left <= 1:
            raise ModelUnavailableError(
                f"{transcriber.name} {request.model}: no time left before the deadline"
            )
        return replace(request, timeout_seconds=min(request.timeout_seconds, left))

    def _record(
        self, result: TranscriptionResult, *, requested_model: str, labels: Mapping[str, str]
    ) -> None:
        record_call(
            self._documents,
            result.call_id,
            {
                "outcome": "success",
                "provider": result.provider,
                "model": result.model,
                "requested_model": requested_model,
                "prompt_name": TRANSCRIPTION_PROMPT,
                "prompt_version": "1",
                "input_tokens": 0,
                "output_tokens": 0,
                "audio_seconds": round(result.audio_seconds, 3),
                "cost_usd": result.cost_usd,
                "attempts": result.attempts,
                "labels": dict(labels),
            },
        )


def _transcription_quotas(settings: LlmSettings) -> LlmSettings:
    """``settings`` whose model limits are the transcription quotas, one "token" per
    request, so the text layer's sliding-window limiter counts requests per minute."""
    limits = {
        model: ModelLimit(
            requests_per_minute=settings.transcription_limit(model),
            tokens_per_minute=settings.transcription_limit(model),
        )
        for model in {*settings.transcription_prices, *settings.transcription_limits}
    }
    return settings.model_copy(update={"model_limits": limits})


def transcription_client(
    context: Context[LlmSettings], transcribers: Mapping[str, Transcriber] | None = None
) -> TranscriptionClient:
    """The context's transcription client, with ONE rate limiter for every worker of the
    process (built on first use, again only if the context's settings are replaced).
    ``transcribers`` default to the context's own (``context.transcribers()``)."""
    settings = context.settings
    return context.remotes.once(
        TranscriptionClient,
        settings,
        lambda: TranscriptionClient(
            settings, context.documents, transcribers or context.transcribers()
        ),
    )

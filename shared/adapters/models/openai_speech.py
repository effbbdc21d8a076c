"""The speech-to-text port over OpenAI's transcription API, and any server that speaks it.

``audio.transcriptions.create`` with ``response_format="verbose_json"`` and word and segment
timestamps: OpenAI's ``whisper-1`` answers words with their start and end, and segments with
their mean log-probability; self-hosted servers (faster-whisper) also give each word its
``probability``. A word's confidence is its own probability when the server gave one, else
``exp(avg_logprob)`` of the segment it falls in, else None.

One attempt (``max_retries=0``); vendor errors become the port's errors, as for chat
completions; the key never appears in a message.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import openai

from shared.adapters.models.openai_provider import OPENAI_BASE_URL, translate_status
from shared.core.text import redact
from shared.ports.speech import (
    MalformedReplyError,
    ModelRequestError,
    ModelUnavailableError,
    Transcript,
    TranscriptionRequest,
    WordTiming,
)

__all__ = ["OpenAITranscriber"]


class OpenAITranscriber:
    """``transcribe`` through ``client.audio.transcriptions``; one attempt, errors translated.

    ``base_url`` points at an OpenAI-compatible transcription server (then pass
    ``name="openai-compatible"``).
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        client: openai.OpenAI | None = None,
    ) -> None:
        self.name = name
        self._api_key = api_key
        base = client or openai.OpenAI(api_key=api_key, base_url=base_url or OPENAI_BASE_URL)
        self._client = base.with_options(max_retries=0)
        self._where = str(self._client.base_url).rstrip("/")

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        """Send the audio once; the words heard with their times."""
        where = f"{self.name} {request.model}"
        options: dict[str, Any] = {}
        if request.language:
            options["language"] = request.language
        try:
            reply = self._client.audio.transcriptions.create(
                file=(request.filename, request.audio, request.mime_type),
                model=request.model,
                response_format="verbose_json",
                timestamp_granularities=["word", "segment"],
                timeout=request.timeout_seconds,
                **options,
            )
        except openai.APITimeoutError as exc:
            raise ModelUnavailableError(
                f"{where}: no answer within {request.timeout_seconds:g} s from {self._where}"
            ) from exc
        except openai.APIConnectionError as exc:
            reason = redact(str(exc.__cause__ or exc), self._api_key)
            raise ModelUnavailableError(f"{where}: cannot reach {self._where} ({reason})") from exc
        except openai.APIStatusError as exc:
            raise translate_status(where, self._where, exc, self._api_key) from exc
        except openai.APIResponseValidationError as exc:
            raise MalformedReplyError(f"{where}: the answer is not a transcription") from exc
        return _transcript(where, reply, request.model)


def _transcript(where: str, reply: Any, model: str) -> Transcript:
    if isinstance(reply, str) or getattr(reply, "text", None) is None:
        raise MalformedReplyError(f"{where}: the answer is not a verbose transcription")
    words = getattr(reply, "words", None)
    if words is None:
        raise ModelRequestError(
            f"{where}: the answer has no word timestamps; use a model that gives them "
            "(whisper-1, or a faster-whisper server)"
        )
    segments = getattr(reply, "segments", None) or []
    timed = tuple(
        WordTiming(
            word=str(word.word).strip(),
            start=float(word.start),
            end=float(word.end),
            confidence=_confidence(word, segments),
        )
        for word in words
        if str(word.word).strip()
    )
    duration = getattr(reply, "duration", None)
    return Transcript(
        text=str(reply.text).strip(),
        words=timed,
        language=getattr(reply, "language", None),
        duration_seconds=float(duration) if duration is not None else None,
        model=model,
    )


def _confidence(word: Any, segments: Sequence[Any]) -> float | None:
    probability = getattr(word, "probability", None)
    if isinstance(probability, int | float):
        return min(1.0, max(0.0, float(probability)))
    middle = (float(word.start) + float(word.end)) / 2
    for segment in segments:
        logprob = getattr(segment, "avg_logprob", None)
        if float(segment.start) <= middle <= float(segment.end) and isinstance(
            logprob, int | float
        ):
            return min(1.0, max(0.0, math.exp(float(logprob))))
    return None

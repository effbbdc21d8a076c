"""Speech-to-text port: a clip's audio as words with their times.

Adapters (``shared/adapters/models/*_speech.py``) speak to OpenAI's transcription API
(``whisper-1``, word timestamps), to any OpenAI-compatible transcription server by base URL
(a self-hosted faster-whisper server), or answer offline from the clip's own subtitles. Like
the model port they make ONE attempt per call and raise the model port's errors
(:class:`RateLimitedError`, :class:`ModelUnavailableError`, :class:`MalformedReplyError`,
:class:`ModelRequestError`), so the one retry layer, the limits and the cost ledger
(``shared/llm/speech.py``) treat audio like text and images.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from shared.ports.models import (
    MalformedReplyError,
    ModelError,
    ModelRequestError,
    ModelUnavailableError,
    RateLimitedError,
)

__all__ = [
    "Cue",
    "MalformedReplyError",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailableError",
    "RateLimitedError",
    "Transcriber",
    "Transcript",
    "TranscriptionRequest",
    "WordTiming",
]


@dataclass(frozen=True)
class Cue:
    """A timed subtitle line."""

    start: float
    end: float
    text: str


@dataclass(frozen=True)
class TranscriptionRequest:
    """Audio to transcribe (WAV bytes), in ``language`` (ISO 639-1) when known.

    ``cues`` are the clip's subtitles, when it has any: only the offline transcriber reads
    them (it answers from them); a real model hears the audio.
    """

    model: str
    audio: bytes
    filename: str = "audio.wav"
    mime_type: str = "audio/wav"
    language: str | None = None
    duration_seconds: float | None = None
    cues: Sequence[Cue] = ()
    timeout_seconds: float = 120.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class WordTiming:
    """One word heard, from ``start`` to ``end`` seconds; ``confidence`` in 0-1 when the
    model gave one (a word's probability, else its segment's mean)."""

    word: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True)
class Transcript:
    """What was heard."""

    text: str
    words: tuple[WordTiming, ...]
    language: str | None
    duration_seconds: float | None
    model: str  # the model that answered (offline: "offline-<model>")


class Transcriber(Protocol):
    """One speech-to-text provider: ``name`` is ``openai``, ``openai-compatible`` or
    ``offline``."""

    name: str

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        """Make one attempt; raise the model port's errors, never retry."""
        ...

"""Model port: one structured call to a language or vision model.

Adapters (``shared/adapters/models/``) speak to OpenAI, Gemini, any OpenAI-compatible server,
or answer offline. They make ONE attempt per ``generate`` (SDK retries off) and translate
every failure into the errors below; retries, rate limits and the cost ledger live in one
place above them (``shared/llm/client.py``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, Protocol, TypeVar

from pydantic import BaseModel

from shared.core.errors import PermanentError, TransientError

S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class TextPart:
    """Text given to the model as data (already delimited by the prompt layer)."""

    text: str


@dataclass(frozen=True)
class MediaPart:
    """A video or image the model should look at.

    ``uri`` is an ``https://`` URL or a ``gs://`` object the provider can fetch; ``data``
    carries the bytes when no URI can be used (small images, or uploads through a provider's
    file API, which the adapter does).
    """

    mime_type: str
    uri: str | None = None
    data: bytes | None = None


Part = TextPart | MediaPart


@dataclass(frozen=True)
class ModelRequest(Generic[S]):
    """What to ask: instructions, data parts, and the pydantic schema of the answer."""

    model: str
    instructions: str
    parts: Sequence[Part]
    schema: type[S]
    max_output_tokens: int | None = None
    temperature: float | None = None
    timeout_seconds: float = 60.0
    labels: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelReply(Generic[S]):
    """A validated answer with the usage the provider reported."""

    parsed: S
    text: str
    model: str  # the version that answered (offline: "offline-<model>")
    input_tokens: int
    output_tokens: int


class ModelProvider(Protocol):
    """One provider: ``name`` is ``openai``, ``gemini``, ``openai-compatible`` or ``offline``."""

    name: str

    def generate(self, request: ModelRequest[S]) -> ModelReply[S]:
        """Make one attempt; raise the errors below, never retry."""
        ...


class ModelError(Exception):
    """Base of the model errors (mixed with our transient/permanent contract below).

    An error raised after the provider answered (a reply that does not fit the schema, a
    refusal) carries the tokens it billed for that answer, so the ledger can record them.
    """

    def __init__(self, message: str, *, input_tokens: int = 0, output_tokens: int = 0) -> None:
        super().__init__(message)
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens

    @property
    def billed(self) -> bool:
        """Whether the provider charged for the failed answer."""
        return self.input_tokens > 0 or self.output_tokens > 0


class RateLimitedError(ModelError, TransientError):
    """HTTP 429 / RESOURCE_EXHAUSTED; ``retry_after`` seconds when the provider said."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ModelUnavailableError(ModelError, TransientError):
    """5xx, timeouts, connection failures: worth another attempt."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class MalformedReplyError(ModelError, TransientError):
    """The reply was not valid JSON for the schema: ask again within the retry budget."""


class ModelRequestError(ModelError, PermanentError):
    """The request itself is wrong (400, 401, 403, 404, a refused input): do not retry."""

"""Image-generation port: one picture from a text prompt.

Adapters (``shared/adapters/models/*_images.py``) speak to OpenAI's Images API, to Gemini's
image models, to Imagen on Vertex AI, or draw an offline placeholder. Like the model port
(``shared/ports/models.py``) they make ONE attempt per ``generate_image`` and translate every
failure into the same errors (:class:`RateLimitedError`, :class:`ModelUnavailableError`,
:class:`MalformedReplyError`, :class:`ModelRequestError`), so that the one retry layer, the
rate limits and the cost ledger (``shared/llm/images.py``) treat images like text.
"""

from __future__ import annotations

import re
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
    "GeneratedImage",
    "ImageGenerator",
    "ImageRequest",
    "MalformedReplyError",
    "ModelError",
    "ModelRequestError",
    "ModelUnavailableError",
    "RateLimitedError",
    "parse_size",
]

_SIZE = re.compile(r"^([1-9][0-9]{0,4})x([1-9][0-9]{0,4})$")
MAX_SIDE = 8192  # no provider draws larger; a bigger number is a typo


def parse_size(size: str) -> tuple[int, int]:
    """``"1024x1024"`` as ``(width, height)``; ValueError for anything else."""
    match = _SIZE.fullmatch(size.strip().lower())
    if match is None:
        raise ValueError(f"image size {size!r} is not WIDTHxHEIGHT (e.g. 1024x1024)")
    width, height = int(match.group(1)), int(match.group(2))
    if width > MAX_SIDE or height > MAX_SIDE:
        raise ValueError(f"image size {size!r}: a side is over {MAX_SIDE} pixels")
    return width, height


@dataclass(frozen=True)
class ImageRequest:
    """What to draw.

    ``category`` is the style category of a training set the image is for (``photo``,
    ``bw_illustration``...): providers receive only ``prompt``, which must describe the
    style; the offline provider draws its placeholder in the category's style. ``size`` is
    ``WIDTHxHEIGHT``: OpenAI takes it as is, Gemini and Imagen the nearest aspect ratio they
    support (the picture that comes back may be of another size: check it).
    """

    model: str
    prompt: str
    category: str
    size: str = "1024x1024"
    timeout_seconds: float = 180.0
    labels: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        parse_size(self.size)  # fail where the request is made, not at the provider
        if not self.prompt.strip():
            raise ValueError("an image request needs a prompt")

    @property
    def dimensions(self) -> tuple[int, int]:
        """``(width, height)`` asked for."""
        return parse_size(self.size)


@dataclass(frozen=True)
class GeneratedImage:
    """The picture as the provider returned it (never re-encoded)."""

    data: bytes
    mime_type: str  # "image/png", "image/jpeg", "image/webp"
    model: str  # the version that answered (offline: "offline-<model>")
    revised_prompt: str | None = None  # what the provider drew from, when it rewrote ours
    input_tokens: int = 0  # usage the provider reported (0: none reported); images are
    output_tokens: int = 0  # priced per picture, tokens are kept for the record


class ImageGenerator(Protocol):
    """One image provider: ``name`` is ``openai``, ``gemini``, ``imagen`` or ``offline``."""

    name: str

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Make one attempt; raise the model port's errors, never retry."""
        ...

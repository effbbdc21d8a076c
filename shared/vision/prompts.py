"""Named, versioned prompts that describe one video frame, and their offline answers.

Importing this module registers them. The offline answer is built from the picture itself
(its size, brightness and dominant colour), so it is deterministic and differs between
frames, and says that it is offline.
"""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from shared.llm.prompts import Prompt, offline_rule, register
from shared.ports.models import MediaPart, ModelRequest

if TYPE_CHECKING:
    from PIL import Image


class FrameDescription(BaseModel):
    """What a frame prompt returns."""

    description: str = Field(min_length=1)


DESCRIBE_FRAME = register(
    Prompt(
        "describe_frame",
        "1",
        "You are shown one frame of a video. In one or two sentences, describe what is "
        "happening: who is doing what, with which objects, where. Describe only what is "
        'visible. Answer with JSON {"description": ...}.',
        ("context",),
    )
)
EGOCENTRIC_ACTIVITY = register(
    Prompt(
        "egocentric_activity",
        "1",
        "You are shown one frame of a first-person (head-mounted camera) video of a worker. In "
        "one or two sentences, say what the worker's hands are doing, with which tools or "
        "parts, and at which step of the task they seem to be. Describe only what is visible. "
        'Answer with JSON {"description": ...}.',
        ("context",),
    )
)
FRAME_PROMPTS = {prompt.name: prompt for prompt in (DESCRIBE_FRAME, EGOCENTRIC_ACTIVITY)}

_HUES = (
    (15, "red"), (45, "orange"), (70, "yellow"), (160, "green"), (200, "cyan"),
    (260, "blue"), (300, "purple"), (345, "pink"), (360, "red"),
)  # fmt: skip


def _colour(image: Image.Image) -> str:
    from PIL import ImageStat  # noqa: PLC0415 (Pillow: only when the offline rule answers)

    hue, saturation, _value = (int(v) for v in ImageStat.Stat(image.convert("HSV")).mean)
    if saturation < 40:
        return "grey"
    degrees = hue * 360 // 255
    return next(name for limit, name in _HUES if degrees <= limit)


def _describe(request: ModelRequest[Any], text: str) -> dict[str, str]:
    # Pillow is imported here, not with the prompts: every function's archive imports the
    # prompt names (through the catalogue), only analyze_frames' carries Pillow.
    from PIL import Image, ImageStat, UnidentifiedImageError  # noqa: PLC0415

    del text
    pictures = [p for p in request.parts if isinstance(p, MediaPart) and p.data]
    if not pictures:
        return {"description": "(offline) no picture was given"}
    try:
        with Image.open(io.BytesIO(pictures[0].data or b"")) as image:
            image.load()
            brightness = ImageStat.Stat(image.convert("L")).mean[0]
            if brightness < 70:
                light = "A dark"
            elif brightness > 170:
                light = "A bright"
            else:
                light = "An evenly lit"
            return {
                "description": f"(offline, not a model) {light}, mostly {_colour(image)} "
                f"{image.width}x{image.height} frame."
            }
    except (UnidentifiedImageError, OSError):
        return {"description": "(offline) the picture could not be read"}


for _name in FRAME_PROMPTS:
    offline_rule(_name)(_describe)

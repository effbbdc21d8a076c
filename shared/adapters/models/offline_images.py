"""The offline image provider: a deterministic placeholder in the category's style.

It never calls a network. The same (category, prompt) always gives the same PNG, byte for
byte, and every picture carries a visible label (``PLACEHOLDER`` and the category, black on
a white box in the top-left corner) so that no placeholder can pass for a generated image;
its model is recorded as ``offline-<model>``.

The style follows the category's name, so that a set rebalanced offline still looks like a
mix of styles to a vision model (and to a person):

- a name containing ``photo``: a smooth colour gradient with soft, blurred shapes;
- ``bw`` (as a word) or ``black``: black ink lines and hatching on white paper, grey levels only
  (every pixel has R = G = B);
- anything else: flat, saturated colour shapes.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import random
import re
from typing import Literal

from PIL import Image, ImageDraw, ImageFilter, ImageFont

from shared.ports.images import GeneratedImage, ImageRequest

Style = Literal["photo", "bw", "colour"]

LABEL = "PLACEHOLDER"
LABEL_BOX = (255, 255, 255)  # the label's box...
LABEL_INK = (0, 0, 0)  # ...and its text: pure black, which no style draws with
PAPER = 246  # the bw style's paper and ink: grey levels distinct from the label's
INK = 24
_PHOTO_SCALE = 8  # photo pictures are painted at 1/8 and scaled up: smooth and fast


def style_of(category: str) -> Style:
    """The placeholder style of a category, from its name: ``photo`` anywhere in it (also
    ``photograph``, ``photorealistic``); ``black`` anywhere, or ``bw`` as a word between
    ``_``, ``-`` or spaces (``bw_sketch``, ``ink-bw``; not ``cobweb``); else colour."""
    name = category.lower()
    if "photo" in name:
        return "photo"
    if "black" in name or "bw" in re.split(r"[_\-\s]+", name):
        return "bw"
    return "colour"


def label_lines(category: str) -> tuple[str, str]:
    """The two lines every placeholder carries."""
    return LABEL, category


def placeholder_png(category: str, prompt: str, width: int, height: int) -> bytes:
    """The PNG of the placeholder for ``(category, prompt)`` at ``width`` x ``height``."""
    digest = hashlib.sha256(f"{category}\x1f{prompt}".encode()).digest()
    rng = random.Random(int.from_bytes(digest[:8], "big"))  # noqa: S311 (a drawing, not a secret)
    style = style_of(category)
    if style == "photo":
        picture = _photo(rng, width, height)
    elif style == "bw":
        picture = _ink(rng, width, height)
    else:
        picture = _flat(rng, width, height)
    _label(picture, label_lines(category))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()


class OfflineImageGenerator:
    """Draws every picture locally; nothing leaves the machine."""

    name = "offline"

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """A deterministic, labelled placeholder of ``request.size`` in the category's style."""
        width, height = request.dimensions
        return GeneratedImage(
            data=placeholder_png(request.category, request.prompt, width, height),
            mime_type="image/png",
            model=f"offline-{request.model}",
        )


# -- styles --------------------------------------------------------------------------------


def _saturated(rng: random.Random, value: float = 1.0) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(rng.random(), 1.0, value)
    return round(red * 255), round(green * 255), round(blue * 255)


def _soft(rng: random.Random) -> tuple[int, int, int]:
    red, green, blue = colorsys.hsv_to_rgb(rng.random(), 0.35 + 0.4 * rng.random(), 0.9)
    return round(red * 255), round(green * 255), round(blue * 255)


def _photo(rng: random.Random, width: int, height: int) -> Image.Image:
    """A sky-like gradient between four corner colours, with blurred blobs over it."""
    small = (max(2, width // _PHOTO_SCALE), max(2, height // _PHOTO_SCALE))
    corners = Image.new("RGB", (2, 2))
    corners.putdata([_soft(rng) for _ in range(4)])
    base = corners.resize(small, Image.Resampling.BILINEAR)
    blobs = Image.new("RGBA", small, (0, 0, 0, 0))
    draw = ImageDraw.Draw(blobs)
    for _ in range(rng.randint(3, 6)):
        cx, cy = rng.uniform(0, small[0]), rng.uniform(0, small[1])
        rx = rng.uniform(0.08, 0.3) * small[0]
        ry = rng.uniform(0.08, 0.3) * small[1]
        draw.ellipse((cx - rx, cy - ry, cx + rx, cy + ry), fill=(*_soft(rng), 150))
    blobs = blobs.filter(ImageFilter.GaussianBlur(max(1.0, min(small) / 12)))
    painted = Image.alpha_composite(base.convert("RGBA"), blobs).convert("RGB")
    return painted.resize((width, height), Image.Resampling.BICUBIC)


def _ink(rng: random.Random, width: int, height: int) -> Image.Image:
    """Outlined shapes filled with hatching, in one ink on paper: grey levels only."""
    picture = Image.new("L", (width, height), PAPER)
    draw = ImageDraw.Draw(picture)
    stroke = max(1, min(width, height) // 160)
    for _ in range(rng.randint(3, 6)):
        box = _box(rng, width, height)
        mask = Image.new("L", (width, height), 0)
        round_shape = rng.random() < 0.5
        shape = ImageDraw.Draw(mask)
        (shape.ellipse if round_shape else shape.rectangle)(box, fill=255)
        hatching = Image.new("L", (width, height), PAPER)
        lines = ImageDraw.Draw(hatching)
        gap = rng.randint(5, 12) * stroke + stroke
        rising = rng.random() < 0.5
        for offset in range(-height, width + height, gap):
            start, end = (0, height) if rising else (height, 0)
            lines.line((offset, start, offset + height, end), fill=INK, width=stroke)
        picture.paste(hatching, (0, 0), mask)
        (draw.ellipse if round_shape else draw.rectangle)(box, outline=INK, width=stroke * 2)
    for _ in range(rng.randint(2, 5)):  # free strokes, like a pen's
        points = [(rng.uniform(0, width), rng.uniform(0, height)) for _ in range(4)]
        draw.line(points, fill=INK, width=stroke * 2, joint="curve")
    return picture.convert("RGB")


def _flat(rng: random.Random, width: int, height: int) -> Image.Image:
    """Flat, fully saturated shapes on a saturated ground; no shading, no blending."""
    picture = Image.new("RGB", (width, height), _saturated(rng, 0.85))
    draw = ImageDraw.Draw(picture)
    for _ in range(rng.randint(4, 8)):
        box = _box(rng, width, height)
        colour = _saturated(rng)
        kind = rng.randrange(3)
        if kind == 0:
            draw.ellipse(box, fill=colour)
        elif kind == 1:
            draw.rectangle(box, fill=colour)
        else:
            (left, top), (right, bottom) = box
            draw.polygon([(left, bottom), ((left + right) / 2, top), (right, bottom)], fill=colour)
    return picture


def _box(rng: random.Random, width: int, height: int) -> tuple[tuple[float, float], ...]:
    left, top = rng.uniform(0, width * 0.8), rng.uniform(0, height * 0.8)
    right = min(width, left + rng.uniform(0.15, 0.5) * width)
    bottom = min(height, top + rng.uniform(0.15, 0.5) * height)
    return (left, top), (right, bottom)


# -- the label -----------------------------------------------------------------------------


def _label(picture: Image.Image, lines: tuple[str, ...]) -> None:
    """Black text on a white box in the top-left corner, as large as the width allows."""
    width, height = picture.size
    draw = ImageDraw.Draw(picture)
    draw.fontmode = "1"  # no anti-aliasing: the text is LABEL_INK exactly, at any size
    size = max(8, min(width, height) // 14)
    while True:
        font = ImageFont.load_default(size=size)
        boxes = [draw.textbbox((0, 0), line, font=font) for line in lines]
        widest = max(box[2] for box in boxes)
        if widest <= width * 0.9 or size <= 8:
            break
        size -= 2
    line_height = max(box[3] for box in boxes) + size // 4
    margin = max(2, size // 3)
    right = min(width, widest + 3 * margin)
    bottom = min(height, len(lines) * line_height + 3 * margin)
    draw.rectangle((0, 0, right, bottom), fill=LABEL_BOX)
    for index, line in enumerate(lines):
        draw.text((margin, margin + index * line_height), line, fill=LABEL_INK, font=font)


def label_box(width: int, height: int, category: str) -> tuple[int, int, int, int]:
    """Where the label of a ``width`` x ``height`` placeholder lies (left, top, right,
    bottom), for checks that the label is there."""
    probe = Image.new("RGB", (width, height))
    _label(probe, label_lines(category))
    bbox = probe.getbbox()
    return bbox if bbox is not None else (0, 0, 0, 0)

"""Contact sheets of frames."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from shared.core.errors import PermanentError

GRID_BACKGROUND = (211, 211, 211)  # light grey


LABEL_HEIGHT = 14  # px under each thumbnail for its label


def frame_label(name: str) -> str:
    """A cell's label: ``<clip> @ <t> s`` for a frame named ``<clip>/<ms>.jpg`` (as the
    frames bucket and ``frames extract`` name them), else the file name."""
    parent, _, file_name = name.rpartition("/")
    stem = file_name.rsplit(".", 1)[0]
    if stem.isdigit() and parent:
        return f"{parent.rsplit('/', 1)[-1]} @ {int(stem) / 1000:g} s"
    return file_name


def contact_sheet(
    images: Iterable[Image.Image],
    *,
    cell: int = 200,
    columns: int = 5,
    labels: Sequence[str] | None = None,
) -> Image.Image:
    """Thumbnails (at most ``cell`` px a side, aspect kept) centred in a grid of ``columns``
    cells on a light grey background: the contact sheet evaluations look at. With
    ``labels`` (read once the images are), each cell says what it shows under its picture."""
    room = cell - LABEL_HEIGHT if labels is not None else cell
    thumbs = []
    for image in images:
        thumb = image.convert("RGB")
        thumb.thumbnail((cell, room), Image.Resampling.LANCZOS)
        thumbs.append(thumb)
    if not thumbs:
        raise PermanentError("a contact sheet needs at least one image")
    rows = math.ceil(len(thumbs) / columns)
    width = cell * min(columns, len(thumbs))
    sheet = Image.new("RGB", (width, cell * rows), GRID_BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for index, thumb in enumerate(thumbs):
        row, column = divmod(index, columns)
        x = column * cell + (cell - thumb.width) // 2
        y = row * cell + (room - thumb.height) // 2
        sheet.paste(thumb, (x, y))
        if labels is not None and index < len(labels):
            text = _fit(draw, font, labels[index], cell - 4)
            draw.text((column * cell + 2, row * cell + room + 1), text, fill=(0, 0, 0), font=font)
    return sheet


def _fit(draw: ImageDraw.ImageDraw, font: Any, text: str, width: int) -> str:
    """``text``, shortened from the left (the end says most) to fit ``width`` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("…" + text, font=font) > width:
        text = text[1:]
    return "…" + text

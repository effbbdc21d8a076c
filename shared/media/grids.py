"""Contact sheets of frames and images.

Pillow is imported when a sheet is drawn, not with this module: the package's public
surface exports :func:`contact_sheet`, and functions without the ``media`` extra import the
package.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from shared.core.errors import PermanentError

if TYPE_CHECKING:
    from PIL import Image, ImageDraw

GRID_BACKGROUND = (211, 211, 211)  # light grey


LABEL_HEIGHT = 14  # px under each thumbnail for its label
NUMBER_FONT_SIZE = 18  # px: the smallest size of a cell number (larger cells get larger ones)
NUMBER_BADGE = (0, 0, 0)  # the box a cell's number is written in, outlined in NUMBER_TEXT
NUMBER_TEXT = (255, 255, 255)


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
    numbers: Sequence[int] | None = None,
    background: str | tuple[int, int, int] = GRID_BACKGROUND,
    enlarge: bool = False,
) -> Image.Image:
    """Thumbnails (at most ``cell`` px a side, aspect kept) centred in a grid of ``columns``
    cells on a light grey background: the contact sheet evaluations look at. With
    ``labels`` (read once the images are), each cell says what it shows under its picture.

    With ``numbers`` (one per image, given up front), each picture carries its number in
    its top-left corner: white digits of at least ``NUMBER_FONT_SIZE`` px in a black box
    outlined in white, legible on light and dark pictures alike. ``background`` replaces
    the light grey (a colour name, ``#RRGGBB`` or an RGB triple); ``enlarge`` scales small
    pictures up to fill their cell (by default they are only ever scaled down)."""
    from PIL import Image, ImageDraw, ImageFont  # noqa: PLC0415 (Pillow: see the module doc)

    room = cell - LABEL_HEIGHT if labels is not None else cell
    thumbs = []
    for image in images:
        thumb = image.convert("RGB")
        if enlarge and thumb.width < cell and thumb.height < room:
            scale = min(cell / thumb.width, room / thumb.height)
            size = (max(1, round(thumb.width * scale)), max(1, round(thumb.height * scale)))
            thumb = thumb.resize(size, Image.Resampling.LANCZOS)
        thumb.thumbnail((cell, room), Image.Resampling.LANCZOS)
        thumbs.append(thumb)
    if not thumbs:
        raise PermanentError("a contact sheet needs at least one image")
    if numbers is not None and len(numbers) != len(thumbs):
        raise ValueError(f"{len(numbers)} numbers for {len(thumbs)} images")
    rows = math.ceil(len(thumbs) / columns)
    width = cell * min(columns, len(thumbs))
    sheet = Image.new("RGB", (width, cell * rows), background)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    number_font = _number_font(cell) if numbers is not None else None
    for index, thumb in enumerate(thumbs):
        row, column = divmod(index, columns)
        x = column * cell + (cell - thumb.width) // 2
        y = row * cell + (room - thumb.height) // 2
        sheet.paste(thumb, (x, y))
        if labels is not None and index < len(labels):
            text = _fit(draw, font, labels[index], cell - 4)
            draw.text((column * cell + 2, row * cell + room + 1), text, fill=(0, 0, 0), font=font)
        if numbers is not None:
            _badge(
                draw, number_font, str(numbers[index]), (x, y), (column * cell, row * cell, cell)
            )
    return sheet


def _number_font(cell: int) -> Any:
    """Pillow's own font at a size that grows with the cell (an eighth of it, at least
    ``NUMBER_FONT_SIZE``); the fixed bitmap font where Pillow cannot scale it."""
    from PIL import ImageFont  # noqa: PLC0415

    try:
        return ImageFont.load_default(size=max(NUMBER_FONT_SIZE, cell // 8))
    except (TypeError, ImportError, OSError):  # Pillow < 10.1, or built without FreeType
        return ImageFont.load_default()


def _badge(
    draw: ImageDraw.ImageDraw,
    font: Any,
    text: str,
    corner: tuple[int, int],
    cell: tuple[int, int, int],
) -> None:
    """``text`` in a filled box whose top-left corner is ``corner``, moved back inside its
    ``cell`` (left, top, side) where a small picture would let it spill over."""
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    pad = max(3, (bottom - top) // 4)
    width, height = (right - left) + 2 * pad, (bottom - top) + 2 * pad
    cell_x, cell_y, side = cell
    x = max(cell_x, min(corner[0], cell_x + side - width - 1))
    y = max(cell_y, min(corner[1], cell_y + side - height - 1))
    box = (x, y, x + width, y + height)
    draw.rectangle(box, fill=NUMBER_BADGE, outline=NUMBER_TEXT, width=1)
    draw.text((x + pad - left, y + pad - top), text, fill=NUMBER_TEXT, font=font)


def _fit(draw: ImageDraw.ImageDraw, font: Any, text: str, width: int) -> str:
    """``text``, shortened from the left (the end says most) to fit ``width`` px."""
    if draw.textlength(text, font=font) <= width:
        return text
    while text and draw.textlength("…" + text, font=font) > width:
        text = text[1:]
    return "…" + text

"""Contact sheets of frames."""

from __future__ import annotations

import math
from collections.abc import Iterable

from PIL import Image

from shared.core.errors import PermanentError

GRID_BACKGROUND = (211, 211, 211)  # light grey


def contact_sheet(
    images: Iterable[Image.Image], *, cell: int = 200, columns: int = 5
) -> Image.Image:
    """Thumbnails (at most ``cell`` px a side, aspect kept) centred in a grid of ``columns``
    cells on a light grey background: the contact sheet evaluations look at."""
    thumbs = []
    for image in images:
        thumb = image.convert("RGB")
        thumb.thumbnail((cell, cell), Image.Resampling.LANCZOS)
        thumbs.append(thumb)
    if not thumbs:
        raise PermanentError("a contact sheet needs at least one image")
    rows = math.ceil(len(thumbs) / columns)
    width = cell * min(columns, len(thumbs))
    sheet = Image.new("RGB", (width, cell * rows), GRID_BACKGROUND)
    for index, thumb in enumerate(thumbs):
        row, column = divmod(index, columns)
        x = column * cell + (cell - thumb.width) // 2
        y = row * cell + (cell - thumb.height) // 2
        sheet.paste(thumb, (x, y))
    return sheet

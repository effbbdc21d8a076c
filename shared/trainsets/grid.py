"""Numbered contact sheets of a set (Pillow).

A set's images are shown to the vision model on sheets of at most ``max_cells`` square cells,
``columns`` to a row, each picture scaled to fit its cell (aspect kept, small ones enlarged),
centred, and numbered in its top-left corner. Numbers run from 1 across the whole set: with
25 cells a sheet, the second sheet starts at 26. :func:`layout` is the geometry alone;
:func:`render` draws the sheets as JPEG; :func:`open_image` decodes an untrusted file.
"""

from __future__ import annotations

import io
import math
import struct
from collections.abc import Sequence

from PIL import Image, ImageOps, UnidentifiedImageError
from pydantic import BaseModel, ConfigDict, Field

from shared.core.errors import PermanentError
from shared.media import contact_sheet
from shared.trainsets.settings import GridSettings


class Cell(BaseModel):
    """One numbered cell of a sheet; ``box`` is ``(x0, y0, x1, y1)`` in pixels, ``x1`` and
    ``y1`` excluded (Pillow's crop box)."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1, description="The image's number in the set (1-based).")
    row: int = Field(ge=0)
    column: int = Field(ge=0)
    box: tuple[int, int, int, int]


class GridLayout(BaseModel):
    """The geometry of one sheet of a set."""

    model_config = ConfigDict(frozen=True)

    index: int = Field(ge=0, description="The sheet's position among the set's sheets.")
    width: int = Field(ge=1)
    height: int = Field(ge=1)
    columns: int = Field(ge=1)
    rows: int = Field(ge=1)
    cells: tuple[Cell, ...]

    @property
    def numbers(self) -> list[int]:
        """The image numbers on this sheet, in order."""
        return [cell.number for cell in self.cells]


class Composite(BaseModel):
    """One rendered sheet: its JPEG, its geometry, and which file each number shows."""

    model_config = ConfigDict(frozen=True)

    jpeg: bytes
    layout: GridLayout
    files: dict[int, str] = Field(description="Image number -> file name.")


def layout(count: int, grid: GridSettings) -> list[GridLayout]:
    """The sheets of a set of ``count`` images: ``max_cells`` a sheet (the last holds the
    rest), ``min(columns, cells on the sheet)`` columns, as many rows as needed; cells of
    ``thumbnail`` px, numbered from 1 across the sheets. No images, no sheets."""
    if count < 0:
        raise ValueError(f"count must be >= 0, not {count}")
    side = grid.thumbnail
    sheets = []
    for index, first in enumerate(range(0, count, grid.max_cells)):
        on_sheet = min(grid.max_cells, count - first)
        columns = min(grid.columns, on_sheet)
        rows = math.ceil(on_sheet / columns)
        cells = []
        for offset in range(on_sheet):
            row, column = divmod(offset, columns)
            x, y = column * side, row * side
            box = (x, y, x + side, y + side)
            cells.append(Cell(number=first + offset + 1, row=row, column=column, box=box))
        sheets.append(
            GridLayout(
                index=index,
                width=columns * side,
                height=rows * side,
                columns=columns,
                rows=rows,
                cells=tuple(cells),
            )
        )
    return sheets


def render(images: Sequence[tuple[str, Image.Image]], grid: GridSettings) -> list[Composite]:
    """The numbered sheets of ``(file, image)`` pairs, in order (image ``i`` is number
    ``i + 1``), as JPEG at ``grid.jpeg_quality``. Transparent parts show the background."""
    composites = []
    for sheet in layout(len(images), grid):
        chunk = images[sheet.cells[0].number - 1 : sheet.cells[-1].number]
        picture = contact_sheet(
            (_flatten(image, grid.background_rgb) for _, image in chunk),
            cell=grid.thumbnail,
            columns=sheet.columns,
            numbers=sheet.numbers,
            background=grid.background_rgb,
            enlarge=True,
        )
        data = io.BytesIO()
        picture.save(data, "JPEG", quality=grid.jpeg_quality)
        composites.append(
            Composite(
                jpeg=data.getvalue(),
                layout=sheet,
                files={
                    cell.number: file for cell, (file, _) in zip(sheet.cells, chunk, strict=True)
                },
            )
        )
    return composites


def open_image(name: str, data: bytes, *, max_side: int | None = None) -> Image.Image:
    """The picture in ``data`` (the file ``name``), fully decoded and turned upright by its
    EXIF orientation; with ``max_side``, scaled down (aspect kept) to fit that square, so a
    sheet of 25 photographs never holds them all at full size. :class:`PermanentError`
    naming the file when it is not a picture, is broken or truncated, or has more pixels
    than ``Image.MAX_IMAGE_PIXELS`` (a decompression bomb)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            # Pillow refuses past twice MAX_IMAGE_PIXELS and only warns above it; refuse both
            # here (warnings.catch_warnings would change a process-wide filter list that
            # other threads read)
            limit = Image.MAX_IMAGE_PIXELS
            if limit is not None and image.width * image.height > limit:
                raise PermanentError(
                    f"{name}: too many pixels to open safely ({image.width}x{image.height}, "
                    f"more than {limit})"
                )
            if max_side is not None:
                image.draft("RGB", (max_side, max_side))  # JPEG: decode at a smaller scale
            image.load()
            upright = ImageOps.exif_transpose(image)
            picture = upright if upright is not image else image.copy()
            if max_side is not None and max(picture.size) > max_side:
                picture.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
            return picture
    except UnidentifiedImageError as exc:
        raise PermanentError(f"{name}: not an image (no known picture format)") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PermanentError(f"{name}: too many pixels to open safely ({exc})") from exc
    except (OSError, ValueError, SyntaxError, EOFError, struct.error) as exc:
        # what Pillow's decoders and EXIF parser raise on broken or truncated data
        raise PermanentError(f"{name}: a broken or truncated picture ({exc})") from exc


def _flatten(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """``image`` with any transparency laid over ``background`` (``convert("RGB")`` alone
    would turn transparent pixels black, and black-and-white is a category)."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        base = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(base, rgba).convert("RGB")
    return image

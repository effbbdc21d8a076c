"""The prompt that classifies the numbered images of a contact sheet, and its offline answer.

Importing this module registers them. The model sees one sheet (``shared/trainsets/grid.py``)
and the categories with their descriptions, and answers every numbered cell with a category,
a quality score and a reason. The offline answer is built from the pictures themselves: each
cell is cut out of the sheet by the layout the request carries (the cells' boxes and the
sheet's background, so that only the picture's own pixels are judged), and judged by its
colour: no chroma, the black-and-white category; mostly strongly saturated pixels, a colour
illustration; else photographic. Categories are matched to those three by their names
(``bw``, ``black``, ``mono``, ``grey``; ``photo``, ``real``; ``colo(u)r``, then
``illustr``, ``styl``...), so the demo's stylised images land where a model would put them.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any

from pydantic import BaseModel, Field

from shared.llm.prompts import Prompt, offline_rule, register
from shared.ports.models import MediaPart, ModelRequest


class CellVerdict(BaseModel):
    """The model's answer for one numbered cell."""

    number: int
    category: str
    quality: int = Field(ge=1, le=10)
    reason: str = ""


class SheetAnswer(BaseModel):
    """The model's answer for one contact sheet."""

    images: list[CellVerdict]
    analysis: str = ""


EVALUATE_SHEET = register(
    Prompt(
        "evaluate_image_set",
        "1",
        "You are shown a contact sheet of a training image set. Each image has its number "
        "printed in a black box at its top-left corner. Classify EVERY numbered image (the "
        "numbers listed), exactly once, into one of the categories listed (use the category "
        "names as given), score its quality from 1 (unusable: blurred, broken, watermarked, "
        "off-subject) to 10 (excellent), and give a short reason. Then write a short "
        "analysis of the set as a whole. Answer "
        'with JSON {"images": [{"number": 1, "category": "...", "quality": 7, "reason": "..."}'
        ', ...], "analysis": "..."}.',
        ("categories", "numbers", "layout", "feedback"),
    )
)

_BLOCK = re.compile(r"<<<layout>>>\n(.*?)\n<<<end layout>>>", re.DOTALL)
_CATEGORIES = re.compile(r"<<<categories>>>\n(.*?)\n<<<end categories>>>", re.DOTALL)

BACKGROUND_SLACK = 12
"""How far (per channel) a pixel may be from the sheet's background and still count as it."""
GREY_CHROMA = 10.0
"""Mean chroma (max - min of R, G, B, 0-255) under which a picture has no colour: JPEG's
noise on grey pictures stays far below it."""
VIVID_CHROMA = 180
"""Chroma of a strongly saturated pixel: flat illustration colours reach it, photographs'
colours (and the soft tones of the offline photo placeholders, at most ~172) rarely do."""
VIVID_SHARE = 0.3
"""Share of strongly saturated pixels from which a picture is a colour illustration."""


def sheet_layout(cells: list[dict[str, Any]], background: str) -> str:
    """The ``layout`` block of a sheet: its background colour (``#RRGGBB``) and the box of
    each numbered cell, in the sheet's pixels (the offline judge cuts the cells out with it)."""
    return json.dumps({"background": background, "cells": cells})


def _categories_by_role(categories: list[str]) -> dict[str, str]:
    """Which category an offline judge gives a grey, a vivid and a photographic picture, by
    the names' hints; each role falls back to a category no other role took (then to the
    last, or the first for photographs)."""

    def words(name: str) -> list[str]:
        return [w for w in re.split(r"[_\-\s]+", name.lower()) if w]

    def first(test: Any, taken: set[str]) -> str | None:
        return next((c for c in categories if c not in taken and test(c.lower())), None)

    grey_hints = ("black", "mono", "grey", "gray", "b&w")
    bw = first(lambda n: "bw" in words(n) or any(h in n for h in grey_hints), set())
    photo = first(lambda n: "photo" in n or "real" in n, {bw} if bw else set())
    taken = {c for c in (bw, photo) if c}
    colour = first(lambda n: "colo" in n, taken) or first(
        lambda n: any(h in n for h in ("illustr", "styl", "paint", "comic", "cartoon", "draw")),
        taken,
    )
    rest = [c for c in categories if c not in taken and c != colour]
    return {
        "grey": bw or (rest[0] if rest else categories[-1]),
        "vivid": colour or (rest[-1] if rest else categories[-1]),
        "photo": photo or (rest[0] if rest else categories[0]),
    }


def _judge(request: ModelRequest[Any], text: str) -> dict[str, Any]:
    # Pillow is imported here, not with the prompt: only the archive that evaluates sets
    # carries it.
    from PIL import Image, ImageChops, ImageFilter, ImageStat  # noqa: PLC0415

    layout = json.loads(_block(_BLOCK, text, "layout"))
    categories = list(json.loads(_block(_CATEGORIES, text, "categories")))
    roles = _categories_by_role(categories)
    value = int(str(layout["background"])[1:], 16)
    background = (value >> 16, (value >> 8) & 0xFF, value & 0xFF)
    picture = next(p for p in request.parts if isinstance(p, MediaPart) and p.data)
    verdicts = []
    with Image.open(io.BytesIO(picture.data or b"")) as sheet:
        sheet.load()
        rgb = sheet.convert("RGB")
    for cell in layout["cells"]:
        crop = rgb.crop(tuple(cell["box"]))
        # The picture only, not the background around a thumbnail of another shape: the
        # pixels away from the background colour (all of them if the picture is that colour)
        away = ImageChops.difference(crop, Image.new("RGB", crop.size, background))
        mask = _max_band(away).point(lambda v: 255 if v > BACKGROUND_SLACK else 0)
        if mask.getbbox() is None:
            mask = Image.new("L", crop.size, 255)
        chroma = ImageChops.subtract(_max_band(crop), _min_band(crop))
        mean_chroma = ImageStat.Stat(chroma, mask).mean[0]
        vivid = chroma.point(lambda v: 255 if v >= VIVID_CHROMA else 0)
        vivid_share = ImageStat.Stat(vivid, mask).mean[0] / 255
        edges = ImageStat.Stat(crop.convert("L").filter(ImageFilter.FIND_EDGES), mask).stddev[0]
        quality = max(1, min(10, 2 + round(min(edges, 64.0) / 8)))
        if mean_chroma < GREY_CHROMA:
            category = roles["grey"]
        elif vivid_share >= VIVID_SHARE:
            category = roles["vivid"]
        else:
            category = roles["photo"]
        verdicts.append(
            {
                "number": cell["number"],
                "category": category,
                "quality": quality,
                "reason": (
                    f"(offline, not a model) chroma {mean_chroma:.0f}, vivid "
                    f"{vivid_share:.0%}, detail {edges:.0f}"
                ),
            }
        )
    return {
        "images": verdicts,
        "analysis": f"(offline, not a model) {len(verdicts)} images judged by colour and detail.",
    }


def _block(pattern: re.Pattern[str], text: str, name: str) -> str:
    found = pattern.search(text)
    if found is None:
        raise ValueError(f"the request has no {name} block")
    return found[1]


def _max_band(image: Any) -> Any:
    from PIL import ImageChops  # noqa: PLC0415

    red, green, blue = image.split()
    return ImageChops.lighter(ImageChops.lighter(red, green), blue)


def _min_band(image: Any) -> Any:
    from PIL import ImageChops  # noqa: PLC0415

    red, green, blue = image.split()
    return ImageChops.darker(ImageChops.darker(red, green), blue)


offline_rule(EVALUATE_SHEET.name)(_judge)

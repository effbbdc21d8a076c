"""Sample training sets for the demo: photographs (frames of the sample clips, cropped and
mirrored into distinct pictures) and stylised versions of other frames made with Pillow
filters (black-and-white ink, flat saturated colour), mixed off the target on purpose."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

# set id -> (photographs, black-and-white, colour): two sets off the 13/4/3 target, one on it.
DEMO_SETS: dict[str, tuple[int, int, int]] = {
    "demo_actor_a": (17, 1, 0),
    "demo_actor_b": (6, 9, 5),
    "demo_actor_c": (13, 4, 3),
}


def _variants(frames: Sequence[Image.Image]) -> list[Image.Image]:
    """Distinct pictures from a few frames: crops of each corner and the centre, mirrored."""
    out: list[Image.Image] = []
    for frame in frames:
        width, height = frame.size
        w, h = int(width * 0.7), int(height * 0.7)
        boxes = [
            (0, 0, w, h),
            (width - w, 0, width, h),
            (0, height - h, w, height),
            (width - w, height - h, width, height),
            ((width - w) // 2, (height - h) // 2, (width + w) // 2, (height + h) // 2),
        ]
        for box in boxes:
            crop = frame.crop(box)
            out.append(crop)
            out.append(ImageOps.mirror(crop))
    return out


def ink(image: Image.Image) -> Image.Image:
    """A black-and-white pen-and-ink look: edges drawn dark on white."""
    grey = ImageOps.grayscale(image).filter(ImageFilter.SMOOTH)
    edges = ImageOps.invert(grey.filter(ImageFilter.FIND_EDGES))
    return ImageOps.autocontrast(edges).point(lambda v: 255 if v > 200 else v // 2).convert("RGB")


def comic(image: Image.Image) -> Image.Image:
    """A flat, saturated colour illustration: a few bands of vivid colour, whatever the
    colours of the picture it starts from."""
    bands = ImageOps.posterize(ImageOps.grayscale(image).filter(ImageFilter.SMOOTH_MORE), 2)
    vivid = ImageOps.colorize(bands, black="#3b0a8f", mid="#e8175d", white="#ffd23f")
    return ImageEnhance.Color(vivid).enhance(1.5)


def _colourful(image: Image.Image) -> bool:
    """Whether a frame looks like a photograph: some colour, neither black nor blank."""
    small = image.convert("RGB").resize((32, 18))
    red, green, blue = (list(band.tobytes()) for band in small.split())
    chroma = sum(max(c) - min(c) for c in zip(red, green, blue, strict=True)) / len(red)
    light = (sum(red) + sum(green) + sum(blue)) / (3 * len(red))
    return chroma >= 15 and 30 <= light <= 225


def variant_jpegs(frames: Sequence[bytes]) -> list[list[bytes]]:
    """For each frame, its ten crops and mirrors as JPEGs (the labelling demo's extra frames:
    variants of one frame look alike, as frames of one shot do)."""
    out = []
    for data in frames:
        with Image.open(io.BytesIO(data)) as picture:
            group = []
            for variant in _variants([picture.convert("RGB")]):
                buffer = io.BytesIO()
                variant.save(buffer, "JPEG", quality=85)
                group.append(buffer.getvalue())
        out.append(group)
    return out


def write_demo_sets(frames: Sequence[bytes], folder: Path) -> dict[str, Path]:
    """Write the demo sets as folders of JPEGs under ``folder``; their folders by set id."""
    pictures = [Image.open(io.BytesIO(data)).convert("RGB") for data in frames]
    if not pictures:
        raise ValueError("the demo sets need at least one frame")
    photographs = [p for p in pictures if _colourful(p)] or pictures
    pool = _variants(photographs)
    made: dict[str, Path] = {}
    taken = 0
    for set_id, (photos, bw, colour) in DEMO_SETS.items():
        target = folder / set_id
        target.mkdir(parents=True, exist_ok=True)
        for kind, count, style in (("photo", photos, None), ("ink", bw, ink),
                                   ("comic", colour, comic)):  # fmt: skip
            for n in range(count):
                picture = pool[taken % len(pool)]
                taken += 1
                drawn = style(picture) if style is not None else picture
                drawn.save(target / f"{kind}_{n:02d}.jpg", "JPEG", quality=90)
        made[set_id] = target
    return made

"""Synthetic frames whose classes are visible, for the active-learning tests: a shape whose
colour is the perspective class and whose size is the distance class, on a noisy background;
labelled by two annotators (the same answers, or some disagreements)."""

from __future__ import annotations

import io
import random

from PIL import Image, ImageDraw

from shared.config import Settings
from shared.learning import Label, record_label
from shared.media import clip_id
from shared.platform.context import Context

COLOURS = {"first_person": (220, 40, 40), "third_person": (40, 200, 40), "overhead": (40, 60, 230)}
SIZES = {"close": 0.8, "medium": 0.5, "far": 0.25}


def shape_jpeg(perspective: str, distance: str, rng: random.Random, side: int = 64) -> bytes:
    """A noisy square picture with one shape: its colour and size are the classes."""
    grey = bytes(96 + b % 64 for b in rng.randbytes(side * side))  # seeded noise
    image = Image.frombytes("L", (side, side), grey).convert("RGB")
    draw = ImageDraw.Draw(image)
    extent = SIZES[distance] * side
    x = rng.uniform(0, side - extent)
    y = rng.uniform(0, side - extent)
    draw.ellipse((x, y, x + extent, y + extent), fill=COLOURS[perspective])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def add_shape_frames(
    services: Context[Settings],
    per_class: int,
    *,
    labelled: float = 1.0,
    seed: int = 0,
    prefix: str = "shapes",
    random_labels: bool = False,
) -> dict[str, tuple[str, str]]:
    """``per_class`` frames of every (perspective, distance) pair, one clip each of 9 frames
    per repetition, registered as sampled clips; the first ``labelled`` share of each pair
    labelled by ``ann`` and ``ben`` alike (``random_labels``: with the classes dealt at random
    instead). Frame -> its true classes."""
    rng = random.Random(seed)
    bucket = services.settings.frames_bucket
    truth: dict[str, tuple[str, str]] = {}
    for n in range(per_class):
        key = f"{prefix}/clip{n:04d}"
        frames = []
        for p in COLOURS:
            for d in SIZES:
                path = f"{key}/{len(frames) * 1000 + 500}.jpg"
                services.blobs.write(bucket, path, shape_jpeg(p, d, rng), content_type="image/jpeg")
                frames.append({"path": path, "timestamp": len(frames), "width": 64, "height": 64})
                truth[path] = (p, d)
        services.documents.set(
            f"clips/{clip_id('videos', key)}", {"status": "done", "frames": frames}
        )
    cutoff = round(per_class * labelled)
    answers = dict(truth)
    if random_labels:  # the same classes, dealt at random: nothing to learn, all to memorise
        dealt = list(truth.values())
        rng.shuffle(dealt)
        answers = dict(zip(truth, dealt, strict=True))
    for path, (p, d) in answers.items():
        clip = int(path.split("/")[1].removeprefix("clip"))
        if clip >= cutoff:
            continue
        for annotator in ("ann", "ben"):
            record_label(
                services.documents,
                annotator=annotator,
                frame_id=path,
                label=Label(classes={"perspective": p, "distance": d}),
                revision=0,
                queue_version="test",
                position=0,
            )
    return truth

"""What the labelling tests share: sampled clips written as ``extract_frames`` writes them
(a ``clips/<id>`` document with its frames, the JPEGs in the frames bucket), and the web app
served by uvicorn from a thread on a free port."""

from __future__ import annotations

import io
from typing import Any

import pytest
from PIL import Image, ImageDraw

from shared.config import Settings
from shared.learning import Labelling
from shared.media import clip_id
from shared.platform.context import Context
from shared.web.server import served

BROWSER_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
CHROMIUM = "/usr/bin/chromium"


def frame_jpeg(number: int, size: tuple[int, int] = (320, 180)) -> bytes:
    """A small distinct JPEG: a colour from ``number`` and the number drawn on it."""
    colour = ((number * 67) % 256, (number * 131) % 256, (number * 199) % 256)
    image = Image.new("RGB", size, colour)
    ImageDraw.Draw(image).text((10, 10), f"#{number}", fill=(255, 255, 255))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def add_sampled_clips(
    services: Context[Settings],
    clips: int,
    frames_per_clip: int = 3,
    *,
    prefix: str = "t",
    start: int = 0,
    images: bool = True,
) -> list[str]:
    """Register ``clips`` sampled clips (ids ``prefix/clip<n>``) with their frames, as
    ``extract_frames`` leaves them; the frame ids, clip by clip."""
    frame_ids: list[str] = []
    bucket = services.settings.frames_bucket
    for n in range(start, start + clips):
        key = f"{prefix}/clip{n:05d}"
        frames: list[dict[str, Any]] = []
        for f in range(frames_per_clip):
            timestamp_ms = 5000 + f * 10_000
            path = f"{key}/{timestamp_ms}.jpg"
            frames.append(
                {"timestamp": timestamp_ms / 1000, "path": path, "width": 320, "height": 180}
            )
            frame_ids.append(path)
            if images:
                number = n * frames_per_clip + f
                services.blobs.write(bucket, path, frame_jpeg(number), content_type="image/jpeg")
        services.documents.set(
            f"clips/{clip_id('videos', key + '.mp4')}",
            {"status": "done", "name": key + ".mp4", "video_key": key, "frames": frames},
        )
    return frame_ids


def label_first(
    labelling: Labelling, annotator: str, count: int | None, classes: dict[str, str]
) -> int:
    """Answer the first ``count`` frames (all with None) of the annotator's queue with
    ``classes``, as the page does; how many."""
    queue = labelling.queue(annotator)
    frame_ids = queue.frame_ids[:count] if count is not None else queue.frame_ids
    for position, frame_id in enumerate(frame_ids):
        labelling.answer(
            annotator,
            position=position,
            frame_id=frame_id,
            queue_version=queue.version,
            revision=0,
            classes=classes,
        )
    return len(frame_ids)


web_app = served
"""The web app over a context, served from a thread; its base URL (``shared.web.server``)."""


@pytest.fixture
def services(make_services) -> Context[Settings]:
    """A context with the default labelling settings."""
    return make_services()

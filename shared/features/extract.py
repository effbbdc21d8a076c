"""One decode per video for every selected extractor.

The clip is opened once; the frames every extractor needs are sampled in one pass over the
union of their schedules (each extractor's interval from 0 s, over the whole clip), each frame
scaled down once to the largest size any extractor needs, and handed to the extractors whose
schedule it is on. An extractor that needs no frame (``technical``) costs no decode at all.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from shared.features.extractors import EXTRACTORS, Extractor
from shared.media import Sampling
from shared.media.decode import SampledFrame, open_clip

__all__ = ["extract_video", "schedule"]

MAX_TARGETS = 100_000


def schedule(extractors: Sequence[Extractor], duration: float) -> dict[float, list[int]]:
    """Target time -> the extractors (by index) that want a frame there."""
    wanted: dict[float, list[int]] = {}
    for i, extractor in enumerate(extractors):
        interval = extractor.needs.interval
        if interval is None:
            continue
        count = min(int(duration / interval) + 1, MAX_TARGETS)
        for n in range(count):
            moment = round(n * interval, 6)
            if moment < duration or n == 0:
                wanted.setdefault(moment, []).append(i)
    return dict(sorted(wanted.items()))


def extract_video(
    source: str | Path | IO[bytes], names: Iterable[str], *, label: str | None = None
) -> dict[str, BaseModel]:
    """Every named extractor's result for one video, from one decode (a
    :class:`~shared.media.decode.VideoDecodeError` says why a video cannot be read)."""
    extractors: list[Extractor] = [EXTRACTORS[name]() for name in names]
    with open_clip(source, name=label) as clip:
        technical = clip.technical()
        for extractor in extractors:
            extractor.start(clip.info, technical)
        targets = schedule(extractors, clip.info.duration)
        sides = [e.needs.max_side for e in extractors if e.needs.interval is not None]
        side = None if not sides or None in sides else max(s for s in sides if s is not None)
        if targets:
            sampling = Sampling(mode="at", timestamps=tuple(targets), max_frames=None)
            for item in clip.sample(sampling):
                if isinstance(item, float):
                    continue  # past the end
                frame = _scaled(item, side)
                for target in item.targets:
                    for i in targets.get(round(target, 6), ()):
                        extractors[i].add(frame)
    return {extractor.name: extractor.finish() for extractor in extractors}


def _scaled(frame: SampledFrame, side: int | None) -> SampledFrame:
    if side is None or max(frame.image.size) <= side:
        return frame
    image = frame.image.copy()
    image.thumbnail((side, side))
    return SampledFrame(targets=frame.targets, timestamp=frame.timestamp, image=image)

"""``shots``: where the shots of a clip begin and end, from every frame.

PySceneDetect's content detector (the weighted change of hue, saturation and luma between
consecutive frames against a threshold, with a minimum shot length) runs on every frame of
the shared decode, scaled to at most 256 px on the longer side (PySceneDetect's own default
working size). A cut is reported at the first frame of the new shot; a shot runs from its
first frame's time to the next shot's (the last one to the clip's end).
"""

from __future__ import annotations

import statistics
from typing import ClassVar

import numpy as np
from pydantic import BaseModel, Field
from scenedetect import FrameTimecode
from scenedetect.detectors import ContentDetector

from shared.features.extractors import VideoFacts
from shared.features.specs import EXTRACTORS, ExtractorSpec
from shared.media.decode import ClipInfo, SampledFrame

__all__ = ["Shot", "ShotsExtractor", "ShotsResult"]

THRESHOLD = 27.0  # PySceneDetect's default for the content detector
MIN_SHOT_SECONDS = 0.4  # no cut reported closer than this to the last one


class Shot(BaseModel):
    """One shot: from its first frame's time to the next shot's."""

    start: float
    end: float
    first_frame: int = Field(description="Index of its first frame in the clip.")
    frames: int


class ShotsResult(BaseModel):
    """Shot boundaries and statistics."""

    cuts: list[float] = Field(description="Times of the first frame of every shot but the first.")
    shots: list[Shot]
    shot_count: int
    mean_shot_seconds: float | None
    median_shot_seconds: float | None
    min_shot_seconds: float | None
    max_shot_seconds: float | None
    cuts_per_minute: float | None


class ShotsExtractor:
    """``shots``: every frame through PySceneDetect's content detector."""

    spec: ClassVar[ExtractorSpec] = EXTRACTORS["shots"]
    Result: ClassVar[type[BaseModel]] = ShotsResult

    def __init__(self) -> None:
        self._times: list[float] = []
        self._cuts: list[int] = []
        self._rate = 30.0
        self._duration = 0.0
        self._detector: ContentDetector | None = None

    def start(self, info: ClipInfo) -> None:
        self._rate = info.fps or 30.0
        self._duration = info.duration
        self._times, self._cuts = [], []
        self._detector = ContentDetector(
            threshold=THRESHOLD, min_scene_len=max(1, round(MIN_SHOT_SECONDS * self._rate))
        )

    def add(self, frame: SampledFrame) -> None:
        if self._detector is None:
            raise RuntimeError("shots: add() before start()")
        index = len(self._times)
        self._times.append(frame.timestamp)
        # The detector counts frames (sequentially) and wants BGR pixels, as OpenCV reads them.
        picture = np.ascontiguousarray(np.asarray(frame.image.convert("RGB"))[:, :, ::-1])
        for cut in self._detector.process_frame(FrameTimecode(index, self._rate), picture):
            self._cuts.append(cut.frame_num)

    def finish(self, facts: VideoFacts) -> ShotsResult:
        del facts
        times = self._times
        if self._detector is not None and times:
            end = FrameTimecode(len(times) - 1, self._rate)
            self._cuts.extend(cut.frame_num for cut in self._detector.post_process(end))
        firsts = sorted({0, *(c for c in self._cuts if 0 < c < len(times))}) if times else []
        end_time = max(self._duration, times[-1] if times else 0.0)
        shots = [
            Shot(
                start=times[first],
                end=times[following] if following < len(times) else end_time,
                first_frame=first,
                frames=following - first,
            )
            for first, following in zip(firsts, [*firsts[1:], len(times)], strict=True)
        ]
        lengths = [shot.end - shot.start for shot in shots]
        minutes = end_time / 60
        return ShotsResult(
            cuts=[times[first] for first in firsts[1:]],
            shots=shots,
            shot_count=len(shots),
            mean_shot_seconds=statistics.fmean(lengths) if lengths else None,
            median_shot_seconds=statistics.median(lengths) if lengths else None,
            min_shot_seconds=min(lengths) if lengths else None,
            max_shot_seconds=max(lengths) if lengths else None,
            cuts_per_minute=(len(shots) - 1) / minutes if shots and minutes > 0 else None,
        )

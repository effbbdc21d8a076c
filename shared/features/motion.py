"""``motion``: how much moves in a clip, per shot and over the clip.

Dense optical flow (OpenCV's Farnebäck) between consecutive frames sampled six times a second,
scaled to at most 160 px on the longer side. A pair's motion is the mean flow magnitude in
picture diagonals per second (so the same movement measures the same at any resolution or
sampling rate); its moving share is the share of pixels moving faster than
``MOVING_DIAGONALS`` diagonals a second. A pair that spans a cut (from ``shots``) is left out:
a cut is not motion. A clip is static when its mean motion is under ``STATIC_DIAGONALS``.
"""

from __future__ import annotations

import bisect
import statistics
from typing import Any, ClassVar

import cv2
import numpy as np
from pydantic import BaseModel, Field

from shared.features.extractors import VideoFacts
from shared.features.shots import ShotsResult
from shared.features.specs import EXTRACTORS, ExtractorSpec
from shared.media.decode import ClipInfo, SampledFrame

__all__ = ["MotionExtractor", "MotionResult", "PairMotion", "ShotMotion"]

STATIC_DIAGONALS = 0.005  # mean motion under half a percent of the diagonal a second: static
MOVING_DIAGONALS = 0.02  # a pixel moving faster than this (diagonals a second) is moving


class PairMotion(BaseModel):
    """The motion between two consecutive sampled frames."""

    start: float
    end: float
    motion: float = Field(description="Mean flow magnitude, picture diagonals per second.")
    moving_share: float = Field(description="Share of pixels that move.")


class ShotMotion(BaseModel):
    """The motion inside one shot (the shots extractor's shot of the same index)."""

    shot: int
    start: float
    end: float
    motion: float | None = Field(description="Mean over its pairs; None when it has none.")
    pairs: int


class MotionResult(BaseModel):
    """Per-pair, per-shot and whole-clip motion."""

    pairs: list[PairMotion]
    shots: list[ShotMotion]
    motion: float | None = Field(description="Mean over every pair within a shot.")
    median_motion: float | None
    max_motion: float | None
    moving_share: float | None
    static: bool | None = Field(description="Mean motion under the static threshold.")


class MotionExtractor:
    """``motion``: Farnebäck optical flow on small frames, six a second."""

    spec: ClassVar[ExtractorSpec] = EXTRACTORS["motion"]
    Result: ClassVar[type[BaseModel]] = MotionResult

    def __init__(self) -> None:
        self._previous: tuple[float, np.ndarray[Any, Any]] | None = None
        self._pairs: list[PairMotion] = []

    def start(self, info: ClipInfo) -> None:
        del info
        self._previous, self._pairs = None, []

    def add(self, frame: SampledFrame) -> None:
        grey = np.asarray(frame.image.convert("L"))
        previous, self._previous = self._previous, (frame.timestamp, grey)
        if previous is None or previous[1].shape != grey.shape:
            return
        elapsed = frame.timestamp - previous[0]
        if elapsed <= 0:
            return
        flow = cv2.calcOpticalFlowFarneback(previous[1], grey, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        magnitude = np.hypot(flow[..., 0], flow[..., 1]) / (np.hypot(*grey.shape) * elapsed)
        self._pairs.append(
            PairMotion(
                start=previous[0],
                end=frame.timestamp,
                motion=float(magnitude.mean()),
                moving_share=float((magnitude > MOVING_DIAGONALS).mean()),
            )
        )

    def finish(self, facts: VideoFacts) -> MotionResult:
        shots = facts.results.get("shots")
        if not isinstance(shots, ShotsResult):
            raise RuntimeError("motion: needs the shots result")
        cuts = shots.cuts
        within = [p for p in self._pairs if _cuts_up_to(cuts, p.start) == _cuts_up_to(cuts, p.end)]
        per_shot: list[ShotMotion] = []
        for index, shot in enumerate(shots.shots):
            inside = [p.motion for p in within if shot.start <= p.start and p.end <= shot.end]
            per_shot.append(
                ShotMotion(
                    shot=index,
                    start=shot.start,
                    end=shot.end,
                    motion=statistics.fmean(inside) if inside else None,
                    pairs=len(inside),
                )
            )
        motions = [p.motion for p in within]
        mean = statistics.fmean(motions) if motions else None
        return MotionResult(
            pairs=self._pairs,
            shots=per_shot,
            motion=mean,
            median_motion=statistics.median(motions) if motions else None,
            max_motion=max(motions) if motions else None,
            moving_share=statistics.fmean(p.moving_share for p in within) if within else None,
            static=None if mean is None else mean < STATIC_DIAGONALS,
        )


def _cuts_up_to(cuts: list[float], moment: float) -> int:
    """How many cuts are at or before ``moment`` (a cut at the pair's end frame splits it)."""
    return bisect.bisect_right(cuts, moment)

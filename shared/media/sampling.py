"""Which frames of a clip to sample: the request, and the target times it means.

"The frame at time t" is the frame on screen at t: the last frame whose presentation time
is at or before t (on the clip's own timeline, edit lists applied, starting at 0). Its own
presentation time is what gets recorded.
"""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

SamplingMode = Literal["interval", "window", "at", "keyframes"]


class Sampling(BaseModel):
    """How to sample a clip (configuration defaults, overridable per request).

    - ``interval``: at 0, N, 2N, ... seconds (``interval_seconds``), at most ``max_frames``;
    - ``window``: in ``[window_start, window_end)``, the middle of each N-second slot
      (the first 30 s every 10 s: 5, 15, 25 s), at most ``max_frames``; a clip that ends
      before the first slot's middle gets the middle of what it has of the window;
    - ``at``: the explicit ``timestamps``;
    - ``keyframes``: as ``interval``, but each target snaps to the keyframe at or before it
      (fast: only keyframes are decoded; the recorded timestamp says where it landed).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: SamplingMode = "interval"
    interval_seconds: float = Field(10.0, gt=0, le=86_400)
    max_frames: int | None = Field(3, ge=1, le=100_000)
    window_start: float = Field(0.0, ge=0)
    window_end: float | None = Field(None, gt=0)
    timestamps: tuple[float, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Sampling:
        if self.mode == "at" and not self.timestamps:
            raise ValueError("mode 'at' needs timestamps (seconds)")
        if self.mode != "at" and self.timestamps:
            raise ValueError("timestamps are only used with mode 'at'")
        if any(not 0 <= t < math.inf for t in self.timestamps):
            raise ValueError("timestamps must be finite and >= 0 seconds")
        if self.window_end is not None and self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self

    def targets(self, duration: float) -> list[float]:
        """Target times (seconds, ascending, unique) for a clip of ``duration`` seconds
        (finite: the sampler measures a clip whose container does not say).

        Times at or past the end are left out (nothing is on screen there); ``at`` keeps
        them so that the sampler can report them as past the end.
        """
        if self.mode == "at":
            return sorted(set(self.timestamps))
        step = self.interval_seconds
        if self.mode == "window":
            end = min(self.window_end if self.window_end is not None else duration, duration)
            first = self.window_start + step / 2
        else:
            end, first = duration, 0.0
        targets: list[float] = []
        t = first
        while t < end and (self.max_frames is None or len(targets) < self.max_frames):
            targets.append(round(t, 6))
            t = first + step * len(targets)
        if not targets and self.mode == "window" and end > self.window_start:
            targets.append(round((self.window_start + end) / 2, 6))  # a clip shorter than a slot
        return targets


ANALYSIS_SAMPLING = Sampling(mode="window", window_start=0.0, window_end=30.0, max_frames=3)
"""The pipeline's default: the middle of each 10-second slot of the first 30 seconds (5, 15,
25 s), as the clip explorer shows them."""

"""One decode per video for every selected extractor.

The clip is opened once and its frames decoded in one pass, each converted (and scaled, in
the conversion itself) once per size the extractors that want it need, and handed to every
extractor that wants them: all of them to an extractor that needs every frame (``shots``), and the
frame on screen at each of its times (every ``interval`` seconds from 0) to the others. When
an extractor needs every frame, the pass decodes straight through and picks the sampled
frames from it; otherwise the frame sampler decodes only to the union of the extractors'
times, seeking or decoding on by estimated cost (:meth:`shared.media.decode.Clip.sample`).
An extractor that needs no frame (``technical``) costs no decode at all.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from pydantic import BaseModel

from shared.core.errors import PermanentError
from shared.features.extractors import Extractor, VideoFacts
from shared.features.settings import Limits
from shared.features.specs import ExtractorSpec, plan
from shared.media import Sampling
from shared.media.decode import EPSILON, Clip, ClipInfo, DecodedFrame, open_clip

__all__ = ["Limits", "VideoRejectedError", "extract_video", "plan", "schedule"]

MAX_TARGETS = 100_000


class VideoRejectedError(PermanentError):
    """A readable video outside the configured limits (zero length, absurd dimensions, too
    long): recorded with the reason, never retried."""


def schedule(specs: Sequence[ExtractorSpec], duration: float) -> dict[float, list[int]]:
    """Target time -> the extractors (by index) that want the frame on screen then."""
    wanted: dict[float, list[int]] = {}
    for i, spec in enumerate(specs):
        interval = spec.needs.interval
        if interval is None:
            continue
        count = min(int(duration / interval) + 1, MAX_TARGETS)
        for n in range(count):
            moment = round(n * interval, 6)
            if moment < duration or n == 0:
                wanted.setdefault(moment, []).append(i)
    return dict(sorted(wanted.items()))


def check_limits(info: ClipInfo, limits: Limits, label: str) -> None:
    """Refuse (VideoRejectedError) a video the limits exclude."""
    if info.duration <= 0:
        raise VideoRejectedError(f"{label}: zero length (no frame time)")
    if min(info.width, info.height) < limits.min_side or max(info.width, info.height) > (
        limits.max_side
    ):
        raise VideoRejectedError(
            f"{label}: {info.width}x{info.height} is outside {limits.min_side}.."
            f"{limits.max_side} px"
        )
    if info.duration > limits.max_seconds:
        raise VideoRejectedError(
            f"{label}: {info.duration:.1f} s is longer than the limit of {limits.max_seconds:g} s"
        )


def extract_video(
    source: str | Path | IO[bytes],
    names: Iterable[str],
    *,
    label: str | None = None,
    limits: Limits | None = None,
    known: Mapping[str, BaseModel] | None = None,
) -> dict[str, BaseModel]:
    """The results of the named extractors for one video, from one decode.

    ``known`` holds results already computed (read from checkpoints): an extractor found
    there is not run, and an extractor that requires it is given it. A requirement missing
    from ``known`` is run too and returned. A video that cannot be read raises
    :class:`~shared.media.decode.VideoDecodeError`; one outside ``limits``,
    :class:`VideoRejectedError`."""
    done = dict(known or {})
    specs = [spec for spec in plan(names) if spec.name not in done]
    extractors: list[Extractor] = [spec.load()() for spec in specs]
    name = label or str(source if isinstance(source, str | Path) else "video")
    with open_clip(source, name=name) as clip:
        check_limits(clip.info, limits or Limits(), name)
        for extractor in extractors:
            extractor.start(clip.info)
        _feed(clip, specs, extractors)
        technical = clip.technical()  # after the frames: they told the rotation
        info = clip.info
    results: dict[str, BaseModel] = {}
    for spec, extractor in zip(specs, extractors, strict=True):
        facts = VideoFacts(info=info, technical=technical, results={**done, **results})
        results[spec.name] = extractor.finish(facts)
    return results


def _feed(clip: Clip, specs: Sequence[ExtractorSpec], extractors: Sequence[Extractor]) -> None:
    """Decode once; give every extractor its frames, each converted at the size it needs
    (once per size and frame)."""
    if not any(spec.needs.frames for spec in specs):
        return
    targets = schedule(specs, clip.info.duration)
    every = [i for i, spec in enumerate(specs) if spec.needs.every_frame]

    def give(i: int, frame: DecodedFrame) -> None:
        extractors[i].add(frame.sampled(specs[i].needs.max_side))

    if every:
        for frame, moments in _straight(clip, sorted(targets)):
            wanting = {i for moment in moments for i in targets[moment]}
            for i in sorted({*every, *wanting}):
                give(i, frame)
        return
    sampling = Sampling(mode="at", timestamps=tuple(targets), max_frames=None)
    for item in clip.sample_decoded(sampling):
        if isinstance(item, float):
            continue  # past the end
        for i in sorted({i for target in item.targets for i in targets.get(round(target, 6), ())}):
            give(i, item)


def _straight(clip: Clip, moments: list[float]) -> Iterator[tuple[DecodedFrame, list[float]]]:
    """Every frame once, with the target times it is the one on screen at (the last frame at
    or before each; a time before the first frame gets the first). A frame is given when the
    next one is decoded: only then is it known until when it stays on screen."""
    pending = 0  # the first target not given yet
    previous: DecodedFrame | None = None
    for frame in clip.decoded_frames():
        if previous is not None:
            upto = bisect.bisect_left(moments, frame.timestamp - EPSILON, lo=pending)
            yield previous, moments[pending:upto]
            pending = upto
        previous = frame
    if previous is not None:
        yield previous, [m for m in moments[pending:] if m < clip.info.duration or m == 0.0]

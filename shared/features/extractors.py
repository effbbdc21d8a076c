"""Feature extractors: each a small class with a name, a version, what it needs from the
decoder, and a typed result.

An extractor sees one video through one shared decode (:mod:`shared.features.extract`): it is
told the clip's facts first (:meth:`Extractor.start`), then given the frames at its rate
(:meth:`Extractor.add`), and returns its result (:meth:`Extractor.finish`), given the results
of the extractors it requires. Each is described by an :class:`ExtractorSpec` (name, version,
needs, requirements, where its class lives): the runner reads specs without importing the
heavy libraries an extractor uses (OpenCV, PySceneDetect, ONNX Runtime), which load only when
the extractor runs. The five:

- ``technical``: duration, fps, resolution, rotation, codecs, bit rates, audio presence,
  keyframe interval, from the container (no frame needed);
- ``shots``: shot boundaries from every frame (PySceneDetect's content detector on frames at
  most 256 px), shot count and length statistics (:mod:`shared.features.shots`);
- ``motion``: optical-flow magnitude (OpenCV's Farnebäck) between frames six times a second
  at most 160 px, per shot and per clip, and a static flag (:mod:`shared.features.motion`);
- ``quality``: per sampled frame (on a copy at most 256 px on its longer side) sharpness as
  the variance of the Laplacian, brightness (mean luma), contrast (its standard deviation),
  colourfulness (Hasler and Süsstrunk, 2003) and black / blank flags; the clip's medians;
- ``text``: on-screen text found and read by RapidOCR's ONNX models (shipped in its wheel),
  once a second, with the share of the picture text covers (:mod:`shared.features.text`).
"""

from __future__ import annotations

import statistics
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol

from PIL import Image, ImageChops, ImageFilter, ImageStat
from pydantic import BaseModel, Field

from shared.features.specs import EXTRACTORS, QUALITY_SIDE, ExtractorSpec, Needs
from shared.media.decode import ClipInfo, SampledFrame

__all__ = [
    "EXTRACTORS",
    "Extractor",
    "ExtractorSpec",
    "FrameQuality",
    "Needs",
    "QualityExtractor",
    "QualityResult",
    "TechnicalExtractor",
    "TechnicalResult",
    "VideoFacts",
]

BLACK_LUMA = 16.0  # mean luma at or below: a black frame (video black is 16)
BLANK_CONTRAST = 4.0  # luma standard deviation at or below: a blank (uniform) frame


@dataclass(frozen=True)
class VideoFacts:
    """What an extractor is told when the frames are done: the video stream's facts, the
    container's (:meth:`shared.media.decode.Clip.technical`) and the results of the
    extractors it requires."""

    info: ClipInfo
    technical: Mapping[str, Any]
    results: Mapping[str, BaseModel]


class Extractor(Protocol):
    """One feature extractor over one video at a time."""

    spec: ClassVar[ExtractorSpec]
    Result: ClassVar[type[BaseModel]]  # what finish() returns, as stored results are read

    def start(self, info: ClipInfo) -> None:
        """The video stream's facts, before any frame."""
        ...

    def add(self, frame: SampledFrame) -> None:
        """A frame at this extractor's rate."""
        ...

    def finish(self, facts: VideoFacts) -> BaseModel:
        """The result for the video."""
        ...


class TechnicalResult(BaseModel):
    """What the container says about the video."""

    duration: float
    fps: float | None
    width: int
    height: int
    rotation: int
    video_codec: str
    container: str
    bit_rate: int | None
    video_bit_rate: int | None
    audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    keyframe_interval: float | None = Field(description="Mean seconds between keyframes.")


class TechnicalExtractor:
    """``technical``: the container's facts; no frame decoded for it."""

    spec: ClassVar[ExtractorSpec] = EXTRACTORS["technical"]
    Result: ClassVar[type[BaseModel]] = TechnicalResult

    def start(self, info: ClipInfo) -> None:
        del info  # all is in the facts at the end

    def add(self, frame: SampledFrame) -> None:
        del frame  # needs no frame

    def finish(self, facts: VideoFacts) -> TechnicalResult:
        info, technical = facts.info, facts.technical
        rotation = int(technical.get("rotation") or 0)
        width, height = (
            (info.height, info.width) if rotation in (90, 270) else (info.width, info.height)
        )
        return TechnicalResult(
            duration=info.duration,
            fps=info.fps,
            width=width,
            height=height,
            rotation=rotation,
            video_codec=technical["codec"],
            container=technical["container"],
            bit_rate=technical["bit_rate"],
            video_bit_rate=technical["video_bit_rate"],
            audio=technical["audio"],
            audio_codec=technical["audio_codec"],
            audio_sample_rate=technical["audio_sample_rate"],
            audio_channels=technical["audio_channels"],
            keyframe_interval=technical["keyframe_interval"],
        )


class FrameQuality(BaseModel):
    """One sampled frame's quality measures."""

    timestamp: float
    sharpness: float = Field(description="Variance of the Laplacian of the luma.")
    brightness: float = Field(description="Mean luma, 0-255.")
    contrast: float = Field(description="Standard deviation of the luma.")
    colourfulness: float = Field(description="Hasler and Süsstrunk's M.")
    black: bool
    blank: bool


class QualityResult(BaseModel):
    """Per-frame quality and the clip's medians."""

    frames: list[FrameQuality]
    sharpness: float | None
    brightness: float | None
    contrast: float | None
    colourfulness: float | None
    black_share: float | None = Field(description="Share of sampled frames that are black.")
    blank_share: float | None = Field(description="Share of sampled frames that are blank.")


_LAPLACIAN = ImageFilter.Kernel((3, 3), (0, 1, 0, 1, -4, 1, 0, 1, 0), scale=1, offset=128)


def frame_quality(image: Image.Image, timestamp: float) -> FrameQuality:
    """The quality measures of one picture."""
    small = image.convert("RGB")
    if max(small.size) > QUALITY_SIDE:
        small.thumbnail((QUALITY_SIDE, QUALITY_SIDE))
    luma = small.convert("L")
    stats = ImageStat.Stat(luma)
    brightness, contrast = stats.mean[0], stats.stddev[0]
    sharpness = ImageStat.Stat(luma.filter(_LAPLACIAN)).var[0]
    red, green, blue = small.split()
    rg = ImageChops.subtract(red, green, scale=2, offset=128)  # (R - G) / 2 + 128
    yb = ImageChops.subtract(ImageChops.add(red, green, scale=2), blue, scale=2, offset=128)
    rg_stat, yb_stat = ImageStat.Stat(rg), ImageStat.Stat(yb)
    # The channels were halved to fit a byte: scale back (rg by 2, yb = (R+G)/2 - B by 2).
    sd = 2 * (rg_stat.stddev[0] ** 2 + yb_stat.stddev[0] ** 2) ** 0.5
    mean = 2 * ((rg_stat.mean[0] - 128) ** 2 + (yb_stat.mean[0] - 128) ** 2) ** 0.5
    return FrameQuality(
        timestamp=timestamp,
        sharpness=sharpness,
        brightness=brightness,
        contrast=contrast,
        colourfulness=sd + 0.3 * mean,
        black=brightness <= BLACK_LUMA,
        blank=contrast <= BLANK_CONTRAST,
    )


class QualityExtractor:
    """``quality``: one frame a second, at most 256 px on its longer side."""

    spec: ClassVar[ExtractorSpec] = EXTRACTORS["quality"]
    Result: ClassVar[type[BaseModel]] = QualityResult

    def __init__(self) -> None:
        self._frames: list[FrameQuality] = []

    def start(self, info: ClipInfo) -> None:
        del info
        self._frames = []

    def add(self, frame: SampledFrame) -> None:
        self._frames.append(frame_quality(frame.image, frame.timestamp))

    def finish(self, facts: VideoFacts) -> QualityResult:
        del facts
        frames = self._frames

        def median(values: list[float]) -> float | None:
            return statistics.median(values) if values else None

        count = len(frames)
        return QualityResult(
            frames=frames,
            sharpness=median([f.sharpness for f in frames]),
            brightness=median([f.brightness for f in frames]),
            contrast=median([f.contrast for f in frames]),
            colourfulness=median([f.colourfulness for f in frames]),
            black_share=sum(f.black for f in frames) / count if count else None,
            blank_share=sum(f.blank for f in frames) / count if count else None,
        )

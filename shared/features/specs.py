"""The extractors as the runner knows them, their classes not imported: names, versions,
what each needs from the decoder, what each requires, and where its class lives. Light (no
PyAV, Pillow, OpenCV or ONNX Runtime): the settings, the CLI and every function's archive
import it; an extractor's libraries load when it runs (:meth:`ExtractorSpec.load`)."""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

__all__ = ["EXTRACTORS", "QUALITY_SIDE", "ExtractorSpec", "Needs", "plan"]


@dataclass(frozen=True)
class Needs:
    """What an extractor needs from the decoder: every frame (``every_frame``), or the frame
    on screen every ``interval`` seconds from 0, or none (neither); scaled to at most
    ``max_side`` pixels on their longer side (None: as decoded)."""

    interval: float | None = None
    every_frame: bool = False
    max_side: int | None = None

    @property
    def frames(self) -> bool:
        """Whether it needs any frame at all."""
        return self.every_frame or self.interval is not None


@dataclass(frozen=True)
class ExtractorSpec:
    """An extractor as the runner knows it, its class not imported: the name, the version
    (a new one recomputes this extractor only), what it needs from the decoder, the
    extractors whose results it takes (computed first, or read from their checkpoints) and
    where its class is (``module:Class``)."""

    name: str
    version: str
    needs: Needs
    implementation: str
    requires: tuple[str, ...] = ()
    description: str = ""

    def load(self) -> type[Any]:
        """The extractor's class, a :class:`shared.features.extractors.Extractor` (importing
        what it uses; not named here, so that nothing heavy is imported with the specs)."""
        module, _, attribute = self.implementation.partition(":")
        extractor: type[Any] = getattr(importlib.import_module(module), attribute)
        return extractor


QUALITY_SIDE = 256

EXTRACTORS: dict[str, ExtractorSpec] = {
    spec.name: spec
    for spec in (
        ExtractorSpec(
            "technical",
            "1",
            Needs(),
            "shared.features.extractors:TechnicalExtractor",
            description="duration, fps, resolution, rotation, codecs, bit rates, audio, GOP",
        ),
        ExtractorSpec(
            "shots",
            "1",
            Needs(every_frame=True, max_side=256),
            "shared.features.shots:ShotsExtractor",
            description="shot boundaries and shot length statistics",
        ),
        ExtractorSpec(
            "motion",
            "1",
            Needs(interval=1 / 6, max_side=160),
            "shared.features.motion:MotionExtractor",
            requires=("shots",),
            description="optical-flow motion per shot and per clip, static flag",
        ),
        ExtractorSpec(
            "quality",
            "1",
            Needs(interval=1.0, max_side=QUALITY_SIDE),
            "shared.features.extractors:QualityExtractor",
            description="sharpness, brightness, contrast, colourfulness, black/blank frames",
        ),
        ExtractorSpec(
            "text",
            "1",
            Needs(interval=1.0, max_side=1280),
            "shared.features.text:TextExtractor",
            description="on-screen text (RapidOCR) and the share of the picture it covers",
        ),
    )
}
"""Every extractor, by name, in the order they run (a requirement before what needs it)."""


def plan(names: Iterable[str]) -> list[ExtractorSpec]:
    """The specs of ``names`` and of what they require, a requirement before what needs it
    (KeyError names an unknown extractor)."""
    wanted: set[str] = set()

    def add(name: str) -> None:
        if name not in wanted:
            for required in EXTRACTORS[name].requires:
                add(required)
            wanted.add(name)

    for name in names:
        add(name)
    return [spec for name, spec in EXTRACTORS.items() if name in wanted]

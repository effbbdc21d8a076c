"""``text``: on-screen text, found and read once a second.

RapidOCR (PP-OCRv4 detection and recognition as ONNX models that ship inside the
``rapidocr-onnxruntime`` wheel: nothing is downloaded at run time) on frames at most 1280 px
on the longer side. Per frame: every line of text read with a confidence of at least
``MIN_SCORE``, its box (fractions of the width and height), and the share of the picture
that the union of the boxes covers. The ONNX sessions run on the GPU when ONNX Runtime has
CUDA there (``onnxruntime-gpu`` in the job's image, infra/learn/Dockerfile), else on the CPU;
they are built once per process.

This is the one module that imports the OCR runtime.
"""

from __future__ import annotations

import functools
import logging
import statistics
from pathlib import Path
from typing import ClassVar

import numpy as np
import onnxruntime
import rapidocr_onnxruntime
from PIL import Image, ImageDraw
from pydantic import BaseModel, Field
from rapidocr_onnxruntime import RapidOCR

from shared.features.extractors import VideoFacts
from shared.features.specs import EXTRACTORS, ExtractorSpec
from shared.media.decode import ClipInfo, SampledFrame

__all__ = ["TextBox", "TextExtractor", "TextFrame", "TextResult", "ocr_device"]

log = logging.getLogger("vidcurate.features")

MIN_SCORE = 0.5  # RapidOCR's own default text score
AREA_GRID = 256  # the boxes' union is measured on a mask this many cells on the longer side
DETECTION_MODEL = (
    Path(rapidocr_onnxruntime.__file__).parent / "models" / "ch_PP-OCRv4_det_infer.onnx"
)


class TextBox(BaseModel):
    """One line of text read in a frame."""

    text: str
    score: float
    box: tuple[float, float, float, float] = Field(
        description="Left, top, right, bottom as fractions of the width and height."
    )


class TextFrame(BaseModel):
    """What one sampled frame shows as text."""

    timestamp: float
    text_area: float = Field(description="Share of the picture covered by text boxes.")
    boxes: list[TextBox]


class TextResult(BaseModel):
    """On-screen text over the clip."""

    frames: list[TextFrame]
    text_frame_share: float | None = Field(description="Share of sampled frames with text.")
    mean_text_area: float | None
    max_text_area: float | None
    texts: list[str] = Field(description="The distinct lines read, in order of first sight.")


@functools.cache
def ocr_device() -> str:
    """``cuda`` when ONNX Runtime really runs on a GPU here, else ``cpu``.

    ``onnxruntime-gpu`` lists its CUDA provider whether or not the machine has a GPU, and a
    session asked for it falls back to the CPU when CUDA cannot start: so a session is made
    for the detection model and asked which provider it got."""
    if "CUDAExecutionProvider" not in onnxruntime.get_available_providers():
        return "cpu"
    preload = getattr(onnxruntime, "preload_dlls", None)
    try:
        if callable(preload):  # the CUDA and cuDNN libraries of the nvidia-*-cu12 wheels
            preload()
        options = onnxruntime.SessionOptions()
        options.log_severity_level = 4  # the fallback's warning is this function's answer
        session = onnxruntime.InferenceSession(
            str(DETECTION_MODEL),
            sess_options=options,
            providers=["CUDAExecutionProvider", "CPUExecutionProvider"],
        )
    except Exception as exc:  # noqa: BLE001 (any failure means: no usable GPU)
        log.warning("text: no usable GPU for ONNX Runtime (%s): OCR runs on the CPU", exc)
        return "cpu"
    return "cuda" if session.get_providers()[0] == "CUDAExecutionProvider" else "cpu"


@functools.cache
def _engine() -> RapidOCR:
    cuda = ocr_device() == "cuda"
    log.info("text: RapidOCR on the %s", "GPU" if cuda else "CPU")
    return RapidOCR(det_use_cuda=cuda, cls_use_cuda=cuda, rec_use_cuda=cuda)


def read_text(image: Image.Image) -> tuple[float, list[TextBox]]:
    """The share of ``image`` covered by text, and the lines read in it."""
    rgb = image.convert("RGB")
    width, height = rgb.size
    found, _ = _engine()(np.asarray(rgb)[:, :, ::-1], use_cls=False)
    boxes: list[TextBox] = []
    scale = AREA_GRID / max(width, height)
    mask = Image.new("1", (max(1, round(width * scale)), max(1, round(height * scale))))
    draw = ImageDraw.Draw(mask)
    for points, text, score in found or []:
        if float(score) < MIN_SCORE or not str(text).strip():
            continue
        xs = [float(x) for x, _ in points]
        ys = [float(y) for _, y in points]
        boxes.append(
            TextBox(
                text=str(text),
                score=round(float(score), 4),
                box=(
                    max(0.0, min(xs) / width),
                    max(0.0, min(ys) / height),
                    min(1.0, max(xs) / width),
                    min(1.0, max(ys) / height),
                ),
            )
        )
        draw.polygon([(x * scale, y * scale) for x, y in points], fill=1)
    covered = np.asarray(mask, dtype=bool)
    return float(covered.mean()) if covered.size else 0.0, boxes


class TextExtractor:
    """``text``: RapidOCR once a second."""

    spec: ClassVar[ExtractorSpec] = EXTRACTORS["text"]
    Result: ClassVar[type[BaseModel]] = TextResult

    def __init__(self) -> None:
        self._frames: list[TextFrame] = []

    def start(self, info: ClipInfo) -> None:
        del info
        self._frames = []

    def add(self, frame: SampledFrame) -> None:
        area, boxes = read_text(frame.image)
        self._frames.append(TextFrame(timestamp=frame.timestamp, text_area=area, boxes=boxes))

    def finish(self, facts: VideoFacts) -> TextResult:
        del facts
        frames = self._frames
        areas = [f.text_area for f in frames]
        texts = list(dict.fromkeys(box.text for f in frames for box in f.boxes))
        return TextResult(
            frames=frames,
            text_frame_share=sum(bool(f.boxes) for f in frames) / len(frames) if frames else None,
            mean_text_area=statistics.fmean(areas) if areas else None,
            max_text_area=max(areas) if areas else None,
            texts=texts,
        )

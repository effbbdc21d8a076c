"""Clips for the demo when the real sample clips are not at hand: a few seconds of moving
shapes, encoded with PyAV (H.264 when the build has it, MPEG-4 otherwise)."""

from __future__ import annotations

import math
from array import array
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageDraw

SAMPLE_CLIPS = Path(__file__).resolve().parents[3] / "shared" / "data" / "videos"
_COLOURS = ((230, 80, 60), (60, 140, 230), (240, 200, 40), (80, 200, 120))


def demo_clips(folder: Path, *, generated: int = 2, samples: Path = SAMPLE_CLIPS) -> list[Path]:
    """The real sample clips beside the repository (../shared/data/videos) if present,
    otherwise ``generated`` clips written into ``folder``."""
    if samples.is_dir():
        clips = sorted(
            p for p in samples.iterdir() if p.suffix.lower() in {".mp4", ".webm", ".avi"}
        )
        if clips:
            return clips
    folder.mkdir(parents=True, exist_ok=True)
    return [
        write_sample_clip(folder / f"generated_{index}.mp4", seed=index)
        for index in range(generated)
    ]


def write_sample_clip(
    path: Path,
    *,
    seconds: int = 24,
    fps: int = 10,
    size: tuple[int, int] = (640, 360),
    seed: int = 0,
    audio: bool = False,
) -> Path:
    """Shapes crossing a gradient, ``seconds`` long (with ``audio``, a soft tone beside
    them); returns ``path``."""
    width, height = size
    codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
    with av.open(str(path), "w") as out:
        sound = out.add_stream("aac", rate=AUDIO_RATE) if audio else None
        stream = out.add_stream(codec, rate=fps)
        assert isinstance(stream, av.VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for index in range(seconds * fps):
            image = Image.new("RGB", size, (30 + seed * 40, 40, 60))
            draw = ImageDraw.Draw(image)
            for shape, colour in enumerate(_COLOURS):
                x = (index * (4 + shape) + shape * 150 + seed * 70) % (width + 80) - 80
                y = 40 + shape * 75
                draw.ellipse((x, y, x + 70, y + 60), fill=colour)
            frame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
        if sound is not None:
            assert isinstance(sound, av.AudioStream)
            _tone(out, sound, seconds, 220 + 110 * seed)
    return path


AUDIO_RATE = 16_000


def _tone(out: Any, sound: av.AudioStream, seconds: int, pitch: float) -> None:
    """``seconds`` of a quiet sine at ``pitch`` Hz, mono."""
    total = seconds * AUDIO_RATE
    for at in range(0, total, 1024):
        count = min(1024, total - at)
        samples = array(
            "h",
            (
                int(2000 * math.sin(2 * math.pi * pitch * (at + i) / AUDIO_RATE))
                for i in range(count)
            ),
        )
        frame = av.AudioFrame(format="s16", layout="mono", samples=count)
        frame.planes[0].update(samples.tobytes())
        frame.sample_rate, frame.pts = AUDIO_RATE, at
        frame.time_base = Fraction(1, AUDIO_RATE)
        for packet in sound.encode(frame):
            out.mux(packet)
    for packet in sound.encode(None):
        out.mux(packet)

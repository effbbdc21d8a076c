"""The first feature extractors on synthetic clips with known truth, and one decode per video
for all of them."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import pytest
from clips import make_clip
from PIL import Image, ImageDraw, ImageFilter

from shared.features import extract_video, schedule
from shared.features.extractors import QualityExtractor, TechnicalExtractor, frame_quality
from shared.media.decode import VideoDecodeError


def solid_clip(path: Path, colour: tuple[int, int, int], seconds: float = 3.0) -> Path:
    """An H.264 clip of one colour."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(25))
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for n in range(int(seconds * 25)):
            frame = av.VideoFrame.from_image(Image.new("RGB", (160, 120), colour))
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def test_technical_reads_the_containers_facts(tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=4.0, fps=30, size=(320, 240), gop=60, audio=True)
    result = extract_video(clip, ["technical"])["technical"]
    assert result.duration == pytest.approx(4.0, abs=0.05)
    assert result.fps == pytest.approx(30.0)
    assert (result.width, result.height) == (320, 240)
    assert result.video_codec == "h264"
    assert result.audio
    assert result.audio_codec == "aac"
    assert result.keyframe_interval == pytest.approx(2.0, abs=0.1)  # a keyframe every 60
    assert result.bit_rate
    assert result.bit_rate > 0
    silent = tmp_path / "silent.mp4"
    make_clip(silent, seconds=2.0)
    assert extract_video(silent, ["technical"])["technical"].audio is False


def test_quality_flags_a_black_clip_and_not_a_bright_one(tmp_path):
    black = extract_video(solid_clip(tmp_path / "black.mp4", (0, 0, 0)), ["quality"])["quality"]
    assert black.black_share == 1.0
    assert black.blank_share == 1.0
    assert len(black.frames) == 3  # one a second over 3 s
    bright = extract_video(solid_clip(tmp_path / "sky.mp4", (90, 150, 230)), ["quality"])
    assert bright["quality"].black_share == 0.0
    assert bright["quality"].blank_share == 1.0  # uniform, but not black
    assert bright["quality"].colourfulness > black.colourfulness + 20


def checkerboard(size: int = 200, cell: int = 10) -> Image.Image:
    image = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(image)
    for x in range(0, size, cell):
        for y in range(0, size, cell):
            if (x // cell + y // cell) % 2:
                draw.rectangle((x, y, x + cell - 1, y + cell - 1), fill="black")
    return image


def test_quality_measures_by_hand():
    sharp = frame_quality(checkerboard(), 0.0)
    blurred = frame_quality(checkerboard().filter(ImageFilter.GaussianBlur(4)), 0.0)
    assert sharp.sharpness > 5 * blurred.sharpness
    grey = frame_quality(Image.new("RGB", (64, 64), (128, 128, 128)), 1.0)
    assert grey.colourfulness == pytest.approx(0.0, abs=1.0)
    assert grey.brightness == pytest.approx(128, abs=1)
    assert grey.contrast == 0.0
    assert grey.blank
    assert not grey.black
    red = frame_quality(Image.new("RGB", (64, 64), (255, 0, 0)), 1.0)
    # Hasler and Süsstrunk: rg = 255, yb = 127.5, no spread: M = 0.3 * sqrt(255² + 127.5²)
    assert red.colourfulness == pytest.approx(0.3 * (255**2 + 127.5**2) ** 0.5, rel=0.02)
    assert sharp.contrast == pytest.approx(127.5, abs=1.5)


def test_one_decode_serves_every_extractor(tmp_path, monkeypatch):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=3.0)
    opened: list[str] = []
    real_open = av.open

    def counting_open(*args, **kwargs):
        opened.append(str(args[0]))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)  # the library's entry, counted
    extract_video(clip, ["quality"])
    alone = len(opened)
    opened.clear()
    results = extract_video(clip, ["technical", "quality"])
    assert set(results) == {"technical", "quality"}
    # the sampler reopens the file once to start from its first frame; more extractors add
    # no open and no decode
    assert len(opened) == alone <= 2
    assert [f.timestamp for f in results["quality"].frames] == pytest.approx([0.0, 1.0, 2.0])


def test_the_schedule_is_the_union_of_the_extractors_rates():
    extractors = [TechnicalExtractor(), QualityExtractor()]
    assert schedule(extractors, 2.5) == {0.0: [1], 1.0: [1], 2.0: [1]}
    assert schedule([TechnicalExtractor()], 10.0) == {}


def test_a_file_that_is_not_a_video_is_one_clear_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoDecodeError, match=r"notes\.mp4"):
        extract_video(text, ["technical"], label="notes.mp4")

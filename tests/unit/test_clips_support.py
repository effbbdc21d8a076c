"""tests/clips.py: every clip variant decodes to the times make_clip returns, and every
decoded frame reads back its own index, also after JPEG re-encoding and downscaling."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import av
import pytest
from clips import frame_number, make_clip, read_barcode
from PIL import Image

VARIANTS = {
    "h264-mp4": ("clip.mp4", {}),
    "h264-mp4-vfr": ("clip.mp4", {"vfr": True}),
    "h264-mp4-audio": ("clip.mp4", {"audio": True}),
    "h264-mp4-rotate90": ("clip.mp4", {"rotate": 90}),
    "h264-mov": ("clip.mov", {"size": (256, 144), "fps": 25}),
    "h264-mkv-vfr-audio": ("clip.mkv", {"vfr": True, "audio": True}),
    "mpeg4-avi": ("clip.avi", {"codec": "mpeg4"}),
    "mpeg4-avi-vfr-audio": ("clip.avi", {"codec": "mpeg4", "vfr": True, "audio": True}),
    "vp8-webm": ("clip.webm", {"codec": "libvpx"}),
    "vp8-webm-vfr-audio": ("clip.webm", {"codec": "libvpx", "vfr": True, "audio": True}),
    "av1-mp4": ("clip.mp4", {"codec": "libsvtav1", "seconds": 3.0}),
}


@dataclass
class Decoded:
    times: list[float]
    kinds: list[str]  # picture types: I, P, B
    rotations: list[int]
    side_data: list[set[str]]
    images: list[Image.Image]
    audio: list[tuple[str, int]]  # (codec, channels) of each audio stream


def decode(path: Path) -> Decoded:
    with av.open(str(path)) as clip:
        out = Decoded([], [], [], [], [], [])
        out.audio = [(s.codec_context.name, s.codec_context.channels) for s in clip.streams.audio]
        for frame in clip.decode(clip.streams.video[0]):
            out.times.append(frame.time)
            # an int in some PyAV versions, an enum in others
            out.kinds.append(av.video.frame.PictureType(frame.pict_type).name)
            out.rotations.append(frame.rotation)
            out.side_data.append({sd.type.name for sd in frame.side_data})
            out.images.append(frame.to_image())
        return out


def needs_codec(name: str) -> None:
    try:
        av.codec.Codec(name, "w")
    except Exception:
        pytest.skip(f"this FFmpeg has no {name} encoder")


Clips = Callable[[str], tuple[list[float], Decoded]]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Clips:
    """A variant by name: (what make_clip returned, what decodes), encoded once per worker."""
    made: dict[str, tuple[list[float], Decoded]] = {}

    def get(key: str) -> tuple[list[float], Decoded]:
        if key not in made:
            name, options = VARIANTS[key]
            needs_codec(options.get("codec", "libx264"))
            path = tmp_path_factory.mktemp(key) / name
            made[key] = (make_clip(path, **options), decode(path))
        return made[key]

    return get


@pytest.mark.parametrize("key", VARIANTS)
def test_decoder_reports_the_returned_times(clips: Clips, key: str) -> None:
    times, decoded = clips(key)
    assert len(decoded.times) == len(times) > 1
    assert decoded.times == pytest.approx(times, abs=1e-6, rel=0)
    assert times == sorted(set(times))


@pytest.mark.parametrize("key", VARIANTS)
def test_every_frame_reads_its_index(clips: Clips, key: str) -> None:
    _, decoded = clips(key)
    assert [read_barcode(image) for image in decoded.images] == [
        (index, 0) for index in range(len(decoded.images))
    ]


@pytest.mark.parametrize("key", VARIANTS)
def test_the_number_survives_jpeg_and_downscaling(clips: Clips, key: str, tmp_path: Path) -> None:
    _, decoded = clips(key)
    for index in (0, 1, 2, 3, 37, len(decoded.images) - 1):
        small = decoded.images[index].copy()
        small.thumbnail((160, 160))
        assert max(small.size) == 160
        small.save(tmp_path / f"{index}.jpg", quality=85)
        with Image.open(tmp_path / f"{index}.jpg") as reread:
            assert frame_number(reread.convert("RGB")) == index


def test_constant_rate_times_are_frame_indices_over_fps(clips: Clips) -> None:
    times, _ = clips("h264-mp4")
    assert times == pytest.approx([i / 30 for i in range(180)], abs=1e-6, rel=0)
    times, _ = clips("h264-mov")
    assert times == pytest.approx([i / 25 for i in range(150)], abs=1e-6, rel=0)


@pytest.mark.parametrize(
    ("key", "resolution", "shift"),
    [
        ("h264-mp4-vfr", 1e-6, 0.0),
        ("h264-mkv-vfr-audio", 1e-3, 0.0),  # Matroska counts milliseconds
        ("vp8-webm-vfr-audio", 1e-3, 0.0),
        ("mpeg4-avi-vfr-audio", 1e-6, 1 / 30),  # AVI delays B-frame streams by one frame
    ],
)
def test_variable_rate_durations_follow_the_pattern(
    clips: Clips, key: str, resolution: float, shift: float
) -> None:
    times, _ = clips(key)
    periods = [1, 1.5, 0.5, 2, 1, 3, 0.5, 1.5]
    expected, at = [], 0.0
    while at < 6.0:
        expected.append(at + shift)
        at += periods[len(expected) % len(periods) - 1] / 30
    assert times == pytest.approx(expected, abs=resolution / 2 + 1e-9, rel=0)
    durations = {round(b - a, 3) for a, b in pairwise(times)}
    assert len(durations) >= 4


def test_avi_with_b_frames_starts_one_frame_late(clips: Clips) -> None:
    times, _ = clips("mpeg4-avi")
    assert times[0] == pytest.approx(1 / 30)
    assert times == pytest.approx([(i + 1) / 30 for i in range(180)], abs=1e-6, rel=0)


@pytest.mark.parametrize("key", ["h264-mp4", "h264-mkv-vfr-audio", "mpeg4-avi"])
def test_bframes_2_gives_b_frames_and_the_requested_gop(clips: Clips, key: str) -> None:
    _, decoded = clips(key)
    assert {"I", "P", "B"} <= set(decoded.kinds)
    keyframes = [i for i, kind in enumerate(decoded.kinds) if kind == "I"]
    assert keyframes[:2] == [0, 60]


@pytest.mark.parametrize(("codec", "name"), [("libx264", "clip.mp4"), ("mpeg4", "clip.avi")])
def test_bframes_0_gives_none(tmp_path: Path, codec: str, name: str) -> None:
    needs_codec(codec)
    times = make_clip(tmp_path / name, codec=codec, bframes=0, seconds=1.0)
    decoded = decode(tmp_path / name)
    assert "B" not in decoded.kinds
    assert decoded.times == pytest.approx(times, abs=1e-6, rel=0)
    assert times[0] == 0.0


def test_the_frame_at_a_time_after_seeking_is_that_frame(tmp_path: Path) -> None:
    """The use the clips are for: seek to t, decode forward to the first frame at t."""
    path = tmp_path / "seek.mp4"
    times = make_clip(path)
    for index in (75, 76, 77, 119, 121):  # B and P frames in the second GOP, around a keyframe
        with av.open(str(path)) as clip:
            stream = clip.streams.video[0]
            clip.seek(round(times[index] / stream.time_base), stream=stream)
            frame = next(f for f in clip.decode(stream) if f.time >= times[index] - 1e-6)
            assert frame.time == pytest.approx(times[index], abs=1e-6)
            assert frame_number(frame.to_image()) == index


@pytest.mark.parametrize(("rotate", "reads"), [(90, -90), (180, -180), (270, 90)])
@pytest.mark.parametrize("name", ["clip.mp4", "clip.mkv"])
def test_rotation_is_a_display_matrix_on_every_frame(
    tmp_path: Path, name: str, rotate: int, reads: int
) -> None:
    times = make_clip(tmp_path / name, rotate=rotate, seconds=0.5)
    decoded = decode(tmp_path / name)
    assert decoded.times == pytest.approx(times, abs=1e-6, rel=0)
    assert set(decoded.rotations) == {reads}
    assert all("DISPLAYMATRIX" in kinds for kinds in decoded.side_data)
    with av.open(str(tmp_path / name)) as clip:
        assert "rotate" not in clip.streams.video[0].metadata
    for index, image in enumerate(decoded.images):
        assert read_barcode(image) == (index, 0)  # stored unrotated
        shown = image.rotate(decoded.rotations[index], expand=True)  # as a player shows it
        assert shown.size == (image.size if rotate == 180 else image.size[::-1])
        assert read_barcode(shown) == (index, rotate)
        small = shown.copy()
        small.thumbnail((160, 160))
        assert read_barcode(small) == (index, rotate)


def test_rotation_in_avi_is_refused(tmp_path: Path) -> None:
    with pytest.raises(NotImplementedError, match="AVI"):
        make_clip(tmp_path / "clip.avi", codec="mpeg4", rotate=90)


@pytest.mark.parametrize(
    ("key", "codec"),
    [
        ("h264-mp4-audio", "aac"),
        ("h264-mkv-vfr-audio", "aac"),
        ("vp8-webm-vfr-audio", "opus"),
        ("mpeg4-avi-vfr-audio", "pcm_s16le"),
    ],
)
def test_audio_is_a_stereo_track(clips: Clips, key: str, codec: str) -> None:
    _, decoded = clips(key)
    assert decoded.audio == [(codec, 2)]


def test_no_audio_by_default(clips: Clips) -> None:
    _, decoded = clips("h264-mp4")
    assert decoded.audio == []


def test_a_blend_of_two_frames_is_not_misread(clips: Clips) -> None:
    _, decoded = clips("h264-mp4")
    one, two = decoded.images[1], decoded.images[2]  # ...01 and ...10: two cells differ
    with pytest.raises(ValueError, match="ambiguous"):
        frame_number(Image.blend(one, two, 0.5))
    with pytest.raises(ValueError, match="no barcode"):
        frame_number(Image.new("RGB", one.size, (128, 128, 128)))


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="even"):
        make_clip(tmp_path / "clip.mp4", size=(321, 240))
    with pytest.raises(ValueError, match="rotate"):
        make_clip(tmp_path / "clip.mp4", rotate=45)
    with pytest.raises(ValueError, match="container"):
        make_clip(tmp_path / "clip.xyz")
    with pytest.raises(ValueError, match="12-bit"):
        make_clip(tmp_path / "clip.mp4", seconds=200, fps=30)

"""The five feature extractors on synthetic clips with known truth (cuts at known frames, a
static and a panning clip, a black clip, text rendered into frames), the technical fields
against ffprobe on the real sample clips, and one decode per video for all of them."""

from __future__ import annotations

import json
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import av
import pytest
from clips import make_clip
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from shared.features import EXTRACTORS, Limits
from shared.features.extract import VideoRejectedError, extract_video, plan, schedule
from shared.features.extractors import frame_quality
from shared.media.decode import VideoDecodeError

SAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "videos"


def encode(path: Path, pictures, fps: int = 25, size: tuple[int, int] = (320, 240)) -> Path:
    """An H.264 clip of the given pictures (one per frame), a keyframe every 50 frames."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=Fraction(fps), options={"g": "50", "bf": "2"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for n, picture in enumerate(pictures):
            frame = av.VideoFrame.from_image(picture)
            frame.pts = n
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def texture(size: tuple[int, int], seed: int, cell: int = 8) -> Image.Image:
    """A picture of random-coloured blocks (optical flow needs structure to follow)."""
    import random  # noqa: PLC0415

    rng = random.Random(seed)
    image = Image.new("RGB", size)
    draw = ImageDraw.Draw(image)
    for x in range(0, size[0], cell):
        for y in range(0, size[1], cell):
            draw.rectangle(
                (x, y, x + cell - 1, y + cell - 1), fill=tuple(rng.choices(range(256), k=3))
            )
    return image


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


def test_shots_finds_cuts_at_known_frames_within_one_frame(tmp_path):
    cuts = [40, 95, 130, 190]
    scenes = [texture((560, 240), seed) for seed in range(len(cuts) + 1)]
    pictures = []
    for n in range(240):
        scene = sum(n >= c for c in cuts)
        # each scene pans slowly over its own texture: motion inside, a cut between
        offset = n
        pictures.append(scenes[scene].crop((offset, 0, offset + 320, 240)))
    clip = encode(tmp_path / "cuts.mp4", pictures)
    result = extract_video(clip, ["shots"])["shots"]
    found = [shot.first_frame for shot in result.shots[1:]]
    assert len(found) == len(cuts)
    assert all(abs(f - c) <= 1 for f, c in zip(found, cuts, strict=True)), (found, cuts)
    assert result.shot_count == len(cuts) + 1
    assert result.cuts == pytest.approx([c / 25 for c in found], abs=1e-3)
    assert result.shots[0].start == 0.0
    assert result.shots[-1].end == pytest.approx(240 / 25, abs=0.05)
    assert sum(shot.frames for shot in result.shots) == 240
    assert result.min_shot_seconds == pytest.approx((130 - 95) / 25, abs=0.1)


def test_motion_flags_a_static_clip_static_and_a_panning_one_not(tmp_path):
    still = texture((320, 240), 7)
    static = encode(tmp_path / "static.mp4", [still] * 75)
    wide = texture((640, 240), 8)
    panning = encode(
        tmp_path / "pan.mp4", [wide.crop((3 * n, 0, 3 * n + 320, 240)) for n in range(75)]
    )
    calm = extract_video(static, ["motion"])
    assert set(calm) == {"shots", "motion"}  # motion needs the shots: computed with it
    assert calm["motion"].static is True
    moving = extract_video(panning, ["motion"])["motion"]
    assert moving.static is False
    # 3 px a frame at 25 fps over a 400 px diagonal: 0.19 diagonals a second
    assert moving.motion == pytest.approx(3 * 25 / 400, rel=0.25)
    assert moving.motion > 20 * calm["motion"].motion
    assert moving.moving_share > 0.8
    assert len(moving.shots) == 1
    assert moving.shots[0].motion == pytest.approx(moving.motion)
    assert len(moving.pairs) == pytest.approx(3 * 6, abs=1)  # six pairs a second over 3 s


def test_motion_leaves_out_a_pair_across_a_cut(tmp_path):
    first, second = texture((320, 240), 1), texture((320, 240), 2)
    clip = encode(tmp_path / "cut.mp4", [first] * 50 + [second] * 50)
    result = extract_video(clip, ["motion"])
    assert result["shots"].shot_count == 2
    motion = result["motion"]
    assert motion.static is True  # two still shots: the cut is not motion
    assert [s.pairs for s in motion.shots] == [
        len(motion.pairs) - 1 - motion.shots[1].pairs,
        motion.shots[1].pairs,
    ]
    assert max(p.motion for p in motion.pairs) > 10 * motion.max_motion  # the excluded pair


def test_a_black_clip_is_flagged(tmp_path):
    black = extract_video(solid_clip(tmp_path / "black.mp4", (0, 0, 0)), ["quality"])["quality"]
    assert black.black_share == 1.0


def test_text_is_detected_and_read(tmp_path):
    font = ImageFont.load_default(size=40)
    pictures = []
    for n in range(75):  # 3 s: text on screen in the second second only
        picture = Image.new("RGB", (640, 360), (30, 60, 120))
        if 25 <= n < 50:
            ImageDraw.Draw(picture).text((80, 150), "VIDCURATE 2026", fill="white", font=font)
        pictures.append(picture)
    clip = encode(tmp_path / "text.mp4", pictures, size=(640, 360))
    result = extract_video(clip, ["text"])["text"]
    assert [f.timestamp for f in result.frames] == pytest.approx([0.0, 1.0, 2.0])
    empty, shown, gone = result.frames
    assert empty.boxes == []
    assert gone.boxes == []
    assert empty.text_area == 0.0
    read = "".join(box.text for box in shown.boxes).replace(" ", "")
    assert read == "VIDCURATE2026"
    left, top, _, bottom = shown.boxes[0].box
    assert left == pytest.approx(80 / 640, abs=0.05)
    assert top < 160 / 360 < bottom
    # the line covers about 330 x 40 px of 640 x 360
    assert 0.03 < shown.text_area < 0.15
    assert result.text_frame_share == pytest.approx(1 / 3)
    assert result.texts == [shown.boxes[0].text]


def ffprobe(path: Path) -> dict:
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-show_format", "-show_streams", "-of", "json", str(path)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out)


@pytest.mark.skipif(
    shutil.which("ffprobe") is None, reason="ffprobe not installed (make test installs ffmpeg)"
)
@pytest.mark.parametrize("name", sorted(p.name for p in SAMPLES.glob("*") if p.suffix != ".md"))
def test_technical_fields_equal_ffprobes_on_the_sample_clips(name):
    path = SAMPLES / name
    probe = ffprobe(path)
    video = next(s for s in probe["streams"] if s["codec_type"] == "video")
    audio = next((s for s in probe["streams"] if s["codec_type"] == "audio"), None)
    result = extract_video(path, ["technical"])["technical"]
    rotation = 0
    for side in video.get("side_data_list", []):
        if "rotation" in side:
            rotation = int(-side["rotation"]) % 360
    width, height = video["width"], video["height"]
    if rotation in (90, 270):
        width, height = height, width
    assert (result.width, result.height) == (width, height)
    assert result.rotation == rotation
    assert result.video_codec == video["codec_name"]
    num, den = (int(x) for x in video["avg_frame_rate"].split("/"))
    if den:
        assert result.fps == pytest.approx(num / den, rel=1e-3)
    duration = float(video.get("duration") or probe["format"]["duration"])
    assert result.duration == pytest.approx(duration, abs=0.05)
    # The file's bits over its duration: FFmpeg versions divide by the container header's
    # duration (rounded to its time scale) or the longest stream's: equal to a thousandth.
    assert result.bit_rate == pytest.approx(int(probe["format"]["bit_rate"]), rel=1e-3)
    if "bit_rate" in video:
        assert result.video_bit_rate == int(video["bit_rate"])
    assert result.audio is (audio is not None)
    if audio is not None:
        assert result.audio_codec == audio["codec_name"]
        assert result.audio_sample_rate == int(audio["sample_rate"])
        assert result.audio_channels == int(audio["channels"])
    assert (
        probe["format"]["format_name"].split(",")[0] in result.container
        or result.container in probe["format"]["format_name"]
    )


def test_one_decode_serves_every_extractor(tmp_path, monkeypatch):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=3.0)
    opened: list[str] = []
    real_open = av.open

    def counting_open(*args, **kwargs):
        opened.append(str(args[0]))
        return real_open(*args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)  # the library's entry, counted
    results = extract_video(clip, list(EXTRACTORS))
    assert set(results) == set(EXTRACTORS)
    assert len(opened) == 1  # one container, decoded once, for all five
    assert [f.timestamp for f in results["quality"].frames] == pytest.approx([0.0, 1.0, 2.0])
    assert [f.timestamp for f in results["text"].frames] == pytest.approx([0.0, 1.0, 2.0])
    assert len(results["motion"].pairs) == 17  # 18 frames at 1/6 s
    opened.clear()
    extract_video(clip, ["quality", "technical"])  # sampled frames only: one open too
    assert len(opened) == 1


def test_frames_from_the_straight_pass_are_the_ones_on_screen(tmp_path):
    from clips import frame_number  # noqa: PLC0415

    clip = tmp_path / "clip.mp4"
    times = make_clip(clip, seconds=2.0, fps=30, bframes=2)
    seen: dict[str, list[tuple[float, int]]] = {"every": [], "sampled": []}

    class Recorder:
        def __init__(self, key):
            self.key = key

        def start(self, info):
            pass

        def add(self, frame):
            seen[self.key].append((frame.timestamp, frame_number(frame.image)))

    from shared.features import extract as extract_module  # noqa: PLC0415
    from shared.features.specs import ExtractorSpec, Needs  # noqa: PLC0415
    from shared.media.decode import open_clip  # noqa: PLC0415

    specs = [
        ExtractorSpec("every", "1", Needs(every_frame=True, max_side=160), "x:y"),
        ExtractorSpec("sampled", "1", Needs(interval=0.25, max_side=160), "x:y"),
    ]
    with open_clip(clip) as opened:
        extract_module._feed(opened, specs, [Recorder("every"), Recorder("sampled")])
    assert [n for _, n in seen["every"]] == list(range(len(times)))
    expected = [max(i for i, t in enumerate(times) if t <= k * 0.25 + 1e-6) for k in range(8)]
    assert [n for _, n in seen["sampled"]] == expected


def test_the_schedule_is_the_union_of_the_extractors_rates():
    specs = plan(["technical", "quality"])
    assert [s.name for s in specs] == ["technical", "quality"]
    assert schedule(specs, 2.5) == {0.0: [1], 1.0: [1], 2.0: [1]}
    assert schedule(plan(["technical"]), 10.0) == {}
    assert [s.name for s in plan(["motion"])] == ["shots", "motion"]
    with pytest.raises(KeyError):
        plan(["colour"])


def test_a_known_result_is_not_computed_again(tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=2.0)
    shots = extract_video(clip, ["shots"])["shots"]
    results = extract_video(clip, ["motion"], known={"shots": shots})
    assert set(results) == {"motion"}
    assert len(results["motion"].shots) == shots.shot_count


def test_a_file_that_is_not_a_video_is_one_clear_error(tmp_path):
    text = tmp_path / "notes.mp4"
    text.write_text("not a video")
    with pytest.raises(VideoDecodeError, match=r"notes\.mp4"):
        extract_video(text, ["technical"], label="notes.mp4")


def test_videos_outside_the_limits_are_refused_with_the_reason(tmp_path):
    clip = tmp_path / "clip.mp4"
    make_clip(clip, seconds=3.0, size=(320, 240))
    with pytest.raises(VideoRejectedError, match=r"longer than the limit of 2 s"):
        extract_video(clip, ["technical"], label="clip.mp4", limits=Limits(max_seconds=2))
    with pytest.raises(VideoRejectedError, match=r"320x240 is outside 16..256 px"):
        extract_video(clip, ["technical"], label="clip.mp4", limits=Limits(max_side=256))

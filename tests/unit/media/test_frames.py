"""Frame sampling with PyAV: the frame on screen at each time, exactly, on synthetic clips
whose frames carry their own index (tests/clips.py) and on the real sample clips."""

from __future__ import annotations

import bisect
import json
import random
from pathlib import Path

import av
import pytest
from clips import frame_number, make_clip, read_barcode
from PIL import Image, ImageChops, ImageStat
from typer.testing import CliRunner

from shared.cli.main import app
from shared.media.decode import VideoDecodeError, open_clip
from shared.media.folders import extract_to_folder
from shared.media.sampling import ANALYSIS_SAMPLING, Sampling
from shared.media.settings import MediaSettings

SAMPLES = Path(__file__).resolve().parents[4] / "shared" / "data" / "videos"


def on_screen(times: list[float], t: float) -> int:
    """Index of the frame on screen at ``t``: the last one presented at or before it."""
    return max(0, bisect.bisect_right(times, t + 1e-6) - 1)


def sample(path: Path, sampling: Sampling):
    with open_clip(path) as clip:
        return list(clip.sample(sampling)), clip.info


# --- what to sample ---------------------------------------------------------------------


def test_targets_per_mode():
    assert Sampling().targets(95.0) == [0.0, 10.0, 20.0]  # every 10 s, at most 3
    assert Sampling(max_frames=None).targets(25.0) == [0.0, 10.0, 20.0]
    assert Sampling(interval_seconds=4, max_frames=None).targets(9.0) == [0.0, 4.0, 8.0]
    window = Sampling(mode="window", window_end=30, max_frames=None)
    assert window.targets(100.0) == [5.0, 15.0, 25.0]
    assert window.targets(20.0) == [5.0, 15.0]  # the window is cut at the end of the clip
    assert window.targets(3.0) == [1.5]  # shorter than half a slot: the middle of the clip
    assert Sampling(mode="window", window_start=10, window_end=30).targets(12.0) == [11.0]
    assert Sampling(mode="window", window_start=10, window_end=30).targets(8.0) == []
    # what the pipeline samples for analysis by default: the explorer's 5, 15, 25 s
    assert ANALYSIS_SAMPLING.targets(600.0) == [5.0, 15.0, 25.0]
    assert MediaSettings().frame_sampling == ANALYSIS_SAMPLING
    assert Sampling(mode="at", timestamps=(7, 1, 7)).targets(5.0) == [1.0, 7.0]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"mode": "at"}, "needs timestamps"),
        ({"timestamps": (1.0,)}, "only used with mode 'at'"),
        ({"mode": "at", "timestamps": (-1.0,)}, ">= 0"),
        ({"mode": "window", "window_start": 10, "window_end": 5}, "after window_start"),
        ({"interval_seconds": 0}, "greater than 0"),
    ],
)
def test_bad_sampling_is_refused_with_the_field(fields, message):
    with pytest.raises(ValueError, match=message):
        Sampling(**fields)


# --- exact frames -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "options"),
    [
        ("h264_bframes.mp4", {"bframes": 2, "gop": 60}),
        ("h264_long_gop.mp4", {"bframes": 3, "gop": 250, "seconds": 9}),
        ("h264_vfr.mp4", {"vfr": True, "gop": 24}),
        ("mpeg4_bframes.avi", {"codec": "mpeg4", "bframes": 2, "gop": 30}),
        ("vp8.webm", {"codec": "libvpx", "gop": 45}),
        ("h264_with_audio.mkv", {"audio": True, "gop": 30}),
    ],
)
def test_every_sampled_frame_is_the_one_on_screen_at_its_target(tmp_path, name, options):
    path = tmp_path / name
    times = make_clip(path, **options)
    rng = random.Random(name)
    targets = sorted({round(rng.uniform(0, times[-1] + 0.02), 4) for _ in range(25)})
    targets += [times[0], times[len(times) // 2], times[-1]]  # exactly on frames, too

    frames, _info = sample(path, Sampling(mode="at", timestamps=tuple(targets)))

    seen = set()
    for frame in frames:
        assert not isinstance(frame, float), f"{frame} reported past the end"
        index = frame_number(frame.image)
        assert frame.timestamp == pytest.approx(times[index], abs=1e-6)
        for target in frame.targets:
            assert index == on_screen(times, target), (target, index)
        assert index not in seen  # a frame on screen at several targets is written once
        seen.add(index)
    assert sorted(t for f in frames for t in f.targets) == sorted(set(targets))


def test_interval_sampling_decodes_the_same_frames_as_targets_one_by_one(tmp_path):
    path = tmp_path / "clip.mp4"
    times = make_clip(path, seconds=8, gop=48)

    frames, info = sample(path, Sampling(interval_seconds=0.7, max_frames=None))

    assert info.duration == pytest.approx(8.0, abs=0.05)
    expected = [on_screen(times, 0.7 * k) for k in range(12)]
    assert [frame_number(f.image) for f in frames] == expected


def test_rotation_metadata_is_applied(tmp_path):
    path = tmp_path / "portrait.mp4"
    times = make_clip(path, size=(320, 240), rotate=90, seconds=2)

    frames, _info = sample(path, Sampling(mode="at", timestamps=(1.0,)))

    (frame,) = frames
    assert frame.image.size == (240, 320)  # turned for display
    assert read_barcode(frame.image) == (on_screen(times, 1.0), 90)


def test_targets_past_the_end_are_reported_not_invented(tmp_path):
    path = tmp_path / "short.mp4"
    times = make_clip(path, seconds=2)

    frames, info = sample(path, Sampling(mode="at", timestamps=(1.0, 1.99, 2.5, 60.0)))

    pictures = [f for f in frames if not isinstance(f, float)]
    assert [frame_number(f.image) for f in pictures] == [
        on_screen(times, 1.0),
        on_screen(times, 1.99),
    ]
    assert [f for f in frames if isinstance(f, float)] == [2.5, 60.0]
    assert info.duration == pytest.approx(2.0, abs=0.04)


def test_keyframes_mode_snaps_to_the_keyframe_before_each_target(tmp_path):
    path = tmp_path / "gop.mp4"
    times = make_clip(path, seconds=6, gop=45, bframes=2)

    frames, _info = sample(path, Sampling(mode="keyframes", interval_seconds=2, max_frames=None))

    numbers = [frame_number(f.image) for f in frames]
    assert numbers == [0, 45, 90]  # the keyframes at or before 0, 2 and 4 s (every 1.5 s)
    assert [f.timestamp for f in frames] == [pytest.approx(times[n]) for n in numbers]


# --- clips that cannot be sampled -------------------------------------------------------


def audio_only(path: Path) -> None:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("aac", rate=48000)
        stream.layout = "stereo"
        frame = av.AudioFrame(format="fltp", layout="stereo", samples=1024)
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        frame.sample_rate = 48000
        for index in range(20):
            frame.pts = index * 1024
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)


@pytest.mark.parametrize(
    ("name", "make", "reason"),
    [
        ("empty.mp4", lambda p: p.write_bytes(b""), "not a readable video"),
        ("notes.mp4", lambda p: p.write_text("not a video at all\n" * 50), "not a readable"),
        ("voice.m4a", audio_only, r"no video stream \(audio\)"),
    ],
)
def test_what_is_not_a_video_fails_with_the_reason(tmp_path, name, make, reason):
    path = tmp_path / name
    make(path)

    with pytest.raises(VideoDecodeError, match=reason) as caught:
        sample(path, Sampling())

    assert name in str(caught.value)


def test_a_truncated_clip_fails_cleanly_or_samples_what_is_there(tmp_path):
    path = tmp_path / "whole.mp4"
    make_clip(path, seconds=4)
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])

    # the index is at the end of an MP4 (moov after mdat): without it, nothing is readable
    with pytest.raises(VideoDecodeError, match=r"cut\.mp4"):
        sample(cut, Sampling(interval_seconds=1, max_frames=None))


# --- files and the CLI ------------------------------------------------------------------


def test_extract_to_folder_writes_jpegs_and_an_index(tmp_path):
    clip = tmp_path / "walk.mp4"
    times = make_clip(clip, size=(640, 480), seconds=5)

    index = extract_to_folder(clip, tmp_path / "out", Sampling(interval_seconds=2), max_side=160)

    folder = tmp_path / "out" / "walk"
    assert json.loads((folder / "index.json").read_text()) == index
    assert index["video"] == str(clip)
    assert [f["timestamp"] for f in index["frames"]] == [
        pytest.approx(times[on_screen(times, t)]) for t in (0, 2, 4)
    ]
    for entry in index["frames"]:
        path = Path(entry["path"])
        assert path.parent == folder
        assert path.name == f"{round(entry['timestamp'] * 1000)}.jpg"
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.size == (entry["width"], entry["height"]) == (160, 120)
            assert frame_number(image) == on_screen(times, entry["targets"][0])


def test_cli_extract_writes_each_clip_and_names_the_one_that_failed(tmp_path):
    clip = tmp_path / "a.mp4"
    make_clip(clip, seconds=3)
    broken = tmp_path / "b.mp4"
    broken.write_text("nope")

    result = CliRunner().invoke(
        app,
        ["frames", "extract", str(clip), str(broken), "--at", "0.5,2.5",
         "--out", str(tmp_path / "out")],
    )  # fmt: skip

    assert result.exit_code == 1, result.output
    assert "b.mp4" in result.output
    assert "not a readable video" in result.output
    index = json.loads((tmp_path / "out" / "a" / "index.json").read_text())
    assert len(index["frames"]) == 2


def test_cli_refuses_bad_flags_with_the_field(tmp_path):
    runner = CliRunner()

    bad_at = runner.invoke(app, ["frames", "extract", "x.mp4", "--at", "1,two"])
    bad_window = runner.invoke(app, ["frames", "extract", "x.mp4", "--window", "30,10"])

    assert bad_at.exit_code == 2
    assert "seconds separated by commas" in bad_at.output
    bad_interval = runner.invoke(app, ["frames", "extract", "x.mp4", "--interval", "-1"])
    both = runner.invoke(app, ["frames", "extract", "x.mp4", "--at", "5", "--window", "0,30"])

    assert bad_window.exit_code == 2
    # in the user's words: the flag, not the model's field
    assert "--window: END (10) must be after START (30)" in " ".join(bad_window.output.split())
    assert bad_interval.exit_code == 2
    assert "--interval" in bad_interval.output
    assert "interval_seconds" not in bad_interval.output
    assert both.exit_code == 2
    assert "--at and --window are different samplings" in " ".join(both.output.split())


# --- the real sample clips (../shared/data/videos) --------------------------------------

REAL = sorted(SAMPLES.glob("*.*")) if SAMPLES.is_dir() else []
REAL = [p for p in REAL if p.suffix in {".mp4", ".webm", ".avi"}]


def reference(path: Path, indices: set[int]) -> tuple[list[float], dict[int, Image.Image]]:
    """Every frame's time (full decode, no seeking) and the pictures at ``indices``."""
    times: list[float] = []
    pictures: dict[int, Image.Image] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        origin = (stream.start_time or 0) * float(stream.time_base)
        for index, frame in enumerate(container.decode(stream)):
            times.append(frame.time - origin)
            if index in indices:
                pictures[index] = frame.to_image()
    return times, pictures


@pytest.mark.skipif(not REAL, reason=f"sample clips not found at {SAMPLES}")
@pytest.mark.parametrize("path", [p for p in REAL if "long" not in p.name], ids=lambda p: p.name)
def test_real_clips_match_a_full_decode(path):
    times, _ = reference(path, set())
    rng = random.Random(path.name)
    targets = sorted({round(rng.uniform(0, times[-1]), 3) for _ in range(6)})
    wanted = {on_screen(times, t) for t in targets}
    times, pictures = reference(path, wanted)

    frames, _info = sample(path, Sampling(mode="at", timestamps=tuple(targets)))

    for frame in frames:
        assert not isinstance(frame, float)
        index = on_screen(times, frame.targets[0])
        assert frame.timestamp == pytest.approx(times[index], abs=1e-6)
        difference = ImageChops.difference(frame.image.convert("RGB"), pictures[index])
        assert max(ImageStat.Stat(difference).mean) < 1.0, (path.name, frame.targets)


def test_cli_videos_add_refuses_what_is_not_a_clip_and_samples_the_rest(tmp_path):
    clip = tmp_path / "walk.mp4"
    times = make_clip(clip, seconds=12, fps=10)
    (tmp_path / "walk.json").write_text(json.dumps({"factory_id": "f3", "worker_id": 7}))
    junk = tmp_path / "junk.mp4"
    junk.write_text("not a clip")
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    text = tmp_path / "readme.txt"
    text.write_text("x" * 3000)  # FFmpeg would read it as ANSI art
    picture = tmp_path / "still.jpg"
    Image.new("RGB", (64, 48), "red").save(picture)
    twin = tmp_path / "other" / "walk.mp4"
    twin.parent.mkdir()
    twin.write_bytes(clip.read_bytes())
    home = tmp_path / "home"
    runner = CliRunner()
    add = ["--home", str(home), "videos", "add", "--prefix", "ego", "--meta", "batch=b1"]

    refused = runner.invoke(app, [*add, str(clip), str(junk), str(empty), str(text),
                                  str(picture), str(twin), str(tmp_path / "other")])  # fmt: skip
    first = runner.invoke(app, [*add, str(clip)])
    again = runner.invoke(app, [*add, str(clip)])

    # THEN the mixed batch is refused whole, one line per problem, nothing uploaded
    shown = " ".join(refused.output.split())
    assert refused.exit_code == 1, refused.output
    assert "nothing was added" in shown
    for problem in (f"{junk}: not a readable video file", f"{empty}: not a readable video file",
                    f"{text}: not a video", f"{picture}: not a video",
                    f"{twin}: same name as {clip}", f"{tmp_path / 'other'}: a folder"):  # fmt: skip
        assert problem in shown, problem
    assert "Traceback" not in refused.output
    # ... and the clip alone is written once, sampled, with its sidecar's types
    assert first.exit_code == 0, first.output
    assert "1 clip(s) written" in first.output
    assert "0 clip(s) written" in again.output  # unchanged: not written, not sampled again
    from shared.bootstrap import build_context  # noqa: PLC0415
    from shared.config import Settings  # noqa: PLC0415
    from shared.media.clips import clip_report  # noqa: PLC0415

    services = build_context(Settings(home=home))
    try:
        names = {i.name for i in services.blobs.list(services.settings.videos_bucket)}
        assert names == {"ego/walk.mp4", "ego/walk.json"}
        report = clip_report(services, services.settings.videos_bucket, "ego/walk.mp4")
        assert report["status"] == "done"
        # the sidecar's JSON types (worker_id stays a number); --meta as given
        assert report["metadata"] == {"factory_id": "f3", "worker_id": 7, "batch": "b1"}
        assert [f["timestamp"] for f in report["frames"]] == [
            times[on_screen(times, t)]
            for t in (5,)  # the middle of the first 10 s slot
        ]
    finally:
        services.close()


def test_files_dropped_in_the_bucket_that_are_not_clips_fail_on_the_first_delivery(tmp_path):
    from shared.bootstrap import build_context, build_runtime, use_context  # noqa: PLC0415
    from shared.config import Settings  # noqa: PLC0415
    from shared.media.clips import clip_report  # noqa: PLC0415

    services = build_context(Settings(home=tmp_path / "home", log_level="CRITICAL"))
    use_context(services)
    try:
        bucket = services.settings.videos_bucket
        services.blobs.write(bucket, "drop/empty.mp4", b"", content_type="video/mp4")
        services.blobs.write(bucket, "drop/junk.mp4", b"not a clip", content_type="video/mp4")

        stats = build_runtime(services).run_until_idle(timeout=120)

        assert stats.total_failed == 0  # recorded as failed, not retried
        for name in ("drop/empty.mp4", "drop/junk.mp4"):
            report = clip_report(services, bucket, name)
            assert report["status"] == "failed"
            assert "not a readable video file" in report["error"]
    finally:
        use_context(None)
        services.close()


def test_frames_extract_refuses_clips_that_would_share_a_folder_and_leaves_no_stale_frames(
    tmp_path,
):
    clip = tmp_path / "a" / "x.mp4"
    clip.parent.mkdir()
    make_clip(clip, seconds=6, fps=10)
    other = tmp_path / "b" / "x.mp4"
    other.parent.mkdir()
    other.write_bytes(clip.read_bytes())
    out = tmp_path / "frames"
    runner = CliRunner()

    clash = runner.invoke(app, ["frames", "extract", str(clip), str(other), "--out", str(out)])
    written_on_clash = out.exists()
    many = runner.invoke(app, ["frames", "extract", str(clip), "--out", str(out),
                               "--interval", "1", "--max-frames", "5"])  # fmt: skip
    few = runner.invoke(app, ["frames", "extract", str(clip), "--out", str(out),
                              "--interval", "4"])  # fmt: skip

    assert clash.exit_code == 1
    assert "would both write" in " ".join(clash.output.split())
    assert not written_on_clash  # refused before anything was written
    assert (many.exit_code, few.exit_code) == (0, 0)
    index = json.loads((out / "x" / "index.json").read_text())
    written = sorted(p.name for p in (out / "x").iterdir())
    assert written == sorted([*(Path(f["path"]).name for f in index["frames"]), "index.json"])
    assert len(index["frames"]) == 2  # 0 and 4 s: the five frames of before are gone
    assert [p.name for p in out.iterdir()] == ["x"]  # no temporary folder left


# --- audio and contact sheets -------------------------------------------------------------


def test_audio_is_extracted_as_16khz_mono_wav(tmp_path):
    import wave  # noqa: PLC0415

    from shared.media.audio import extract_audio  # noqa: PLC0415

    clip = tmp_path / "talk.mp4"
    make_clip(clip, seconds=3, audio=True)
    out = tmp_path / "talk.wav"

    info = extract_audio(clip, out)

    with wave.open(str(out)) as wav:
        assert (wav.getnchannels(), wav.getframerate(), wav.getsampwidth()) == (1, 16_000, 2)
        assert wav.getnframes() == info.samples
    assert info.seconds == pytest.approx(3.0, abs=0.1)
    silent = tmp_path / "silent.mp4"
    make_clip(silent, seconds=1)
    with pytest.raises(VideoDecodeError, match="no audio stream"):
        extract_audio(silent, tmp_path / "silent.wav")


def test_a_contact_sheet_centres_thumbnails_on_light_grey():
    from shared.media.grids import GRID_BACKGROUND, contact_sheet  # noqa: PLC0415

    colours = [(255, 0, 0), (0, 255, 0), (0, 0, 255), (255, 255, 0), (0, 255, 255),
               (255, 0, 255), (20, 20, 20)]  # fmt: skip
    images = [Image.new("RGB", (400, 100 + 50 * i), c) for i, c in enumerate(colours)]

    sheet = contact_sheet(images)

    assert sheet.size == (5 * 200, 2 * 200)
    assert sheet.getpixel((1, 1)) == GRID_BACKGROUND  # above the first, wide thumbnail
    for index, colour in enumerate(colours):
        row, column = divmod(index, 5)
        centre = sheet.getpixel((column * 200 + 100, row * 200 + 100))
        assert all(abs(a - b) <= 8 for a, b in zip(centre, colour, strict=True))
    assert sheet.getpixel((3 * 200 + 100, 1 * 200 + 100)) == GRID_BACKGROUND  # empty cell


def test_cli_grid_from_a_folder_and_from_the_frames_bucket(tmp_path):
    clip = tmp_path / "a.mp4"
    make_clip(clip, seconds=30, fps=10)  # sampled at 5, 15, 25 s; extracted at 0, 10, 20 s
    home = tmp_path / "home"
    runner = CliRunner()
    assert runner.invoke(app, ["--home", str(home), "videos", "add", str(clip)]).exit_code == 0
    out_dir = tmp_path / "frames"
    assert (
        runner.invoke(app, ["frames", "extract", str(clip), "--out", str(out_dir)]).exit_code == 0
    )

    from_bucket = runner.invoke(app, ["--home", str(home), "frames", "grid",
                                      "gs://vidcurate-frames/local/", "--out",
                                      str(tmp_path / "bucket.jpg")])  # fmt: skip
    from_folder = runner.invoke(app, ["frames", "grid", str(out_dir / "a"), "--columns", "2",
                                      "--out", str(tmp_path / "folder.jpg")])  # fmt: skip
    nothing = runner.invoke(app, ["frames", "grid", str(tmp_path / "none"), "--out",
                                  str(tmp_path / "x.jpg")])  # fmt: skip

    assert from_bucket.exit_code == 0, from_bucket.output
    assert "3 image(s)" in " ".join(from_bucket.output.split())
    assert from_folder.exit_code == 0, from_folder.output
    with Image.open(tmp_path / "bucket.jpg") as sheet:
        assert (sheet.format, sheet.size) == ("JPEG", (600, 200))
    with Image.open(tmp_path / "folder.jpg") as sheet:
        assert sheet.size == (400, 400)  # 3 images in 2 columns
    assert nothing.exit_code == 1
    assert "no such file or folder" in " ".join(nothing.output.split())


def test_without_the_sample_clips_the_demo_generates_its_own(tmp_path):
    from shared.demo.clips import demo_clips  # noqa: PLC0415

    clips = demo_clips(tmp_path / "clips", samples=tmp_path / "absent")

    assert [c.name for c in clips] == ["generated_0.mp4", "generated_1.mp4"]
    frames, info = sample(clips[0], Sampling())
    assert info.duration == pytest.approx(24.0, abs=0.2)
    assert [f.timestamp for f in frames] == [0.0, 10.0, 20.0]


def test_an_mpeg_program_stream_is_decoded_straight_through(tmp_path):
    # MPEG-PS: guessed times after a seek, an estimated duration, a start offset
    path = tmp_path / "old.mpg"
    absolute = make_clip(path, codec="mpeg2video", container="mpeg", seconds=10, gop=30)
    times = [t - absolute[0] for t in absolute]  # the clip's timeline starts at its first frame
    targets = (0.0, 0.5, 1.0, 5.5, 7.77, 9.9)

    frames, info = sample(path, Sampling(mode="at", timestamps=targets))

    assert info.duration == pytest.approx(10.0, abs=0.05)
    assert [frame_number(f.image) for f in frames] == [on_screen(times, t) for t in targets]
    assert [f.timestamp for f in frames] == [pytest.approx(times[on_screen(times, t)])
                                             for t in targets]  # fmt: skip


@pytest.mark.parametrize("open_gop", [False, True], ids=["closed-gop", "open-gop"])
def test_keyframes_mode_returns_the_last_keyframe_at_or_before_each_target(tmp_path, open_gop):
    path = tmp_path / "gop.mp4"
    times = make_clip(path, seconds=8, gop=40, bframes=3, open_gop=open_gop)
    keyframes = []
    with av.open(str(path)) as container:
        for index, frame in enumerate(container.decode(container.streams.video[0])):
            if frame.key_frame:
                keyframes.append(index)
    targets = tuple(round(0.37 * k, 3) for k in range(21))

    frames, _info = sample(path, Sampling(mode="at", timestamps=targets))
    snapped, _info = sample(path, Sampling(mode="keyframes", interval_seconds=0.37,
                                           max_frames=None))  # fmt: skip

    assert len(keyframes) > 3
    for frame in snapped:
        number = frame_number(frame.image)
        assert number in keyframes
        assert frame.timestamp == pytest.approx(times[number])
        for target in frame.targets:
            expected = max(k for k in keyframes if times[k] <= target + 1e-6)
            assert number == expected, (target, number, expected)
    assert len(frames) >= len(snapped)


def test_cli_grid_writes_the_format_its_name_says_with_labelled_cells_in_time_order(tmp_path):
    clip = tmp_path / "walk.mp4"
    make_clip(clip, seconds=30, fps=10)
    runner = CliRunner()
    out = tmp_path / "frames"
    assert runner.invoke(app, ["frames", "extract", str(clip), "--out", str(out), "--at",
                               "5,15,25"]).exit_code == 0  # fmt: skip

    png = runner.invoke(app, ["frames", "grid", str(out / "walk"), "--out",
                              str(tmp_path / "sheet.png"), "--cell", "120"])  # fmt: skip
    gif = runner.invoke(app, ["frames", "grid", str(out / "walk"), "--out",
                              str(tmp_path / "sheet.gif")])  # fmt: skip

    assert png.exit_code == 0, png.output
    with Image.open(tmp_path / "sheet.png") as sheet:
        assert sheet.format == "PNG"
        assert sheet.size == (360, 120)
        # under each picture, dark label text on the grey strip
        strip = sheet.convert("L").crop((0, 120 - 14, 360, 120))
        assert ImageStat.Stat(strip).extrema[0][0] < 100
    assert gif.exit_code == 2
    assert "write the sheet as" in " ".join(gif.output.split())
    from shared.media.grids import frame_label  # noqa: PLC0415

    assert frame_label("ego/walk/5000.jpg") == "walk @ 5 s"
    assert frame_label("gs://b/ego/walk/15000.jpg") == "walk @ 15 s"
    assert frame_label("notes/cover.png") == "cover.png"


def test_the_sampler_decodes_straight_when_seeking_costs_more(tmp_path):
    """Dense targets in an intra-only clip (a keyframe every frame): a seek per target costs
    more than decoding on, so the sampler decodes on, and still gives the exact frames."""
    intra = tmp_path / "intra.mp4"
    times = make_clip(intra, seconds=2.0, fps=30, gop=1, bframes=0)
    dense = [round(0.05 + 0.1 * i, 6) for i in range(15)]
    with open_clip(intra) as clip:
        assert clip.straight_is_cheaper(dense)
        got = [
            (f.targets, frame_number(f.image))
            for f in clip.sample(Sampling(mode="at", timestamps=tuple(dense), max_frames=None))
        ]
    expected = [bisect.bisect_right(times, t + 1e-6) - 1 for t in dense]
    assert [n for _, n in got] == expected
    sparse = tmp_path / "sparse.mp4"
    make_clip(sparse, seconds=20.0, fps=10, size=(96, 64), gop=20)
    with open_clip(sparse) as clip:
        assert not clip.straight_is_cheaper([1.0, 9.0, 17.0])  # a keyframe close to each
        assert clip.straight_is_cheaper([1.0, 1.1, 1.2, 1.3])  # all in one GOP


def test_pictures_can_come_scaled_and_the_rotation_is_told(tmp_path):
    clip_path = tmp_path / "turned.mp4"
    make_clip(clip_path, seconds=1.0, size=(320, 240), rotate=90)
    with open_clip(clip_path) as clip:
        (frame,) = list(clip.sample(Sampling(mode="at", timestamps=(0.5,)), max_side=160))
        assert frame.image.size == (120, 160)  # upright (240x320), at most 160 px
        assert clip.technical()["rotation"] == 90
    assert read_barcode(frame.image)[1] == 90  # turned for display, and still readable

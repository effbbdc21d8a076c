"""Runs over a collection: the frozen manifest (prefix, metadata filter, duplicates), tasks
that write each (video, extractor, version) once, failures recorded and skipped, a new
version recomputing one extractor, the Parquet tables, and three task processes over 50
clips with one killed half-way and rerun."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import orjson
import pandas as pd
import pyarrow.parquet as pq
import pytest
from clips import make_clip

from shared.core.errors import ConfigError
from shared.features import EXTRACTORS
from shared.features.runs import (
    Selection,
    create_run,
    failure_path,
    load_manifest,
    read_filter,
    result_path,
)
from shared.features.tables import consolidate, export, run_status
from shared.features.tasks import run_task
from shared.platform.sharding import TaskSlot

REPO = Path(__file__).resolve().parents[3]
CHEAP = ["technical", "quality"]


@pytest.fixture(scope="module")
def tiny_clips(tmp_path_factory) -> list[bytes]:
    """Six distinct one-second clips (different sizes make different bytes)."""
    folder = tmp_path_factory.mktemp("clips")
    clips = []
    for n in range(6):
        path = folder / f"c{n}.mp4"
        make_clip(path, seconds=1.0, fps=10, size=(96 + 2 * n, 64), gop=10)
        clips.append(path.read_bytes())
    return clips


def put(services, name: str, data: bytes) -> None:
    services.blobs.write(services.settings.videos_bucket, name, data, content_type="video/mp4")


def test_task_slots_are_disjoint_and_cover_the_list():
    items = list(range(50))
    slices = [TaskSlot(i, 3).take(items) for i in range(3)]
    assert sorted(x for s in slices for x in s) == items
    assert [len(s) for s in slices] == [17, 17, 16]
    assert TaskSlot.from_environment({"CLOUD_RUN_TASK_INDEX": "2", "CLOUD_RUN_TASK_COUNT": "3"})
    assert TaskSlot.from_environment({}) == TaskSlot(0, 1)
    with pytest.raises(ValueError, match="task 3 of 3 does not exist"):
        TaskSlot(3, 3)
    with pytest.raises(ValueError, match="must be integers"):
        TaskSlot.from_environment({"CLOUD_RUN_TASK_INDEX": "x"})


def test_the_selection_takes_the_prefix_the_filter_and_each_content_once(
    make_services, tiny_clips, tmp_path
):
    services = make_services()
    put(services, "videos/01_filtered/a.mp4", tiny_clips[0])
    put(services, "videos/01_filtered/b.mp4", tiny_clips[1])
    put(services, "videos/01_filtered/sub/c.mp4", tiny_clips[2])
    put(services, "videos/01_filtered/copy_of_a.mp4", tiny_clips[0])  # a duplicate
    services.blobs.write(  # not a clip
        services.settings.videos_bucket,
        "videos/01_filtered/notes.json",
        b"{}",
        content_type="application/json",
    )
    put(services, "videos/raw/d.mp4", tiny_clips[3])  # outside the prefix
    listing = tmp_path / "keep.csv"
    listing.write_text("video_id,title\na,x\nsub/c,y\ncopy_of_a,z\nmissing,w\n")
    ids = read_filter(listing)
    run = create_run(
        services, Selection(prefix="videos/01_filtered/", ids=ids), ["quality", "technical"]
    )
    entries = load_manifest(services, run.run)
    assert [e.object for e in entries] == [
        "videos/01_filtered/a.mp4",
        "videos/01_filtered/sub/c.mp4",
    ]
    assert (run.listed, run.filtered_out, run.duplicates, run.videos) == (4, 1, 1, 2)
    assert entries[0].video_id == "a"
    everything = create_run(services, Selection(), ["technical"])
    assert everything.videos == 4  # a, b, c, d; the copy is the same content as a


def test_filters_read_csv_and_jsonl_and_say_what_is_wrong(tmp_path):
    jsonl = tmp_path / "ids.jsonl"
    jsonl.write_text('{"video_id": "a"}\n\n{"id": 7}\n')
    assert read_filter(jsonl) == {"a", "7"}
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"video_id": "a"}\nnot json\n')
    with pytest.raises(ConfigError, match=r"bad\.jsonl:2: not JSON"):
        read_filter(bad)
    headless = tmp_path / "names.csv"
    headless.write_text("name\na\n")
    with pytest.raises(ConfigError, match=r"names\.csv: no video_id \(or id\) column"):
        read_filter(headless)
    empty = tmp_path / "empty.csv"
    empty.write_text("video_id\n")
    with pytest.raises(ConfigError, match="lists no video id"):
        read_filter(empty)


def test_unknown_extractors_and_empty_selections_are_refused(make_services):
    services = make_services()
    with pytest.raises(ConfigError, match="unknown extractor 'colour'"):
        create_run(services, Selection(), ["colour"])
    with pytest.raises(ConfigError, match=r"no video under gs://vidcurate-videos/nothing/"):
        create_run(services, Selection(prefix="nothing/"), ["technical"])


def test_a_task_writes_each_result_once_and_a_rerun_computes_nothing(make_services, tiny_clips):
    services = make_services()
    for n, data in enumerate(tiny_clips[:3]):
        put(services, f"v/{n}.mp4", data)
    put(services, "v/broken.mp4", b"not a video at all")
    run = create_run(services, Selection(prefix="v/"), CHEAP).run
    first = run_task(services, run, TaskSlot())
    assert (first.computed, first.failed, first.already_done) == (3, 1, 0)
    bucket = services.settings.features_bucket
    stored = orjson.loads(services.blobs.read(bucket, result_path("quality", "1", "v/0.mp4")))
    assert stored["extractor"] == "quality"
    assert len(stored["result"]["frames"]) == 1
    failure = orjson.loads(services.blobs.read(bucket, failure_path("v/broken.mp4")))
    assert "not a readable video file" in failure["reason"]
    generations = {b.name: b.generation for b in services.blobs.list(bucket, "results/")}
    again = run_task(services, run, TaskSlot())
    assert (again.computed, again.already_done, again.skipped_failed) == (0, 3, 1)
    assert {b.name: b.generation for b in services.blobs.list(bucket, "results/")} == generations
    status = run_status(services, run)
    assert [(r.extractor, r.done, r.failed, r.remaining) for r in status.extractors] == [
        ("technical", 3, 1, 0),
        ("quality", 3, 1, 0),
    ]
    assert list(status.failures) == ["v/broken.mp4"]


def test_a_new_version_recomputes_that_extractor_only(make_services, tiny_clips, monkeypatch):
    services = make_services()
    put(services, "v/0.mp4", tiny_clips[0])
    run = create_run(services, Selection(prefix="v/"), CHEAP).run
    run_task(services, run, TaskSlot())
    newer = dataclasses.replace(EXTRACTORS["quality"], version="2")
    monkeypatch.setitem(EXTRACTORS, "quality", newer)
    seen = []
    report = run_task(services, run, TaskSlot(), on_video=seen.append)
    assert report.computed == 1
    assert seen[0].computed == ["quality"]
    assert seen[0].skipped == ["technical"]
    bucket = services.settings.features_bucket
    assert services.blobs.exists(bucket, result_path("quality", "2", "v/0.mp4"))


def test_motion_reads_the_shots_checkpoint_instead_of_decoding_every_frame(
    make_services, tiny_clips
):
    services = make_services()
    put(services, "v/0.mp4", tiny_clips[0])
    run = create_run(services, Selection(prefix="v/"), ["shots"]).run
    run_task(services, run, TaskSlot())
    seen = []
    run_task(services, run, TaskSlot(), extractors=["motion"], on_video=seen.append)
    assert seen[0].computed == ["motion"]
    assert seen[0].skipped == ["shots"]


def test_videos_outside_the_limits_are_recorded_not_crashed_on(make_services, tiny_clips):
    services = make_services(features_max_seconds=0.5)
    put(services, "v/long.mp4", tiny_clips[0])
    put(services, "v/empty.mp4", b"")
    run = create_run(services, Selection(prefix="v/"), ["technical"]).run
    report = run_task(services, run, TaskSlot())
    assert report.failed == 2
    reasons = run_status(services, run).failures
    assert reasons["v/long.mp4"] == "v/long.mp4: 1.0 s is longer than the limit of 0.5 s"
    assert reasons["v/empty.mp4"].startswith("v/empty.mp4: not a readable video file")


def test_tables_and_the_export_read_as_pandas_does(make_services, tiny_clips, tmp_path):
    services = make_services()
    for n, data in enumerate(tiny_clips[:3]):
        put(services, f"v/{n}.mp4", data)
    put(services, "v/broken.mp4", b"nope")
    run = create_run(services, Selection(prefix="v/"), ["technical", "shots", "quality"]).run
    run_task(services, run, TaskSlot())
    rows = consolidate(services, run)
    assert rows == {"technical": 3, "shots": 3, "quality": 3}
    local = services.settings.home / "buckets" / services.settings.features_bucket
    shots = pd.read_parquet(local / "tables" / run / "shots.parquet")
    assert list(shots["object"]) == ["v/0.mp4", "v/1.mp4", "v/2.mp4"]
    assert [len(row) for row in shots["shots"]] == shots["shot_count"].tolist()
    assert isinstance(shots["shots"][0][0], dict)  # nested per-shot structs
    out = tmp_path / "features.parquet"
    assert export(services, run, out) == 4
    table = pq.read_table(out)
    assert table.column_names == [
        "object",
        "video_id",
        "md5",
        "technical",
        "shots",
        "quality",
        "failure",
    ]
    frame = table.to_pandas()
    broken = frame[frame["object"] == "v/broken.mp4"].iloc[0]
    assert broken["technical"] is None
    assert "not a readable video file" in broken["failure"]
    assert frame.iloc[0]["technical"]["width"] == 96
    assert not any(p.name.endswith(".partial") for p in tmp_path.iterdir())


# --- three task processes, one killed half-way ----------------------------------------------


def _task(home: Path, run: str, index: int, count: int) -> subprocess.Popen[str]:
    env = {
        **os.environ,
        "VIDCURATE_HOME": str(home),
        "VIDCURATE_BACKEND": "local",
        "VIDCURATE_LOG_LEVEL": "CRITICAL",
        "CLOUD_RUN_TASK_INDEX": str(index),
        "CLOUD_RUN_TASK_COUNT": str(count),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "shared.jobs.features", "--run", run],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )


def _lines(output: str) -> list[dict]:
    return [orjson.loads(line) for line in output.splitlines() if line.startswith("{")]


def _count(computed: Counter, output: str) -> None:
    """Count the (clip, extractor) pairs a task's per-video lines say it computed."""
    for outcome in _lines(output):
        if "kind" in outcome:  # not the task's summary
            for name in outcome.get("computed", []):
                computed[(outcome["object"], name)] += 1


@pytest.mark.xdist_group("torch")  # CPU-bound: never beside another CPU-bound test
def test_three_tasks_one_killed_half_way_and_rerun_equal_a_single_task(make_services, tmp_path):
    clips = tmp_path / "clips"
    clips.mkdir()
    sharded = make_services(home=tmp_path / "sharded")
    single = make_services(home=tmp_path / "single")
    for n in range(50):
        path = clips / f"c{n:02d}.mp4"
        make_clip(path, seconds=0.5, fps=10, size=(70 + 2 * (n % 25), 64 + 2 * (n // 25)), gop=5)
        for services in (sharded, single):
            put(services, f"collection/{path.name}", path.read_bytes())
    extractors = list(EXTRACTORS)
    run = create_run(sharded, Selection(prefix="collection/"), extractors, run="r1").run
    create_run(single, Selection(prefix="collection/"), extractors, run="r1")

    computed: Counter[tuple[str, str]] = Counter()
    victim = 1
    tasks = {i: _task(sharded.settings.home, run, i, 3) for i in range(3)}
    # Kill task 1 once it has written about half of its 17 videos.
    assert tasks[victim].stdout is not None
    lines = []
    deadline = time.monotonic() + 240
    while len(lines) < 8 and time.monotonic() < deadline:
        line = tasks[victim].stdout.readline()
        if not line:
            break
        lines.append(line)
    assert len(lines) == 8, "the task ended before half of its slice"
    tasks[victim].send_signal(signal.SIGKILL)
    rest, _ = tasks[victim].communicate(timeout=60)
    assert tasks[victim].returncode == -signal.SIGKILL
    _count(computed, "".join(lines) + rest)
    for index in (0, 2):
        out, _ = tasks[index].communicate(timeout=600)
        assert tasks[index].returncode == 0
        _count(computed, out)
    rerun = _task(sharded.settings.home, run, victim, 3)
    out, _ = rerun.communicate(timeout=600)
    assert rerun.returncode == 0
    summary = _lines(out)[-1]
    assert summary["already_done"] >= 7  # what the killed task had written is not redone
    _count(computed, out)

    every = {(f"collection/c{n:02d}.mp4", name) for n in range(50) for name in extractors}
    assert max(computed.values()) == 1  # no (clip, extractor) computed twice
    # Written but never reported: only what the kill interrupted, one video's results (the
    # rerun computed that video's others, and nothing else it found).
    unreported = every - set(computed)
    assert len({clip for clip, _ in unreported}) <= 1
    bucket = sharded.settings.features_bucket
    for clip, name in every:  # every (clip, extractor) is stored
        assert sharded.blobs.exists(bucket, result_path(name, "1", clip))

    alone = _task(single.settings.home, run, 0, 1)
    alone.communicate(timeout=600)
    assert alone.returncode == 0
    for services in (sharded, single):
        consolidate(services, run)
    timing = ["seconds", "finished"]
    for name in extractors:
        tables = [
            pd.read_parquet(
                s.settings.home
                / "buckets"
                / s.settings.features_bucket
                / "tables"
                / run
                / f"{name}.parquet"
            ).drop(columns=timing)
            for s in (sharded, single)
        ]
        assert len(tables[0]) == 50
        pd.testing.assert_frame_equal(tables[0], tables[1])

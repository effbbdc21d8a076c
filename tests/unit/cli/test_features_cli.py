"""``vidcurate features run|status|export`` as a user runs them: local task processes, a
cloud execution whose task count and arguments reach the Cloud Run Admin API (a local
stand-in carries the tasks out here), status, the exported Parquet, and bad flags in one
line."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from http.server import ThreadingHTTPServer
from pathlib import Path

import pandas as pd
import pytest
from clips import make_clip
from cloudrun_fake import FakeCloudRun
from support import serving
from typer.testing import CliRunner

from shared.cli.main import app

runner = CliRunner()
FEATURES_JOB = "projects/proj/locations/europe-west1/jobs/vidcurate-features"


@pytest.fixture
def home(tmp_path, make_services) -> Path:
    services = make_services(home=tmp_path / "home")
    for n in range(4):
        clip = tmp_path / f"clip{n}.mp4"
        make_clip(clip, seconds=1.0, fps=10, size=(96 + 2 * n, 64), gop=10)
        services.blobs.write(
            services.settings.videos_bucket,
            f"videos/01_filtered/{clip.name}",
            clip.read_bytes(),
            content_type="video/mp4",
        )
    services.blobs.write(
        services.settings.videos_bucket,
        "videos/01_filtered/broken.mp4",
        b"not a video",
        content_type="video/mp4",
    )
    return services.settings.home


def test_a_local_run_with_two_tasks_then_status_and_export(home, tmp_path):
    listing = tmp_path / "keep.jsonl"
    listing.write_text('{"video_id": "clip0"}\n{"video_id": "clip2"}\n{"video_id": "broken"}\n')
    result = runner.invoke(
        app,
        ["--home", str(home), "features", "run", "--prefix", "videos/01_filtered/",
         "--filter", str(listing), "--extractors", "technical,quality", "--tasks", "2"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "3 videos of 5" in result.output
    assert "2 not in the filter" in result.output
    assert "failed videos/01_filtered/broken.mp4" in result.output
    assert "tables/" in result.output
    status = runner.invoke(app, ["--home", str(home), "features", "status", "--json"])
    assert status.exit_code == 0, status.output
    rows = {row["extractor"]: row for row in json.loads(status.stdout)["extractors"]}
    assert set(rows) == {"technical", "quality"}
    assert (rows["quality"]["done"], rows["quality"]["failed"], rows["quality"]["remaining"]) == (
        2,
        1,
        0,
    )
    out = tmp_path / "out" / "features.parquet"
    exported = runner.invoke(app, ["--home", str(home), "features", "export", "--out", str(out)])
    assert exported.exit_code == 0, exported.output
    frame = pd.read_parquet(out)
    assert sorted(frame["video_id"]) == ["broken", "clip0", "clip2"]
    assert frame.set_index("video_id").loc["clip2", "technical"]["width"] == 100


def test_a_cloud_run_starts_one_execution_of_n_tasks_and_consolidates(home):
    env = {
        "VIDCURATE_RUN_API_ENDPOINT": "",
        "VIDCURATE_PROJECT": "proj",
        "VIDCURATE_REGION": "europe-west1",
        "VIDCURATE_FEATURES_FOLLOW_SECONDS": "0.05",
    }

    def execute(args: list[str], tasks: int) -> None:
        # What Cloud Run does with the execution: the image's command, once per task.
        for index in range(tasks):
            subprocess.run(
                [sys.executable, "-m", "shared.jobs.features", *args],
                env={**os.environ, "VIDCURATE_HOME": str(home), "VIDCURATE_LOG_LEVEL": "CRITICAL",
                     "CLOUD_RUN_TASK_INDEX": str(index), "CLOUD_RUN_TASK_COUNT": str(tasks)},
                check=True,
                capture_output=True,
            )  # fmt: skip

    fake = FakeCloudRun(job=FEATURES_JOB, on_run=execute)
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    with serving(server, "fake-cloud-run") as base:
        result = runner.invoke(
            app,
            ["--home", str(home), "features", "run", "--where", "cloud", "--tasks", "3",
             "--extractors", "technical"],
            env={**env, "VIDCURATE_RUN_API_ENDPOINT": base},
        )  # fmt: skip
    assert result.exit_code == 0, result.output
    (started,) = fake.runs
    assert started["request"]["overrides"]["taskCount"] == 3
    args = started["args"]
    assert args[0] == "--run"
    assert args[2:] == ["--extractors", "technical"]
    assert "succeeded" in result.output
    assert "technical.parquet (4)" in result.output


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--extractors", "colour"], "--extractors: unknown colour"),
        (["--filter", "/nowhere/ids.csv"], "--filter: /nowhere/ids.csv: cannot be read"),
        (["--prefix", "nothing/"], "no video under gs://vidcurate-videos/nothing/"),
        (["--run", "missing"], "no run 'missing'"),
    ],
)
def test_bad_flags_are_one_line(home, args, words):
    result = runner.invoke(app, ["--home", str(home), "features", "run", *args])
    assert result.exit_code in (1, 2)
    assert words in result.output
    assert "Traceback" not in result.output


def test_export_needs_a_parquet_name_and_a_run(home, tmp_path):
    result = runner.invoke(
        app, ["--home", str(home), "features", "export", "--out", str(tmp_path / "x.csv")]
    )
    assert result.exit_code == 2
    assert "should end in .parquet" in result.output
    result = runner.invoke(
        app, ["--home", str(home), "features", "export", "--out", str(tmp_path / "x.parquet")]
    )
    assert result.exit_code == 2
    assert "no feature run yet" in result.output

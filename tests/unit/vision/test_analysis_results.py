"""``vidcurate frames analyze`` as users run it: at most 50 clips by default, and
``egocentric_analysis.json`` with each clip's metadata in its sidecar's JSON types, the frame
descriptions, and the cost of that run (not only the running total)."""

from __future__ import annotations

import json

import pytest
from clips import make_clip
from llmfake import (  # noqa: F401 (fixture llm_server)
    DEFAULT_OPENAI_KEY,
    llm_server_fixture,
)
from typer.testing import CliRunner

from shared.cli.main import app

SIDECAR = {"factory_id": 17, "worker_id": 4, "duration_sec": 32.0, "site": "north",
           "tags": ["bench", "hands"], "shift": None}  # fmt: skip


@pytest.fixture
def cli(tmp_path, llm_server, monkeypatch):
    """Run the CLI in ``tmp_path/work`` against a home whose vision model is the fake
    server (keys in the environment, as a user sets them)."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    env = {
        "OPENAI_API_KEY": DEFAULT_OPENAI_KEY,
        "VIDCURATE_OPENAI_BASE_URL": llm_server.openai_base_url,
        "VIDCURATE_MIN_BACKOFF_SECONDS": "0.01",
        "VIDCURATE_MAX_BACKOFF_SECONDS": "0.05",
        "COLUMNS": "200",
    }
    home = str(tmp_path / "home")
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, ["--home", home, *args], env=env)
        assert "Traceback" not in result.output
        return result

    llm_server.responder = lambda provider, model, body: {"description": "hands at a bench"}
    return invoke


def test_frames_analyze_writes_typed_metadata_descriptions_and_the_run_cost(
    cli, tmp_path, llm_server
):
    # GIVEN a 32 s clip with a sidecar whose values are numbers, text, a list and null
    clip = tmp_path / "ego_0001.mp4"
    make_clip(clip, seconds=32, fps=5, size=(160, 120))
    (tmp_path / "ego_0001.json").write_text(json.dumps(SIDECAR))
    other = tmp_path / "ego_0002.mp4"
    make_clip(other, seconds=12, fps=5, size=(160, 120))
    assert cli("videos", "add", str(clip), str(other), "--prefix", "ego").exit_code == 0

    # WHEN it is analysed with the defaults, then again (nothing new)
    first = cli("frames", "analyze", "--dataset", "ego")
    results = json.loads((tmp_path / "work" / "egocentric_analysis.json").read_text())
    again = cli("frames", "analyze", "--dataset", "ego")
    rerun = json.loads((tmp_path / "work" / "egocentric_analysis.json").read_text())

    # THEN each clip carries its sidecar's JSON as it was, and its frames (5, 15, 25 s)
    assert first.exit_code == 0, first.output
    by_clip = {c["clip"]: c for c in results["clips"]}
    assert by_clip["ego/ego_0001.mp4"]["metadata"] == SIDECAR
    assert by_clip["ego/ego_0002.mp4"]["metadata"] == {}
    frames = by_clip["ego/ego_0001.mp4"]["frames"]
    assert [f["timestamp"] for f in frames] == [5.0, 15.0, 25.0]
    assert {f["description"] for f in frames} == {"hands at a bench"}
    assert [f["timestamp"] for f in by_clip["ego/ego_0002.mp4"]["frames"]] == [5.0]
    # ... and the cost report is that run's: the fake server's usage, summed
    served = llm_server.served()
    assert len(served) == 4
    report = results["cost_report"]
    every = [f for c in results["clips"] for f in c["frames"]]
    assert report["frames"] == 4
    assert report["input_tokens"] == sum(f["input_tokens"] for f in every) > 0
    assert report["output_tokens"] == sum(f["output_tokens"] for f in every) > 0
    assert report["cost_usd"] == pytest.approx(sum(f["cost_usd"] for f in every))
    assert report["cost_usd"] > 0
    assert report["cost_per_frame_usd"] == pytest.approx(report["cost_usd"] / 4)
    assert results["run"]["max_clips"] == 50
    assert "this run: 4 frame(s) described" in " ".join(first.output.split())
    # a run with nothing new lists the same clips and costs nothing
    assert again.exit_code == 0, again.output
    assert len(llm_server.served()) == 4
    assert [c["clip"] for c in rerun["clips"]] == [c["clip"] for c in results["clips"]]
    assert rerun["cost_report"] == {"frames": 0, "input_tokens": 0, "output_tokens": 0,
                                    "cost_usd": 0.0, "cost_per_frame_usd": 0.0}  # fmt: skip
    assert rerun["run"]["clips_described_before"] == 2


def test_frames_analyze_takes_at_most_50_clips_unless_told(cli, tmp_path):
    clips = []
    for index in range(53):
        path = tmp_path / f"c{index:03d}.mp4"
        make_clip(path, seconds=1, fps=5, size=(80, 64), gop=5)
        clips.append(str(path))
    assert cli("videos", "add", *clips, "--prefix", "many").exit_code == 0

    default = cli("frames", "analyze", "--dataset", "many", "--dry-run")
    more = cli("frames", "analyze", "--dataset", "many", "--dry-run", "--max-clips", "60")

    assert default.exit_code == 0, default.output
    assert "50 frame(s) of 50 clip(s) would be described" in " ".join(default.output.split())
    assert "53 frame(s) of 53 clip(s) would be described" in " ".join(more.output.split())


def test_an_out_path_that_cannot_be_written_is_one_clear_line(cli, tmp_path):
    clip = tmp_path / "a.mp4"
    make_clip(clip, seconds=6, fps=5, size=(80, 64))
    assert cli("videos", "add", str(clip)).exit_code == 0
    blocker = tmp_path / "file"
    blocker.write_text("x")

    result = cli("frames", "analyze", "--out", str(blocker / "results.json"))

    assert result.exit_code == 1
    assert f"{blocker}: cannot write there" in " ".join(result.output.split())

"""``vidcurate learn round --where cloud`` and ``learn status --executions`` against a local
stand-in speaking the Cloud Run Admin API (v2, REST) to the real ``google-cloud-run`` client:
the execution is started with the round's arguments as container overrides, and followed."""

from __future__ import annotations

import json
from http.server import ThreadingHTTPServer

import pytest
from cloudrun_fake import FakeCloudRun
from support import serving
from typer.testing import CliRunner

from shared.cli.main import app
from shared.learning.rounds import RoundConfig

runner = CliRunner()


@pytest.fixture
def cloud_run(tmp_path):
    def start(outcome: str = "succeeded"):
        fake = FakeCloudRun(outcome)
        server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
        return fake, server

    return start


def _env(base: str) -> dict[str, str]:
    return {
        "VIDCURATE_RUN_API_ENDPOINT": base,
        "VIDCURATE_PROJECT": "proj",
        "VIDCURATE_REGION": "europe-west1",
        "VIDCURATE_LEARN_FOLLOW_SECONDS": "0.05",
    }


def test_a_cloud_round_starts_an_execution_with_its_arguments_and_follows_it(tmp_path, cloud_run):
    fake, server = cloud_run()
    with serving(server, "fake-cloud-run") as base:
        result = runner.invoke(
            app,
            ["--home", str(tmp_path), "learn", "round", "--where", "cloud", "--top-k", "7",
             "--epochs", "12", "--base-weights", "gs://team/resnet50.pt"],
            env=_env(base),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        (run,) = fake.runs
        expected = RoundConfig(round=0, top_k=7, epochs=12, base_weights="gs://team/resnet50.pt")
        assert run["args"] == expected.to_args()
        assert run["args"][:2] == ["--round", "0"]  # the next round
        assert "started" in result.output
        assert "succeeded" in result.output
        status = runner.invoke(
            app,
            ["--home", str(tmp_path), "learn", "status", "--executions", "--json"],
            env=_env(base),
        )
    assert status.exit_code == 0, status.output
    (listed,) = json.loads(status.stdout)["executions"]
    assert listed["state"] == "succeeded"
    assert listed["args"] == expected.to_args()


def test_a_failed_cloud_execution_fails_the_command(tmp_path, cloud_run):
    fake, server = cloud_run("failed")
    with serving(server, "fake-cloud-run") as base:
        result = runner.invoke(
            app, ["--home", str(tmp_path), "learn", "round", "--where", "cloud", "--round", "2"],
            env=_env(base),
        )  # fmt: skip
    assert result.exit_code == 1
    assert "the execution failed" in result.output
    assert fake.runs[0]["args"][:2] == ["--round", "2"]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--round", "1", "--base-weights", "gs://b/x.pt"], "only round 0"),
        (["--architecture", "vgg16"], "architecture"),
        (["--lr", "0"], "lr"),
    ],
)
def test_bad_round_flags_are_one_line(tmp_path, args, words):
    result = runner.invoke(app, ["--home", str(tmp_path), "learn", "round", *args])
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert "Traceback" not in result.output


@pytest.mark.xdist_group("torch")
def test_a_local_round_runs_the_job_here_and_status_shows_it(tmp_path, make_services):
    pytest.importorskip("torch")
    from learning_support import add_shape_frames  # noqa: PLC0415

    services = make_services(home=tmp_path / "home")
    add_shape_frames(services, 6, labelled=0.75)
    flags = ["--epochs", "1", "--architecture", "resnet18", "--image-size", "32",
             "--batch-size", "8", "--workers", "0", "--top-k", "3"]  # fmt: skip
    home = ["--home", str(tmp_path / "home")]
    result = runner.invoke(app, [*home, "learn", "round", *flags])
    assert result.exit_code == 0, result.output
    status = json.loads(runner.invoke(app, [*home, "learn", "status", "--json"]).stdout)
    (done,) = status["rounds"]
    assert done["status"] == "done"
    assert done["queue_size"] == 3
    table = runner.invoke(app, [*home, "learn", "status"])
    assert "perspective F1" in table.stdout
    # the next round is 1, and without round 0's labels being enough it would say why
    again = runner.invoke(app, [*home, "learn", "round", *flags, "--round", "0"])
    assert again.exit_code == 0  # a finished round run again does nothing

"""``vidcurate learn round --where cloud`` and ``learn status --executions`` against a local
stand-in speaking the Cloud Run Admin API (v2, REST) to the real ``google-cloud-run`` client:
the execution is started with the round's arguments as container overrides, and followed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from support import serving
from typer.testing import CliRunner

from shared.cli.main import app
from shared.learning.rounds import RoundConfig

runner = CliRunner()
JOB = "projects/proj/locations/europe-west1/jobs/vidcurate-active-learning"


class FakeCloudRun:
    """Executions of one job: each is running when first read, then finished."""

    def __init__(self, outcome: str = "succeeded") -> None:
        self.outcome = outcome
        self.runs: list[dict] = []
        self.reads: dict[str, int] = {}
        self.lock = threading.Lock()

    def execution(self, name: str, finished: bool) -> dict:
        body = {
            "name": name,
            "job": JOB.rsplit("/", 1)[-1],
            "createTime": "2026-12-03T10:00:00Z",
            "startTime": "2026-12-03T10:00:05Z",
            "taskCount": 1,
            "template": {"containers": [{"args": self.runs[int(name[-1]) - 1]["args"]}]},
            "logUri": "https://console.cloud.google.com/logs/x",
        }
        if finished:
            ok = self.outcome == "succeeded"
            body.update(
                completionTime="2026-12-03T10:20:00Z",
                succeededCount=1 if ok else 0,
                failedCount=0 if ok else 1,
                conditions=[{"type": "Completed",
                             "state": "CONDITION_SUCCEEDED" if ok else "CONDITION_FAILED"}],
            )  # fmt: skip
        return body

    def handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: dict) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self):
                if self.path.split("?")[0] != f"/v2/{JOB}:run":
                    return self._send(404, {"error": {"code": 404, "message": self.path}})
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                overrides = request.get("overrides", {}).get("containerOverrides", [{}])
                with fake.lock:
                    fake.runs.append({"args": overrides[0].get("args", []), "request": request})
                    name = f"{JOB}/executions/vidcurate-active-learning-x{len(fake.runs)}"
                execution = fake.execution(name, finished=False)
                execution["@type"] = "type.googleapis.com/google.cloud.run.v2.Execution"
                return self._send(200, {"name": f"{JOB}/operations/op", "metadata": execution})

            def do_GET(self):
                path = self.path.split("?")[0].removeprefix("/v2/")
                with fake.lock:
                    if path == f"{JOB}/executions":
                        names = [f"{JOB}/executions/vidcurate-active-learning-x{i + 1}"
                                 for i in range(len(fake.runs))]  # fmt: skip
                        return self._send(
                            200, {"executions": [fake.execution(n, True) for n in names]}
                        )
                    if path.startswith(f"{JOB}/executions/"):
                        fake.reads[path] = fake.reads.get(path, 0) + 1
                        return self._send(200, fake.execution(path, fake.reads[path] > 1))
                return self._send(404, {"error": {"code": 404, "message": path}})

            def log_message(self, *args):
                pass

        return Handler


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

"""A local stand-in speaking the Cloud Run Admin API (v2, REST) to the real
``google-cloud-run`` client: executions of one job are started (with their container
arguments and task count, which an ``on_run`` callback may carry out here), running when
first read, then finished."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler

JOB = "projects/proj/locations/europe-west1/jobs/vidcurate-active-learning"


class FakeCloudRun:
    """Executions of one job: each is running when first read, then finished."""

    def __init__(self, outcome: str = "succeeded", job: str = JOB, on_run=None) -> None:
        self.outcome = outcome
        self.job = job
        self.short = job.rsplit("/", 1)[-1]
        self.on_run = on_run  # (args, task count) -> None: what an execution does
        self.runs: list[dict] = []
        self.reads: dict[str, int] = {}
        self.lock = threading.Lock()

    def execution(self, name: str, finished: bool) -> dict:
        body = {
            "name": name,
            "job": self.short,
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
                if self.path.split("?")[0] != f"/v2/{fake.job}:run":
                    return self._send(404, {"error": {"code": 404, "message": self.path}})
                length = int(self.headers.get("Content-Length") or 0)
                request = json.loads(self.rfile.read(length) or b"{}")
                overrides = request.get("overrides", {}).get("containerOverrides", [{}])
                args = overrides[0].get("args", [])
                with fake.lock:
                    fake.runs.append({"args": args, "request": request})
                    name = f"{fake.job}/executions/{fake.short}-x{len(fake.runs)}"
                if fake.on_run is not None:
                    fake.on_run(args, request.get("overrides", {}).get("taskCount", 1))
                execution = fake.execution(name, finished=False)
                execution["@type"] = "type.googleapis.com/google.cloud.run.v2.Execution"
                return self._send(200, {"name": f"{fake.job}/operations/op", "metadata": execution})

            def do_GET(self):
                path = self.path.split("?")[0].removeprefix("/v2/")
                with fake.lock:
                    if path == f"{fake.job}/executions":
                        names = [f"{fake.job}/executions/{fake.short}-x{i + 1}"
                                 for i in range(len(fake.runs))]  # fmt: skip
                        return self._send(
                            200, {"executions": [fake.execution(n, True) for n in names]}
                        )
                    if path.startswith(f"{fake.job}/executions/"):
                        fake.reads[path] = fake.reads.get(path, 0) + 1
                        return self._send(200, fake.execution(path, fake.reads[path] > 1))
                return self._send(404, {"error": {"code": 404, "message": path}})

            def log_message(self, *args):
                pass

        return Handler

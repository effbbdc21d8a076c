"""The ping function served by a real ``functions-framework`` process (gunicorn), over HTTP.

This is the deployed shape: the same command line as the Cloud Run container, settings from
VIDCURATE_* variables, logs as JSON lines on stderr.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from support import (
    assert_running,
    free_port,
    poll,
    read_log,
    stop_process_group,
    wait_until_listening,
)

from shared.bootstrap import Context, build_context
from shared.config import Settings
from shared.platform.health import PINGS
from shared.platform.runtime.entrypoint import FAILURES

REPO = Path(__file__).resolve().parents[2]
START_TIMEOUT_SECONDS = 30.0
LOG_TIMEOUT_SECONDS = 10.0


def functions_framework_executable() -> str:
    beside_python = Path(sys.executable).parent / "functions-framework"
    found = str(beside_python) if beside_python.exists() else shutil.which("functions-framework")
    if found is None:
        pytest.skip("functions-framework is not installed (pip install -e '.[dev]')")
    return found


@dataclass
class ServedFunction:
    url: str
    process: subprocess.Popen[bytes]
    stderr_path: Path
    services: Context

    def log_entries(self) -> list[str]:
        return self.stderr_path.read_text(errors="replace").splitlines()

    def wait_for_log(self, predicate: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
        """The first JSON log entry matching ``predicate``; polls with a deadline.

        The response is sent before the worker's log line is guaranteed to be on disk.
        """

        def matching() -> dict[str, Any] | None:
            for line in self.log_entries():
                entry = parse_json_object(line)
                if entry is not None and predicate(entry):
                    return entry
            assert_running(self.process, self.stderr_path, "functions-framework")
            return None

        return poll(
            matching,
            LOG_TIMEOUT_SECONDS,
            message=lambda: f"no matching log entry in:\n{read_log(self.stderr_path)}",
        )


def parse_json_object(line: str) -> dict[str, Any] | None:
    try:
        entry = json.loads(line)
    except ValueError:
        return None
    return entry if isinstance(entry, dict) else None


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedFunction]:
    home = tmp_path_factory.mktemp("served-home")
    port = free_port()
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("VIDCURATE_", "FUNCTION_", "GUNICORN_"))
    }
    env.update(
        VIDCURATE_HOME=str(home),
        VIDCURATE_BACKEND="local",
        VIDCURATE_LOG_LEVEL="INFO",
        PYTHONPATH=str(REPO),
        PYTHONUNBUFFERED="1",
        THREADS="4",
    )
    stderr_path = home / "stderr.log"
    with stderr_path.open("wb") as stderr:
        process = subprocess.Popen(
            [
                functions_framework_executable(),
                "--target",
                "ping",
                "--signature-type",
                "cloudevent",
                "--source",
                str(REPO / "functions" / "ping" / "main.py"),
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=home,  # away from the repository's .env
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
        )
    services = None
    try:
        services = build_context(Settings(home=home, backend="local"))
        wait_until_listening(
            process, port, stderr_path, START_TIMEOUT_SECONDS, name="functions-framework"
        )
        yield ServedFunction(f"http://127.0.0.1:{port}", process, stderr_path, services)
    finally:
        stop_process_group(process)  # gunicorn's master and its worker
        if services is not None:
            services.close()


def send(served: ServedFunction, events: Any, event: Any, mode: str) -> requests.Response:
    headers, body = events.encode(event, mode)
    return requests.post(served.url, headers=headers, data=body, timeout=30)


def is_ack(response: requests.Response) -> bool:
    return 200 <= response.status_code < 300


def test_a_cloud_event_is_recorded(served, events, mode):
    event = events.ping({"hello": "served"}, attributes={"via": mode})

    response = send(served, events, event, mode)

    assert is_ack(response), response.text
    doc = served.services.documents.get(f"{PINGS}/{event['id']}")
    assert doc is not None
    assert doc.data["body"] == {"hello": "served"}
    assert doc.data["attributes"] == {"via": mode}


def test_a_permanent_failure_is_acknowledged_and_recorded(served, events, mode):
    event = events.ping({"fail": "permanent"})

    response = send(served, events, event, mode)

    assert is_ack(response), response.text
    assert served.services.documents.get(f"{PINGS}/{event['id']}") is None
    failure = served.services.documents.get(f"{FAILURES}/ping-{event['id']}")
    assert failure is not None
    assert "asked to fail permanently" in failure.data["error"]


def test_a_transient_failure_answers_500(served, events, mode):
    event = events.ping({"fail": "transient"})

    response = send(served, events, event, mode)

    assert response.status_code == 500
    assert served.services.documents.get(f"{PINGS}/{event['id']}") is None
    assert served.services.documents.get(f"{FAILURES}/ping-{event['id']}") is None


@pytest.mark.parametrize(
    "path", ["/projects/vidcurate-prod/topics/ping", "/"], ids=["topic in path", "root"]
)
def test_a_raw_pubsub_push_body_becomes_a_cloud_event(served, events, path):
    # A push subscription POSTs {"message": ..., "subscription": ...}, not a CloudEvent;
    # functions-framework converts it into a messagePublished event.
    push = events.push_body({"pushed": True})
    message_id = push["message"]["messageId"]

    response = requests.post(served.url + path, json=push, timeout=30)

    assert is_ack(response), response.text
    doc = served.services.documents.get(f"{PINGS}/{message_id}")
    assert doc is not None
    assert doc.data["body"] == {"pushed": True}
    assert doc.data["attributes"] == push["message"]["attributes"]


def test_logs_are_json_lines_with_severity_and_labels(served, events):
    handled, rejected, retried = (
        events.ping({"log": "ok"}),
        events.ping({"fail": "permanent"}),
        events.ping({"fail": "transient"}),
    )
    for event in (handled, rejected, retried):
        send(served, events, event, "binary")

    def about(event: Any, severity: str) -> Callable[[dict[str, Any]], bool]:
        def matches(entry: dict[str, Any]) -> bool:
            labels = entry.get("logging.googleapis.com/labels", {})
            return labels.get("event_id") == event["id"] and entry.get("severity") == severity

        return matches

    ok = served.wait_for_log(about(handled, "INFO"))
    error = served.wait_for_log(about(rejected, "ERROR"))
    warning = served.wait_for_log(about(retried, "WARNING"))

    assert ok["logging.googleapis.com/labels"]["function"] == "ping"
    assert ok["message"].startswith("event handled: ")
    assert ok["outcome"]  # what the handler did
    assert "asked to fail permanently" in error["error"]
    assert "retried" in warning["message"]
    # functions-framework logs the re-raised exception; it must be JSON with its trace too.
    crash = served.wait_for_log(
        lambda entry: f"message {retried['id']}: asked" in entry.get("stack_trace", "")
    )
    assert crash["severity"] == "ERROR"
    lines = [line for line in served.log_entries() if line.strip()]
    not_json = [line for line in lines if parse_json_object(line) is None]
    assert not_json == []
    assert all("severity" in parse_json_object(line) for line in lines)

"""The ``hub_upload`` entry point, served by functions-framework, fed real Pub/Sub CloudEvents,
publishing to the fake Hub (tests/hubfake.py) through the real huggingface_hub client."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cloudevents.http import CloudEvent
from flask.testing import FlaskClient
from hubfake import DEFAULT_TOKEN, FakeHub, hub_server_fixture  # noqa: F401 (fixture hub_server)

from shared.bootstrap import Context, build_context, use_context
from shared.config import Settings
from shared.platform.runtime.entrypoint import FAILURES
from shared.publishing.store import HUB_UPLOADS, hub_upload_path

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"
REPO = "acme/clips"
FOLDER = "export_20261123_1405"
TS = "20261123_1405"
STATISTICS = {
    "export_timestamp": TS,
    "tasks": ["subject"],
    "per_task": {
        "subject": {
            "long_name": "subject_description",
            "status_counts": {
                "not_completed": 1,
                "completed_not_reviewed": 2,
                "approved": 3,
                "rejected": 4,
            },
            "completion_rate": 0.9,
            "review_rate": 0.7,
            "approval_rate": 0.43,
        }
    },
}


@pytest.fixture
def services(hub_server: FakeHub, tmp_path: Path) -> Iterator[Context]:
    settings = Settings(
        home=tmp_path,
        backend="local",
        hf_endpoint=hub_server.endpoint,
        hf_token=DEFAULT_TOKEN,
        hf_dataset=REPO,
        hub_max_attempts=1,  # no backoff to wait through: a failure is the platform's to retry
    )
    built = build_context(settings)
    use_context(built)
    yield built
    use_context(None)
    built.close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], FlaskClient]]:
    """A test client for functions/hub_upload/main.py, as functions-framework serves it.

    create_app executes the source as module ``main``, appends its folder to ``sys.path`` and
    sets FUNCTION_TARGET / FUNCTION_SIGNATURE_TYPE: all undone after the test.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    for variable in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))
    previous_main = sys.modules.get("main")

    def serve() -> FlaskClient:
        source = FUNCTIONS_DIR / "hub_upload" / "main.py"
        return functions_framework.create_app("hub_upload", str(source), "cloudevent").test_client()

    yield serve
    if previous_main is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous_main


def write_export(services: Context) -> dict[str, bytes]:
    files = {
        f"all_videos_with_captions_{TS}.json": b"[]",
        f"comprehensive_statistics_{TS}.json": json.dumps(STATISTICS).encode(),
    }
    for name, data in files.items():
        services.blobs.write(services.settings.exports_bucket, f"{FOLDER}/{name}", data)
    return files


def post(client: FlaskClient, events: Any, event: CloudEvent, mode: str) -> Any:
    headers, body = events.encode(event, mode)
    return client.post("/", headers=headers, data=body)


def is_ack(response: Any) -> bool:
    return 200 <= response.status_code < 300


def test_a_hub_uploads_message_publishes_the_folder_once(services, serve, events, mode, hub_server):
    # GIVEN a finished export, and its hub-uploads message delivered twice
    files = write_export(services)
    event = events.ping({"folder": FOLDER, "requested_by": "export_snapshot"})
    client = serve()

    # WHEN both deliveries reach the function
    first = post(client, events, event, mode)
    second = post(client, events, event, mode)

    # THEN both are acknowledged, and the dataset repo got exactly one commit
    assert is_ack(first), first.text
    assert is_ack(second), second.text
    repo = hub_server.repo(REPO)
    assert len(repo.commits) == 1
    assert sorted(repo.commits[0].paths) == sorted(
        [*(f"{FOLDER}/{name}" for name in files), "README.md"]
    )
    assert "| subject | subject_description | 1 | 2 | 3 | 4 | 90.0% | 70.0% | 43.0% |" in (
        repo.files["README.md"].decode()
    )
    doc = services.documents.get(hub_upload_path(REPO, FOLDER))
    assert doc is not None
    assert doc.data["state"] == "done"
    assert doc.data["request_id"] == event["id"]
    assert doc.data["commit_oid"] == repo.commits[0].oid
    assert services.documents.count(FAILURES) == 0


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"folder": "../etc"}, "folder"),
        ({"folder": FOLDER, "repo_id": "not-a-repo"}, "not a Hugging Face repo id"),
        ({"repo_id": REPO}, "folder"),
        (b"not json", "invalid HubUploadRequest"),
    ],
    ids=["bad folder", "bad repo id", "no folder", "not json"],
)
def test_a_bad_payload_is_recorded_and_acknowledged(
    services, serve, events, mode, hub_server, body, expected
):
    event = events.ping(body)

    response = post(serve(), events, event, mode)

    assert is_ack(response), response.text
    failure = services.documents.get(f"{FAILURES}/hub_upload-{event['id']}")
    assert failure is not None
    assert failure.data["error_type"] == "PermanentError"
    assert "invalid HubUploadRequest" in failure.data["error"]
    assert expected in failure.data["error"]
    assert hub_server.requests == []
    assert services.documents.count(HUB_UPLOADS) == 0


def test_a_wrong_token_is_recorded_without_the_token_and_acknowledged(
    services, serve, events, hub_server
):
    write_export(services)
    hub_server.token = "hf_the_hub_expects_another_token"
    event = events.ping({"folder": FOLDER})

    response = post(serve(), events, event, "binary")

    assert is_ack(response), response.text
    failure = services.documents.get(f"{FAILURES}/hub_upload-{event['id']}")
    assert failure is not None
    assert failure.data["error_type"] == "PermanentError"
    assert "HTTP 401" in failure.data["error"]
    assert DEFAULT_TOKEN not in json.dumps(failure.data, default=str)
    doc = services.documents.get(hub_upload_path(REPO, FOLDER))
    assert doc is not None
    assert doc.data["state"] == "failed"
    assert DEFAULT_TOKEN not in json.dumps(doc.data, default=str)


def test_an_unavailable_hub_returns_500_so_the_platform_retries(
    services, serve, events, hub_server
):
    write_export(services)
    hub_server.fail_next(r"/commit/main$", 503, method="POST")
    event = events.ping({"folder": FOLDER})
    client = serve()

    failed = post(client, events, event, "structured")
    retried = post(client, events, event, "structured")

    assert failed.status_code == 500
    assert is_ack(retried), retried.text
    assert len(hub_server.repo(REPO).commits) == 1
    doc = services.documents.get(hub_upload_path(REPO, FOLDER))
    assert doc is not None
    assert doc.data["state"] == "done"
    assert doc.data["attempts"] == 2
    assert services.documents.count(FAILURES) == 0

"""The local runtime serving the deployed entry points, in-process and as `vidcurate serve`."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from support import poll

from shared.adapters.local import build_local_services
from shared.bootstrap import build_context, build_runtime, use_context
from shared.catalog import function_spec
from shared.config import Settings
from shared.platform.deadletters import list_dead_letters
from shared.platform.health import OBJECTS, PINGS, object_doc_id
from shared.platform.runtime.catalog import storage_topic

REPO = Path(__file__).resolve().parents[2]
POLL_TIMEOUT_S = 30.0  # bounded poll of the store, every 0.05 s


@pytest.fixture
def services(tmp_path):
    settings = Settings(
        home=tmp_path, min_backoff_seconds=0.01, max_backoff_seconds=0.05, log_level="CRITICAL"
    )
    built = build_context(settings)
    use_context(built)
    yield built
    use_context(None)
    built.close()


def test_uploads_and_messages_reach_the_deployed_entry_points(services):
    bucket = services.settings.annotations_bucket
    first = services.blobs.write(bucket, "cfg/a.json", b"{}")
    second = services.blobs.write(bucket, "cfg/a.json", b'{"v": 2}')
    services.bus.publish("ping", b'{"hello": "world"}', {"who": "test"})
    services.bus.publish("ping", b'{"fail": "permanent"}')

    stats = build_runtime(services).run_until_idle(timeout=60)

    assert stats.handled["echo_object"] == 2
    assert stats.handled["ping"] == 2
    obj = services.documents.get(f"{OBJECTS}/{object_doc_id(bucket, 'cfg/a.json')}")
    assert obj is not None
    assert obj.data["generation"] == second.generation > first.generation
    (ping,) = services.documents.query(PINGS)
    assert ping.data["body"] == {"hello": "world"}
    assert ping.data["attributes"] == {"who": "test"}
    (failure,) = services.documents.query("failures")
    assert "asked to fail permanently" in failure.data["error"]


def test_serve_picks_up_files_dropped_while_it_runs(services):
    bucket = services.settings.annotations_bucket
    runtime = build_runtime(services)
    stop = threading.Event()
    thread = threading.Thread(target=runtime.serve, args=(stop,))
    thread.start()
    try:
        dropped = services.blobs.root / bucket / "inbox" / "x_review.json"
        dropped.parent.mkdir(parents=True, exist_ok=True)
        dropped.write_text("{}")
        doc_path = f"{OBJECTS}/{object_doc_id(bucket, 'inbox/x_review.json')}"

        doc = poll(lambda: services.documents.get(doc_path), POLL_TIMEOUT_S)
    finally:
        stop.set()
        thread.join(timeout=30)

    assert doc.data["name"] == "inbox/x_review.json"
    assert not thread.is_alive()


def test_vidcurate_serve_as_a_process_handles_a_drop_and_stops_on_sigterm(tmp_path):
    env = {
        **os.environ,
        "VIDCURATE_HOME": str(tmp_path),
        "VIDCURATE_SCAN_INTERVAL_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    }
    settings = Settings(home=tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shared.cli.main", "serve", "--workers", "2"],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        bucket_dir = tmp_path / "buckets" / settings.annotations_bucket
        bucket_dir.mkdir(parents=True, exist_ok=True)
        (bucket_dir / "dropped.json").write_text(json.dumps({"by": "hand"}))
        _blobs, documents, _bus = build_local_services(settings)
        doc_path = f"{OBJECTS}/{object_doc_id(settings.annotations_bucket, 'dropped.json')}"
        poll(lambda: documents.get(doc_path) or proc.poll() is not None, POLL_TIMEOUT_S)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
    finally:
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=30)

    assert proc.returncode == 0, err
    assert "handled 2 events" in err  # echo_object, and ingest_feedback quarantining the name
    log_lines = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    assert any(line.get("severity") == "INFO" for line in log_lines)


def test_a_malformed_bucket_notification_is_acknowledged_not_dead_lettered(services):
    topic = storage_topic(services.settings.annotations_bucket)
    services.bus.publish(topic, b"not json", {"eventType": "OBJECT_FINALIZE"})

    stats = build_runtime(services).run_until_idle(timeout=60)

    assert stats.handled["echo_object"] == 1
    assert stats.total_failed == 0
    assert list_dead_letters(services.bus, [function_spec("echo_object")]) == []

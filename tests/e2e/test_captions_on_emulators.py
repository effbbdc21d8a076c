"""Caption ingestion and export on Google's emulators: the Firestore and GCS adapters under
the real services (transactions, nested maps, sub-collections, counts), with the GCS
notifications fake-gcs-server publishes delivered to ``ingest_feedback``."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path

import functions_framework
from captions_support import dumps, feedback, review, video_list
from cloudevents.conversion import to_binary
from emulators import EMULATOR_MARKS

from shared.captions.export import run_export
from shared.captions.messages import ExportRequest
from shared.captions.progress import caption_progress
from shared.captions.store import QUARANTINE, file_id
from shared.catalog import function_spec
from shared.platform.runtime.dispatch import to_cloud_event

pytestmark = list(EMULATOR_MARKS)

REPO = Path(__file__).resolve().parents[2]
SPEC = function_spec("ingest_feedback")
NOW = datetime(2026, 11, 23, 9, 30, tzinfo=UTC)


def test_drops_ingested_through_notifications_then_exported(cloud):
    services, subscriber = cloud
    bucket = services.settings.annotations_bucket
    client = functions_framework.create_app(
        SPEC.name, str(REPO / "functions" / SPEC.name / "main.py"), "cloudevent"
    ).test_client()
    files = {
        "default/videos/a.jsonl": video_list("v1", "v2"),
        "default/subject/v1_feedback.json": dumps(feedback("rita", "improved")),
        "default/subject/v1_feedback_prev.json": dumps(feedback("alice", "first")),
        "default/subject/v1_review.json": dumps(review(False)),
        "default/scene/v2_feedback.json": dumps(feedback("bob")),
        "default/scene/v1_feedback.json": b"{broken",
    }
    for name, data in files.items():
        services.blobs.write(bucket, name, data, content_type="application/json")

    # WHEN every notification is pulled and POSTed to the function (each one twice)
    delivered = 0
    deadline = time.monotonic() + 60
    while delivered < len(files) and time.monotonic() < deadline:
        for message in subscriber.pull(SPEC.subscription, max_messages=10):
            event = to_cloud_event(SPEC, message, services.settings)
            assert event is not None
            headers, body = to_binary(event)
            for _ in range(2):
                response = client.post("/", headers=headers, data=body)
                assert response.status_code == 200, response.get_data(as_text=True)
            subscriber.ack(SPEC.subscription, [message.ack_id])
            delivered += 1
        time.sleep(0.05)  # bounded poll of the subscription
    assert delivered == len(files)

    # THEN Firestore holds the statuses, counted by the store, and the quarantined file
    (progress,) = [p for p in caption_progress(services.documents, services.settings)
                   if p.config_type == "default"]  # fmt: skip
    assert progress.registered_videos == 2
    assert progress.tasks["subject"] == {
        "not_completed": 1, "completed_not_reviewed": 0, "approved": 0, "rejected": 1,
    }  # fmt: skip
    assert progress.tasks["scene"]["completed_not_reviewed"] == 1
    assert progress.quarantined_files == 1
    bad = services.documents.get(f"{QUARANTINE}/{file_id('default/scene/v1_feedback.json')}")
    assert "not valid JSON" in bad.data["error"]

    # AND an export reads it back from Firestore and writes to the exports bucket
    result = run_export(
        services, ExportRequest(ignore_errors=True, with_history=True), request_id="e2e", now=NOW
    )
    reviewed = json.loads(
        services.blobs.read(
            services.settings.exports_bucket, f"{result.folder}/reviewed_videos_20261123_0930.json"
        )
    )
    (v1,) = reviewed
    subject = v1["captions"]["subject"]
    assert subject["status"] == "rejected"
    assert subject["caption_data"]["original_annotator"] == "alice"
    assert subject["negative_example"]["final_caption"] == "first"
    assert [t["to"] for t in subject["history"]["transitions"]][-1] == "rejected"
    assert result.statistics["totals"]["quarantined_files"] == 1

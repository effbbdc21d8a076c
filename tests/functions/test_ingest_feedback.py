"""``ingest_feedback`` served by functions-framework, fed real GCS CloudEvents."""

from __future__ import annotations

import json

from captions_support import dumps, feedback, review

from shared.captions.store import QUARANTINE, file_id, task_doc_id, tasks_collection
from shared.platform.runtime.entrypoint import FAILURES

DELETED = "google.cloud.storage.object.v1.deleted"


def post(client, events, event, mode):
    headers, body = events.encode(event, mode)
    return client.post("/", headers=headers, data=body)


def object_event(events, info, **attributes):
    event = events.storage(
        name=info.name,
        generation=info.generation,
        size=str(info.size),
        bucket=info.bucket,
        md5Hash=info.md5_hash,
    )
    for key, value in attributes.items():
        event[key] = value
    return event


def status(services, video_id="clip-7", task="subject"):
    doc = services.documents.get(f"{tasks_collection('default')}/{task_doc_id(video_id, task)}")
    return doc.data["status"] if doc else None


def test_finalized_and_deleted_events_drive_the_status(services, serve, events, mode):
    client = serve("ingest_feedback")
    bucket = services.settings.annotations_bucket
    fb = services.blobs.write(bucket, "default/subject/clip-7_feedback.json", dumps(feedback()))
    rv = services.blobs.write(bucket, "default/subject/clip-7_review.json", dumps(review(True)))

    for info in (fb, rv, rv):  # the review delivered twice
        assert post(client, events, object_event(events, info), mode).status_code == 200
    assert status(services) == "approved"

    services.blobs.delete(bucket, rv.name)
    response = post(client, events, object_event(events, rv, type=DELETED), mode)

    assert response.status_code == 200
    assert status(services) == "completed_not_reviewed"


def test_a_bad_file_is_quarantined_and_acknowledged(services, serve, events, mode):
    client = serve("ingest_feedback")
    bucket = services.settings.annotations_bucket
    info = services.blobs.write(bucket, "default/scene/clip-7_feedback.json", b'{"user": 1}')

    response = post(client, events, object_event(events, info), mode)

    assert response.status_code == 200
    record = services.documents.get(f"{QUARANTINE}/{file_id(info.name)}")
    assert "field final_caption: Field required" in record.data["error"]
    assert "field user: Input should be a valid string" in record.data["error"]
    assert status(services, task="scene") == "not_completed"


def test_an_event_for_another_bucket_is_a_recorded_permanent_error(services, serve, events):
    client = serve("ingest_feedback")
    event = events.storage(name="default/subject/x_feedback.json", generation=1, bucket="other")

    response = post(client, events, event, "binary")

    assert response.status_code == 200
    (failure,) = services.documents.query(FAILURES)
    assert "other than the annotations bucket" in failure.data["error"]


def test_a_gcs_notification_pushed_by_pubsub_is_understood(services, serve, events):
    # Terraform delivers storage events through a push subscription on the bucket's topic.
    client = serve("ingest_feedback")
    bucket = services.settings.annotations_bucket
    info = services.blobs.write(bucket, "default/motion/clip-7_feedback.json", dumps(feedback()))
    resource = {"bucket": bucket, "name": info.name, "generation": str(info.generation),
                "size": str(info.size)}  # fmt: skip
    event = events.ping(
        resource,
        attributes={
            "eventType": "OBJECT_FINALIZE",
            "payloadFormat": "JSON_API_V1",
            "bucketId": bucket,
            "objectId": info.name,
            "objectGeneration": str(info.generation),
        },
    )

    response = post(client, events, event, "structured")

    assert response.status_code == 200, response.data
    assert status(services, task="motion") == "completed_not_reviewed"
    assert json.loads(services.blobs.read(bucket, info.name))["user"] == "alice"

"""The cloud chain on emulators: GCS upload -> notification -> Pub/Sub -> CloudEvent -> function.

fake-gcs-server publishes OBJECT_FINALIZE notifications to the Pub/Sub emulator, as a GCS
bucket notification does; the test pulls them from the function's subscription (made by
``ensure_topology``), turns each into the CloudEvent Eventarc would send, and POSTs it in
binary mode to ``functions/echo_object`` served by functions-framework. The function runs
with the GCP adapters, so it records the object in the Firestore emulator.
"""

from __future__ import annotations

import time
from pathlib import Path

import functions_framework
import pytest
from cloudevents.conversion import to_binary
from emulators import EMULATOR_MARKS

from shared.catalog import function_spec
from shared.platform.events import STORAGE_FINALIZED
from shared.platform.health import OBJECTS, object_doc_id
from shared.platform.runtime.catalog import storage_topic
from shared.platform.runtime.dispatch import to_cloud_event

pytestmark = list(EMULATOR_MARKS)

REPO = Path(__file__).resolve().parents[2]
SPEC = function_spec("echo_object")


@pytest.fixture
def echo_object():
    """``functions/echo_object`` served in-process by functions-framework."""
    app = functions_framework.create_app(
        target=SPEC.name,
        source=str(REPO / "functions" / SPEC.name / "main.py"),
        signature_type="cloudevent",
    )
    return app.test_client()


def pull_one(subscriber, subscription, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = subscriber.pull(subscription, max_messages=1)
        if batch:
            return batch[0]
        time.sleep(0.05)  # bounded poll of the subscription
    raise AssertionError(f"no message on {subscription} within {timeout} s")


def deliver(client, services, message):
    event = to_cloud_event(SPEC, message, services.settings)
    assert event is not None
    headers, body = to_binary(event)
    return event, client.post("/", headers=headers, data=body)


def test_an_upload_reaches_the_function_through_notifications(cloud, echo_object):
    services, subscriber = cloud
    bucket = services.settings.annotations_bucket
    name = "default/subject/v1_feedback.json"

    # GIVEN an object uploaded twice through the GCS adapter
    first = services.blobs.write(bucket, name, b'{"v": 1}', content_type="application/json")
    second = services.blobs.write(bucket, name, b'{"v": 22}', content_type="application/json")

    # WHEN each notification (in whatever order Pub/Sub delivers them) is pulled, turned
    # into a CloudEvent and POSTed to the function
    events = {}
    for _ in range(2):
        message = pull_one(subscriber, SPEC.subscription)
        assert message.topic == storage_topic(bucket)
        assert message.attributes["eventType"] == "OBJECT_FINALIZE"
        event, response = deliver(echo_object, services, message)
        assert response.status_code == 200, response.get_data(as_text=True)
        subscriber.ack(SPEC.subscription, [message.ack_id])
        assert event["type"] == STORAGE_FINALIZED
        assert event["subject"] == f"objects/{name}"
        events[int(message.attributes["objectGeneration"])] = event
    assert set(events) == {first.generation, second.generation}

    # THEN Firestore holds the newest generation of the object
    doc = services.documents.get(f"{OBJECTS}/{object_doc_id(bucket, name)}")
    assert doc is not None
    assert doc.data["bucket"] == bucket
    assert doc.data["name"] == name
    assert doc.data["generation"] == second.generation
    assert doc.data["size"] == len(b'{"v": 22}')
    assert doc.data["content_type"] == "application/json"

    # AND a late duplicate of the first event changes nothing
    headers, body = to_binary(events[first.generation])
    assert echo_object.post("/", headers=headers, data=body).status_code == 200
    assert services.documents.get(doc.path).data["generation"] == second.generation

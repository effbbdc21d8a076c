"""Parsing CloudEvents at the edge: real-shaped fixtures in, typed models or PermanentError out."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from cloudevents.http import CloudEvent
from pydantic import BaseModel

from shared.core.errors import PermanentError
from shared.platform.events import (
    PUBSUB_PUBLISHED,
    STORAGE_FINALIZED,
    parse_pubsub_event,
    parse_storage_event,
    pubsub_event_attributes,
    pubsub_event_data,
    storage_event_attributes,
    storage_object_resource,
)

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "events"


def fixture(name: str) -> tuple[dict[str, Any], Any]:
    """The attributes and data of a recorded structured-mode CloudEvent."""
    raw = json.loads((FIXTURES / f"{name}.json").read_text())
    data = raw.pop("data")
    return raw, data


def storage_event(**data_changes: Any) -> CloudEvent:
    attributes, data = fixture("storage_object_finalized")
    data.update(data_changes)
    return CloudEvent(attributes, {k: v for k, v in data.items() if v is not None})


def pubsub_event(event_data: Any = None, **message_changes: Any) -> CloudEvent:
    """The recorded event, with its whole data or some message fields replaced."""
    attributes, recorded = fixture("pubsub_message_published")
    if event_data is None:
        recorded["message"].update(message_changes)
        recorded["message"] = {k: v for k, v in recorded["message"].items() if v is not None}
        event_data = recorded
    return CloudEvent(attributes, event_data)


class Greeting(BaseModel):
    hello: str


# -- storage events ---------------------------------------------------------------------------


def test_parse_storage_event_reads_the_eventarc_fixture():
    event = parse_storage_event(storage_event())

    assert event.context.id == "13155961204936543"
    assert event.context.type == STORAGE_FINALIZED
    assert event.context.subject == "objects/reviews/clip-0042_review.json"
    assert event.context.time == datetime(2025, 6, 12, 9, 41, 27, 518903, tzinfo=UTC)
    obj = event.object
    assert obj.bucket == "vidcurate-annotations"
    assert obj.name == "reviews/clip-0042_review.json"
    assert obj.generation == 1749721287509217  # a string in the event, an int here
    assert obj.size == 187
    assert obj.content_type == "application/json"
    assert obj.md5_hash == "p8sXMxGS0A0ZbP6sQ3DS3w=="
    assert obj.metadata == {"reviewer": "ana"}
    assert obj.time_created == datetime(2025, 6, 12, 9, 41, 27, 512000, tzinfo=UTC)
    assert obj.key == "vidcurate-annotations/reviews/clip-0042_review.json#1749721287509217"


@pytest.mark.parametrize("encode", [json.dumps, lambda d: json.dumps(d).encode()])
def test_parse_storage_event_accepts_data_still_in_json_text(encode):
    attributes, data = fixture("storage_object_finalized")

    event = parse_storage_event(CloudEvent(attributes, encode(data)))

    assert event.object.generation == 1749721287509217


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (storage_event(generation=None), "generation"),
        (storage_event(generation="latest"), "generation"),
        (storage_event(bucket=None), "bucket"),
        (storage_event(name=None), "name"),
        (storage_event(size="big"), "size"),
        (CloudEvent(fixture("storage_object_finalized")[0], b"\x00 not json"), "not JSON"),
        (CloudEvent(fixture("storage_object_finalized")[0], ["a", "list"]), "StorageObjectData"),
        (pubsub_event(), "not a GCS JSON_API_V1 notification"),
    ],
    ids=[
        "no generation",
        "generation not a number",
        "no bucket",
        "no name",
        "size not a number",
        "data not JSON",
        "data not an object",
        "a Pub/Sub event that is no GCS notification",
    ],
)
def test_parse_storage_event_rejects_bad_input_naming_the_problem(event, named):
    with pytest.raises(PermanentError, match=named):
        parse_storage_event(event)


# -- Pub/Sub events ---------------------------------------------------------------------------


def test_parse_pubsub_event_reads_the_eventarc_fixture():
    event = parse_pubsub_event(pubsub_event())

    assert event.context.id == "11529866929838741"
    assert event.context.type == PUBSUB_PUBLISHED
    assert event.context.source == "//pubsub.googleapis.com/projects/vidcurate-prod/topics/ping"
    message = event.message
    assert message.data == b'{"hello": "world"}'  # base64-decoded
    assert message.attributes == {"origin": "fixture"}
    assert message.message_id == "11529866929838741"
    assert message.publish_time == datetime(2025, 6, 12, 9, 41, 30, 193000, tzinfo=UTC)
    assert event.delivery_attempt is None
    assert event.subscription == (
        "projects/vidcurate-prod/subscriptions/eventarc-europe-west1-ping-412-sub-377"
    )


def test_parse_pubsub_event_accepts_a_message_without_data_or_attributes():
    event = parse_pubsub_event(pubsub_event({"message": {"messageId": "7"}}))

    assert event.message.data == b""
    assert event.message.attributes == {}
    assert event.subscription is None


@pytest.mark.parametrize(
    ("event", "named"),
    [
        (pubsub_event({"subscription": "projects/p/subscriptions/s"}), "no 'message'"),
        (pubsub_event(["message"]), "no 'message'"),
        (pubsub_event({"message": "text"}), "PubSubMessage"),
        (pubsub_event(data="not base64!"), "base64"),
        (pubsub_event(messageId=None, message_id=None), "messageId"),
        (pubsub_event(attributes={"count": 3}), "attributes"),
        (pubsub_event(publishTime="yesterday"), "publishTime"),
        (CloudEvent(fixture("pubsub_message_published")[0], "{not json"), "not JSON"),
        (storage_event(), f"expected {PUBSUB_PUBLISHED}"),
    ],
    ids=[
        "no message",
        "data not an object",
        "message not an object",
        "data not base64",
        "no messageId",
        "attribute not a string",
        "publishTime not a time",
        "data not JSON",
        "a storage event",
    ],
)
def test_parse_pubsub_event_rejects_bad_input_naming_the_problem(event, named):
    with pytest.raises(PermanentError, match=named):
        parse_pubsub_event(event)


def test_rejections_of_one_event_name_its_id():
    with pytest.raises(PermanentError, match="11529866929838741"):
        parse_pubsub_event(pubsub_event({"subscription": "s"}))


# -- payload validation -----------------------------------------------------------------------


def test_payload_validates_the_message_data_into_the_model():
    assert parse_pubsub_event(pubsub_event()).payload(Greeting) == Greeting(hello="world")


@pytest.mark.parametrize("body", [b"not json", b'{"hello": 5}', b'{"goodbye": "x"}', b""], ids=str)
def test_payload_that_does_not_fit_is_a_permanent_error_naming_message_and_model(body):
    event = parse_pubsub_event(pubsub_event(data=base64.b64encode(body).decode()))

    with pytest.raises(PermanentError, match=r"message 11529866929838741: invalid Greeting"):
        event.payload(Greeting)


# -- builders: what the local runtime sends must look like what Eventarc sends -------------------


def test_storage_builders_round_trip_and_match_the_eventarc_shape():
    updated = datetime(2025, 6, 12, 9, 41, 27, 512000, tzinfo=UTC)
    attributes = storage_event_attributes("b", "dir/x.json", "e-1", updated)
    resource = storage_object_resource(
        bucket="b",
        name="dir/x.json",
        generation=42,
        size=10,
        content_type="application/json",
        md5_hash="abc=",
        updated=updated,
        metadata={"k": "v"},
    )

    event = parse_storage_event(CloudEvent(attributes, resource))

    assert event.object.key == "b/dir/x.json#42"
    assert event.object.size == 10
    assert event.object.metadata == {"k": "v"}
    assert event.context.subject == "objects/dir/x.json"
    recorded_attributes, recorded_data = fixture("storage_object_finalized")
    assert set(attributes) <= set(recorded_attributes)
    assert set(resource) <= set(recorded_data)
    for key, value in resource.items():
        assert type(value) is type(recorded_data[key]), key  # e.g. generation is a string


def test_pubsub_builders_round_trip_and_match_the_eventarc_shape():
    published = datetime(2025, 6, 12, 9, 41, 30, 193000, tzinfo=UTC)
    attributes = pubsub_event_attributes("p", "ping", "m-1", published)
    data = pubsub_event_data(
        project="p",
        subscription="ping",
        data=b'{"hello": "world"}',
        attributes={"a": "b"},
        message_id="m-1",
        publish_time=published,
    )

    event = parse_pubsub_event(CloudEvent(attributes, data))

    assert event.payload(Greeting) == Greeting(hello="world")
    assert event.message.attributes == {"a": "b"}
    assert event.message.publish_time == published
    assert event.subscription == "projects/p/subscriptions/ping"
    recorded_attributes, recorded_data = fixture("pubsub_message_published")
    assert set(attributes) <= set(recorded_attributes)
    assert set(data) == set(recorded_data)
    assert set(data["message"]) == set(recorded_data["message"])

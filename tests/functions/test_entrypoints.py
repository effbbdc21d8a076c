"""Real CloudEvent HTTP requests into the deployed entry points, served in-process.

Each function is served by ``functions_framework.create_app`` as the platform serves it, and
requests are encoded by the ``cloudevents`` SDK in binary and structured mode. Assertions
read the local document store.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import functions_framework
import pytest
from cloudevents.http import CloudEvent
from flask.testing import FlaskClient

from shared.platform.events import PUBSUB_PUBLISHED
from shared.platform.health import OBJECTS, PINGS, object_doc_id
from shared.platform.runtime.entrypoint import FAILURES

FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"

Serve = Callable[[str], FlaskClient]


def post(client: FlaskClient, events: Any, event: CloudEvent, mode: str) -> Any:
    headers, body = events.encode(event, mode)
    return client.post("/", headers=headers, data=body)


def is_ack(response: Any) -> bool:
    return 200 <= response.status_code < 300


def without_commit_time(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key != "recorded_at"}


def test_ping_records_the_message(services, serve, events, mode):
    event = events.ping({"hello": "world"}, attributes={"origin": "test"})

    response = post(serve("ping"), events, event, mode)

    assert is_ack(response), response.text
    doc = services.documents.get(f"{PINGS}/{event['id']}")
    assert doc is not None
    assert doc.data["message_id"] == event["id"]
    assert doc.data["body"] == {"hello": "world"}
    assert doc.data["attributes"] == {"origin": "test"}
    assert doc.data["published_at"] == datetime.fromisoformat(event["time"])
    assert services.documents.count(FAILURES) == 0


def test_ping_duplicate_delivery_leaves_one_document(services, serve, events, mode):
    client = serve("ping")
    event = events.ping({"n": 1})

    first = post(client, events, event, mode)
    after_first = services.documents.get(f"{PINGS}/{event['id']}")
    second = post(client, events, event, mode)

    assert is_ack(first)
    assert is_ack(second)
    assert services.documents.count(PINGS) == 1
    after_second = services.documents.get(f"{PINGS}/{event['id']}")
    assert after_first is not None
    assert after_second is not None
    # record_ping rewrites the document on redelivery, so only its commit time may move.
    assert without_commit_time(after_second.data) == without_commit_time(after_first.data)


def test_ping_permanent_failure_is_acknowledged_and_recorded(services, serve, events, mode):
    event = events.ping({"fail": "permanent"})

    response = post(serve("ping"), events, event, mode)

    assert is_ack(response), response.text
    assert services.documents.get(f"{PINGS}/{event['id']}") is None
    failure = services.documents.get(f"{FAILURES}/ping-{event['id']}")
    assert failure is not None
    assert failure.data["function"] == "ping"
    assert failure.data["event_id"] == event["id"]
    assert failure.data["event_type"] == PUBSUB_PUBLISHED
    assert failure.data["source"] == event["source"]
    assert failure.data["error_type"] == "PermanentError"
    assert "asked to fail permanently" in failure.data["error"]
    assert isinstance(failure.data["recorded_at"], datetime)


def test_ping_transient_failure_returns_500_for_a_retry(services, serve, events, mode):
    event = events.ping({"fail": "transient"})

    response = post(serve("ping"), events, event, mode)

    assert response.status_code == 500
    assert services.documents.get(f"{PINGS}/{event['id']}") is None
    assert services.documents.count(FAILURES) == 0


MALFORMED_PUBSUB = {
    "no message": ({"subscription": "projects/p/subscriptions/s"}, "no 'message'"),
    "data is not base64": (
        {"message": {"data": "not base64 at all!", "messageId": "1"}},
        "malformed Pub/Sub event",
    ),
    "no messageId": ({"message": {"data": "e30="}}, "messageId"),
    "data is not an object": (["message"], "no 'message'"),
}


@pytest.mark.parametrize(
    ("data", "expected_error"), MALFORMED_PUBSUB.values(), ids=MALFORMED_PUBSUB.keys()
)
def test_ping_malformed_pubsub_data_is_a_recorded_permanent_error(
    services, serve, events, mode, data, expected_error
):
    event = events.pubsub_with_data(data)

    response = post(serve("ping"), events, event, mode)

    assert is_ack(response), response.text
    failure = services.documents.get(f"{FAILURES}/ping-{event['id']}")
    assert failure is not None
    assert failure.data["error_type"] == "PermanentError"
    assert expected_error in failure.data["error"]
    assert services.documents.count(PINGS) == 0


def test_ping_body_that_is_not_json_is_a_recorded_permanent_error(services, serve, events):
    event = events.pubsub_with_data(b"\x00 definitely not json")
    event["datacontenttype"] = "application/octet-stream"

    response = post(serve("ping"), events, event, "binary")

    assert is_ack(response), response.text
    failure = services.documents.get(f"{FAILURES}/ping-{event['id']}")
    assert failure is not None
    assert "data is not JSON" in failure.data["error"]


def test_ping_rejects_a_storage_event(services, serve, events, mode):
    event = events.storage(generation=1)

    response = post(serve("ping"), events, event, mode)

    assert is_ack(response), response.text
    failure = services.documents.get(f"{FAILURES}/ping-{event['id']}")
    assert failure is not None
    assert f"expected {PUBSUB_PUBLISHED}" in failure.data["error"]


@pytest.mark.parametrize(
    "generations", [(1, 2), (2, 1), (2, 2, 1)], ids=["in order", "reordered", "duplicated"]
)
def test_echo_object_keeps_the_newest_generation(services, serve, events, mode, generations):
    client = serve("echo_object")
    name = "reviews/clip-7_review.json"

    responses = [
        post(client, events, events.storage(name=name, generation=g, size="42"), mode)
        for g in generations
    ]

    assert all(is_ack(response) for response in responses)
    bucket = events.fixture("storage_object_finalized")["data"]["bucket"]
    assert services.documents.count(OBJECTS) == 1
    doc = services.documents.get(f"{OBJECTS}/{object_doc_id(bucket, name)}")
    assert doc is not None
    assert doc.data["generation"] == max(generations)
    assert doc.data["bucket"] == bucket
    assert doc.data["name"] == name
    assert doc.data["size"] == 42
    assert doc.data["content_type"] == "application/json"


@pytest.mark.parametrize("generation", [None, "not-a-number"], ids=["missing", "not a number"])
def test_echo_object_malformed_generation_is_a_recorded_permanent_error(
    services, serve, events, mode, generation
):
    event = events.storage(generation=generation)

    response = post(serve("echo_object"), events, event, mode)

    assert is_ack(response), response.text
    failure = services.documents.get(f"{FAILURES}/echo_object-{event['id']}")
    assert failure is not None
    assert "generation" in failure.data["error"]
    assert services.documents.count(OBJECTS) == 0


@pytest.mark.parametrize(
    ("offset", "written"),
    [(timedelta(minutes=5), False), (-timedelta(minutes=5), True)],
    ids=["older than the maximum age", "just inside the maximum age"],
)
def test_events_older_than_the_maximum_age_are_acknowledged_and_dropped(
    services, serve, events, mode, offset, written
):
    max_age = timedelta(seconds=services.settings.max_event_age_seconds)
    sent_at = datetime.now(UTC) - max_age - offset
    ping = events.ping({"late": True}, time=sent_at)
    obj = events.storage(generation=3, time=sent_at)

    ping_response = post(serve("ping"), events, ping, mode)
    obj_response = post(serve("echo_object"), events, obj, mode)

    assert is_ack(ping_response), ping_response.text
    assert is_ack(obj_response), obj_response.text
    assert (services.documents.get(f"{PINGS}/{ping['id']}") is not None) is written
    assert services.documents.count(OBJECTS) == (1 if written else 0)
    assert services.documents.count(FAILURES) == 0


def test_a_raw_pubsub_push_body_is_converted_into_a_cloud_event(services, serve, events):
    push = events.push_body({"pushed": True})
    message_id = push["message"]["messageId"]

    response = serve("ping").post("/projects/vidcurate-prod/topics/ping", json=push)

    assert is_ack(response), response.text
    doc = services.documents.get(f"{PINGS}/{message_id}")
    assert doc is not None
    assert doc.data["body"] == {"pushed": True}
    assert doc.data["attributes"] == push["message"]["attributes"]


def test_two_apps_for_the_same_source_both_serve(services, serve, events):
    first_app, second_app = serve("ping"), serve("ping")
    first, second = events.ping({"app": 1}), events.ping({"app": 2})

    first_response = post(first_app, events, first, "binary")
    second_response = post(second_app, events, second, "structured")

    assert is_ack(first_response)
    assert is_ack(second_response)
    first_doc = services.documents.get(f"{PINGS}/{first['id']}")
    second_doc = services.documents.get(f"{PINGS}/{second['id']}")
    assert first_doc is not None
    assert first_doc.data["body"] == {"app": 1}
    assert second_doc is not None
    assert second_doc.data["body"] == {"app": 2}


@pytest.mark.parametrize(
    "body",
    [
        b'{"specversion": "1.0", "data": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        b"[" * 100_000 + b"]" * 100_000,
        b'{"specversion": "1.0", "id": "x", "data": "\\ud800", ' + b'"source": {',
    ],
    ids=["data-nested-100000-deep", "body-nested-100000-deep", "cut-off-json"],
)
def test_a_body_no_parser_can_read_is_acknowledged_and_logged(services, serve, caplog, body):
    # GIVEN a structured-mode body that the CloudEvents SDK cannot parse
    headers = {"Content-Type": "application/cloudevents+json"}

    # WHEN it is pushed to a function
    with caplog.at_level("ERROR", logger="vidcurate.functions"):
        response = serve("ping").post("/", headers=headers, data=body)

    # THEN it is acknowledged (a retry could not help) with the reason in the log
    assert is_ack(response), response.status_code
    assert any("not a readable CloudEvent" in r.getMessage() for r in caplog.records)
    assert services.documents.count(PINGS) == 0


DEEP_HANDLER = """
import functions_framework

from shared.bootstrap import get_context
from shared.platform.runtime.entrypoint import entrypoint


def _down(n):
    return _down(n + 1) + 1


@functions_framework.cloud_event
@entrypoint("deep", get_context)
def deep(cloud_event):
    _down(0)
"""


def test_recursion_inside_a_handler_is_retried_not_taken_for_an_unreadable_body(
    services, serve, events, tmp_path
):
    # GIVEN a function whose own code recurses without end (a bug, not a bad body)
    source = tmp_path / "deep" / "main.py"
    source.parent.mkdir()
    source.write_text(DEEP_HANDLER)
    client = functions_framework.create_app("deep", str(source), "cloudevent").test_client()

    # WHEN a good event reaches it
    response = post(client, events, events.ping({"hello": "world"}), "structured")

    # THEN the platform is asked to retry (500), as for any other bug
    assert response.status_code == 500

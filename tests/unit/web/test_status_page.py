"""The status page over HTTP: the report as JSON and as the page's fragment, sign-in
required; a dead letter replayed by an operator from the page (recorded with who asked),
refused for a viewer, without the page's anti-forgery header, or for an unknown message."""

from __future__ import annotations

import pytest
import requests
from labelling_support import web_app

from shared.bootstrap import build_subscriber
from shared.core.errors import VidcurateError
from shared.learning import invite
from shared.ops.status import collect_status
from shared.ports import OutgoingMessage
from shared.web.auth import CSRF_COOKIE, CSRF_HEADER
from shared.web.status import OPERATOR_ACTIONS


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    return session


@pytest.fixture
def site(make_services):
    services = make_services()
    # a message the ping function gave up on, as the bus leaves it in its dead letters
    services.bus.publish_many(
        "ping-dead-letter", [OutgoingMessage(b'{"hello": 1}', {"source": "test"})]
    )
    with web_app(services) as base:
        yield services, base


def test_the_report_and_its_fragment(site):
    services, base = site
    viewer = signed_in(base, invite(services.documents, "viv"))
    report = viewer.get(f"{base}/api/status", timeout=10).json()
    assert {
        "captions",
        "critiques",
        "bus",
        "videos",
        "buckets",
        "documents",
        "dead_letters",
    } <= set(report)
    (dead,) = report["dead_letters"]
    assert dead["function"] == "ping"
    page = viewer.get(f"{base}/status", timeout=10)
    assert page.status_code == 200
    assert dead["message_id"] in page.text
    assert "operators replay" in page.text  # a viewer sees no button
    assert viewer.get(f"{base}/status/report", timeout=10).text.count("<section") == 6
    assert requests.get(f"{base}/api/status", timeout=10).status_code == 401


def test_an_operator_replays_a_dead_letter_and_it_is_recorded(site):
    services, base = site
    viewer = signed_in(base, invite(services.documents, "viv"))
    operator = signed_in(base, invite(services.documents, "ops", admin=True))
    for session in (viewer, operator):
        session.get(f"{base}/status", timeout=10)  # the page sets the anti-forgery cookie
    message = viewer.get(f"{base}/api/status", timeout=10).json()["dead_letters"][0]["message_id"]
    body = {"function": "ping", "message_id": message}

    def post(session, **headers):
        return session.post(f"{base}/api/status/replay", json=body, headers=headers, timeout=10)

    forged = post(operator)  # no header: not from the page
    assert forged.status_code == 403
    refused = post(viewer, **{CSRF_HEADER: viewer.cookies[CSRF_COOKIE]})
    assert refused.status_code == 403
    assert "operators (admins) only" in refused.json()["error"]
    done = post(operator, **{CSRF_HEADER: operator.cookies[CSRF_COOKIE]})
    assert done.json() == {"replayed": 1, "function": "ping", "by": "ops"}
    (action,) = services.documents.iter_collection(OPERATOR_ACTIONS)
    assert (action.data["who"], action.data["action"], action.data["message_id"]) == (
        "ops", "replay", message,
    )  # fmt: skip
    assert services.bus.backlog(["ping"]) == 1  # back on its topic
    again = post(operator, **{CSRF_HEADER: operator.cookies[CSRF_COOKIE]})
    assert again.status_code == 404
    assert viewer.get(f"{base}/api/status", timeout=10).json()["dead_letters"] == []


class _NotOurs:
    """The blob store, but one bucket may not be listed (the web app's account in the cloud
    reads only its own buckets)."""

    def __init__(self, blobs, bucket: str) -> None:
        self._blobs = blobs
        self._bucket = bucket

    def list(self, bucket: str, prefix: str = ""):
        if bucket == self._bucket:
            raise VidcurateError(f"gs://{bucket}/*: Forbidden: 403 the caller may not list")
        return self._blobs.list(bucket, prefix)

    def __getattr__(self, name: str):
        return getattr(self._blobs, name)


def test_a_bucket_it_may_not_list_is_said_not_a_failure(make_services):
    services = make_services()
    services.blobs = _NotOurs(services.blobs, services.settings.exports_bucket)
    report = collect_status(services, build_subscriber(services))
    rows = {row["role"]: row["objects"] for row in report["buckets"]}
    assert rows["exports"] == "unreadable"
    assert rows["frames"] == 0

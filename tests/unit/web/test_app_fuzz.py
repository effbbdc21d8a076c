"""Schemathesis over the whole web app's OpenAPI document (pages, JSON routes, downloads and
operator actions; the /v3 API has its own run in test_words_api.py): requests generated from
the schema, sent by a signed-in operator with the page's anti-forgery header, over a home
with clips, descriptions, spend and a dead letter, never get a server error."""

from __future__ import annotations

import hypothesis
import pytest
import requests
import schemathesis
from explorer_support import add_described_clips
from labelling_support import web_app

from shared.learning import invite
from shared.llm.ledger import record_call
from shared.ports import OutgoingMessage
from shared.web.auth import CSRF_COOKIE, CSRF_HEADER

pytestmark = pytest.mark.slow


def test_fuzzed_requests_to_every_route_never_get_a_server_error(make_services, tmp_path):
    services = make_services()
    add_described_clips(services, tmp_path / "clips", 1)
    for n in range(20):
        record_call(services.documents, f"c{n}", {
            "outcome": "success", "model": "gpt-4.1", "prompt_name": "describe",
            "input_tokens": 500, "output_tokens": 50, "cost_usd": 0.001,
            "labels": {"kind": "vision", "run": "r1"},
        })  # fmt: skip
    services.bus.publish_many("ping-dead-letter", [OutgoingMessage(b'{"n": 1}')])
    with web_app(services) as base:
        session = requests.Session()
        assert session.post(
            f"{base}/signin", json={"token": invite(services.documents, "ops", admin=True)},
            timeout=10,
        ).ok  # fmt: skip
        session.get(f"{base}/status", timeout=10)  # the anti-forgery cookie
        headers = {CSRF_HEADER: session.cookies[CSRF_COOKIE]}
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json").exclude(path_regex="^/v3/")
        operations = [result.ok() for result in schema.get_all_operations()]
        paths = {op.path for op in operations}
        assert {"/costs", "/api/costs", "/api/status", "/api/clips/{clip_id}", "/label"} <= paths
        seen: list[tuple[str, int]] = []
        for operation in operations:

            @hypothesis.settings(
                max_examples=15,
                deadline=None,
                suppress_health_check=list(hypothesis.HealthCheck),
                database=None,
            )
            @hypothesis.given(case=operation.as_strategy())
            def check(case) -> None:
                # a sign-in attempt must not sign the operator out of the other requests
                signing_in = case.path == "/signin"
                response = case.call(
                    base_url=base, session=None if signing_in else session, headers=headers,
                    timeout=60,
                )  # fmt: skip
                seen.append((case.path, response.status_code))
                assert response.status_code < 500, (
                    case.method, case.formatted_path, case.query, case.body, response.text[:500],
                )  # fmt: skip
                assert "Traceback" not in response.text

            check()
    assert len({path for path, _ in seen}) == len(paths)
    assert any(status == 200 for _, status in seen)
    assert all(status != 401 for path, status in seen if path != "/signin")

"""Critique runs on the status page: items by type and state with the failed ones' reasons,
and the operator's "run again", which asks the critique functions for what `vidcurate
critiques run` does (viewers refused, every request recorded with who asked)."""

from __future__ import annotations

import requests
from labelling_support import web_app

from shared.bootstrap import build_subscriber
from shared.captions.export import run_export
from shared.captions.messages import ExportRequest
from shared.critiques.messages import REQUESTS, CritiqueRequest
from shared.critiques.plan import plan_run
from shared.critiques.store import items_collection
from shared.learning import invite
from shared.ops.status import collect_status
from shared.web.auth import CSRF_COOKIE, CSRF_HEADER
from shared.web.status import OPERATOR_ACTIONS


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    session.get(f"{base}/status", timeout=10)  # the page sets the anti-forgery cookie
    return session


def test_a_run_its_failures_and_an_operators_retry(services):
    folder = run_export(services, ExportRequest(ignore_errors=True), request_id="x").folder
    plan = plan_run(
        services, CritiqueRequest(export_folder=folder, critique_types=("blind_model_critique",))
    )
    items = services.documents.query(items_collection(folder), limit=2)
    # one item failed as the worker records it (the models did not answer)
    services.documents.update(
        items[0].path, {"status": "failed", "record": {"error": "gpt-4.1: 3 attempts, HTTP 503"}}
    )

    (run,) = collect_status(services, build_subscriber(services))["critiques"]

    assert run["export_folder"] == folder
    assert run["by_type"]["blind_model_critique"]["failed"] == 1
    assert run["by_type"]["blind_model_critique"]["pending"] == plan.published - 1
    assert run["failures"] == [
        {"item": items[0].id, "critique_type": "blind_model_critique",
         "error": "gpt-4.1: 3 attempts, HTTP 503"}
    ]  # fmt: skip
    assert "blind_model_critique" in run["waiting_for"]

    services.bus.create_subscription("probe-requests", REQUESTS.name)
    with web_app(services) as base:
        viewer = signed_in(base, invite(services.documents, "viv"))
        operator = signed_in(base, invite(services.documents, "ops", admin=True))
        page = operator.get(f"{base}/status/report", timeout=10).text
        assert f'data-run="{folder}"' in page
        assert "HTTP 503" in page
        assert "operators run it again" in viewer.get(f"{base}/status/report", timeout=10).text

        def retry(session, export_folder=folder):
            return session.post(
                f"{base}/api/status/critiques/retry",
                json={"export_folder": export_folder},
                headers={CSRF_HEADER: session.cookies[CSRF_COOKIE]},
                timeout=10,
            )

        assert retry(viewer).status_code == 403
        assert retry(operator, "export_20000101_0000").status_code == 404
        assert retry(operator, "../etc").status_code == 422
        done = retry(operator)
        assert done.status_code == 202
        assert done.json()["by"] == "ops"

    (message,) = services.bus.pull("probe-requests", max_messages=10)
    assert CritiqueRequest.model_validate_json(message.data) == CritiqueRequest(
        export_folder=folder
    )
    (action,) = services.documents.iter_collection(OPERATOR_ACTIONS)
    assert (action.data["who"], action.data["action"], action.data["export_folder"]) == (
        "ops", "critiques-retry", folder,
    )  # fmt: skip

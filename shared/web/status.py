"""The pipeline status page: what `vidcurate status` reports (buckets, each function's
subscription, caption campaigns, exports and Hub uploads, clips and analyses, shard pulls)
and the dead letters with their reasons, refreshed in place every few seconds without a
reload. Operators (admins) replay a dead letter from the page; every replay is logged and
recorded with who asked (``operator_actions``, :mod:`shared.web.actions`).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import BaseModel, Field

from shared.bootstrap import build_subscriber
from shared.catalog import FUNCTIONS, function_spec
from shared.core.errors import NotFoundError
from shared.critiques import request_rerun
from shared.ops.status import collect_status
from shared.platform.deadletters import list_dead_letters, replay_dead_letters
from shared.web.actions import (
    CSRF_CONFIG,
    OPERATOR_ACTIONS,
    ensure_csrf_cookie,
    record_action,
    require_from_page,
    require_operator,
)
from shared.web.state import (
    AppState,
    IdentityDep,
    PageError,
    StateDep,
    page_context,
)

__all__ = ["OPERATOR_ACTIONS", "router"]

router = APIRouter()

REFRESH_SECONDS = 2
DEAD_LETTERS_SHOWN = 50
DEAD_LETTER_BODY_SHOWN = 4096  # bytes of a dead letter's body shown


def _report(state: AppState) -> dict[str, Any]:
    services = state.services
    subscriber = build_subscriber(services)
    report = collect_status(services, subscriber)
    dead = list_dead_letters(
        subscriber, FUNCTIONS, limit=DEAD_LETTERS_SHOWN, documents=services.documents
    )
    report["dead_letters"] = [
        {
            "function": d.function,
            "message_id": d.message_id,
            "source_message_id": d.source_message_id,
            "error": d.error,
            "attempts": d.attempts,
            "published": d.published.isoformat(),
            "size": len(d.data),
            # what an operator inspects before a replay: the body (its start) and attributes
            "body": d.data[:DEAD_LETTER_BODY_SHOWN].decode("utf-8", errors="replace"),
            "attributes": dict(sorted(d.attributes.items())),
        }
        for d in dead[:DEAD_LETTERS_SHOWN]
    ]
    return report


@router.get("/status", response_class=HTMLResponse, summary="Pipeline status")
def status_page(request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """The status of everything, refreshed in place every few seconds."""
    response = state.templates.TemplateResponse(
        request,
        "status.html",
        page_context(
            request,
            identity,
            page="status",
            report=_report(state),
            refresh=REFRESH_SECONDS,
            csrf=CSRF_CONFIG,
        ),
    )
    ensure_csrf_cookie(request, response)
    return response


@router.get("/status/report", response_class=HTMLResponse, include_in_schema=False)
def status_fragment(request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """The report part of the page, for its refresh."""
    return state.templates.TemplateResponse(
        request,
        "status_report.html",
        page_context(request, identity, report=_report(state)),
    )


@router.get("/api/status", summary="Pipeline status as JSON")
def status_json(state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the status page shows (and `vidcurate status --json` prints, with dead letters)."""
    del identity
    return _report(state)


class Replay(BaseModel):
    """A dead letter to publish again to its function's topic."""

    function: str = Field(min_length=1, max_length=64, pattern=r"^[a-z][a-z0-9_]*$")
    message_id: str = Field(min_length=1, max_length=200)


@router.post("/api/status/replay", summary="Replay a dead letter (operators)")
def replay(
    request: Request, body: Replay, state: StateDep, identity: IdentityDep
) -> dict[str, Any]:
    """Publish the dead letter again (as `vidcurate dlq replay` does); operators only, from
    the page (its anti-forgery header), recorded with who asked."""
    require_from_page(request, "the status page")
    require_operator(identity, "replay")
    try:
        spec = function_spec(body.function)
    except KeyError as exc:
        raise PageError(404, f"no function {body.function!r}") from exc
    services = state.services
    replayed = replay_dead_letters(
        build_subscriber(services), services.bus, services.settings, [spec], {body.message_id}
    )
    if not replayed:
        raise PageError(404, f"no dead letter {body.message_id!r} of {body.function}")
    record_action(services, identity, "replay", function=body.function, message_id=body.message_id)
    return {"replayed": len(replayed), "function": body.function, "by": identity.label}


class CritiqueRetry(BaseModel):
    """An export whose critique run is planned again."""

    export_folder: str = Field(pattern=r"^export_\d{8}_\d{4}(_\d+)?$", max_length=64)


@router.post(
    "/api/status/critiques/retry", status_code=202, summary="Run critiques again (operators)"
)
def retry_critiques(
    request: Request, body: CritiqueRetry, state: StateDep, identity: IdentityDep
) -> dict[str, Any]:
    """Ask the critique functions to plan the export's run again, as `vidcurate critiques
    run --export-folder` does (what is done is kept; failed items are retried); operators
    only, from the page, recorded with who asked."""
    require_from_page(request, "the status page")
    require_operator(identity, "run critiques")
    services = state.services
    try:
        message_id = request_rerun(services, body.export_folder)
    except NotFoundError as exc:
        raise PageError(404, str(exc)) from exc
    record_action(
        services, identity, "critiques-retry", export_folder=body.export_folder, message=message_id
    )
    return {"export_folder": body.export_folder, "message_id": message_id, "by": identity.label}

"""The active-learning rounds page: what ``vidcurate learn status`` lists (every round's
status, when and where it ran, its test metrics, guidance or error), the test macro F1 of
the finished rounds drawn with Chart.js, and a round's page: its metrics per task and set
(accuracy, macro F1, the model's kappa against the agreed classes, per class), the stopping
guidance, the training curves and test confusion matrices (the round's PNGs from the models
bucket, with the same numbers as tables), the annotators' agreement, and the head of the
queue it made, with the frames. Read-only; every route needs a signed-in identity."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from shared.learning import (
    QUEUE_HEAD,
    RoundReport,
    RoundRow,
    queue_frame,
    round_plot,
    round_report,
    round_rows,
)
from shared.web.state import (
    AppState,
    IdentityDep,
    PageError,
    StateDep,
    page_context,
)

__all__ = ["router"]

router = APIRouter()

RoundPath = Annotated[int, Path(ge=0, le=99, description="The round number (0..99).")]
PlotPath = Annotated[
    str,
    Path(
        pattern=r"^[a-z][a-z0-9_]{0,63}_(curves|confusion)$",
        description="<task>_curves or <task>_confusion.",
    ),
]
PositionPath = Annotated[
    int, Path(ge=0, lt=QUEUE_HEAD, description="A position in the queue's head.")
]
CACHE = {"Cache-Control": "private, max-age=300"}


def _chart(rows: list[RoundRow]) -> dict[str, Any]:
    """The finished rounds' test macro F1 per task, oldest first (what the chart draws)."""
    done = sorted((r for r in rows if r.status == "done" and r.test), key=lambda r: r.round)
    tasks = list(dict.fromkeys(task for r in done for task in r.test))
    return {
        "rounds": [r.round for r in done],
        "tasks": {
            task: [r.test.get(task, {}).get("test_macro_f1") for r in done] for task in tasks
        },
    }


def _list(state: AppState) -> dict[str, Any]:
    rows = round_rows(state.services)
    finished = [r.round for r in rows if r.status == "done"]
    return {
        "rounds": rows,
        "next_round": max(finished) + 1 if finished else 0,
        "chart": _chart(rows),
    }


def _report(state: AppState, number: int) -> RoundReport:
    found = round_report(state.services, number)
    if found is None:
        raise PageError(404, f"there is no round {number}: vidcurate learn round runs one")
    return found


@router.get("/rounds", response_class=HTMLResponse, summary="Active-learning rounds")
def rounds_page(request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """Every round: status, times, where it ran, test metrics, guidance or error."""
    listed = _list(state)
    return state.templates.TemplateResponse(
        request,
        "rounds.html",
        page_context(request, identity, page="rounds", **listed),
    )


@router.get("/api/rounds", summary="Active-learning rounds as JSON")
def rounds_json(state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the rounds page lists (the latest round first) and charts."""
    del identity
    listed = _list(state)
    return {**listed, "rounds": [r.model_dump(mode="json") for r in listed["rounds"]]}


@router.get("/rounds/{number}", response_class=HTMLResponse, summary="An active-learning round")
def round_page(
    number: RoundPath, request: Request, state: StateDep, identity: IdentityDep
) -> Response:
    """A round's metrics, guidance, curves, confusion matrices and queue head."""
    report = _report(state, number)
    return state.templates.TemplateResponse(
        request,
        "rounds_round.html",
        page_context(request, identity, page="rounds", report=report, number=number),
    )


@router.get("/api/rounds/{number}", summary="An active-learning round as JSON")
def round_json(number: RoundPath, state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the round's page shows."""
    del identity
    return _report(state, number).model_dump(mode="json")


@router.get(
    "/rounds/{number}/plots/{name}.png",
    summary="A round's plot",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}}},
)
def round_plot_png(
    number: RoundPath, name: PlotPath, state: StateDep, identity: IdentityDep
) -> Response:
    """``<task>_curves`` or ``<task>_confusion`` of the round, from the models bucket."""
    del identity
    data = round_plot(state.services, number, name)
    if data is None:
        raise PageError(404, f"round {number} has no plot {name}")
    return Response(data, media_type="image/png", headers=CACHE)


@router.get(
    "/rounds/{number}/queue/{position}",
    summary="A frame of a round's queue head",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def round_queue_frame(
    number: RoundPath, position: PositionPath, state: StateDep, identity: IdentityDep
) -> Response:
    """The frame at ``position`` of the queue the round made, from the frames bucket."""
    del identity
    found = queue_frame(state.services, number, position)
    if found is None:
        raise PageError(404, f"round {number}'s queue has no frame at {position} (any more)")
    return Response(found.data, media_type=found.content_type, headers=CACHE)

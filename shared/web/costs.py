"""The costs page: spend over time and by model, kind and run, tokens, requests per minute
against each model's limit and the budget caps in force, drawn with Chart.js (vendored in
``static/``, MIT) beside the same numbers as tables, each downloadable as CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from shared.ops.costs import COST_TABLES, WINDOWS, CostTable, collect_costs, costs_csv
from shared.web.state import AppState, IdentityDep, StateDep, page_context

__all__ = ["router"]

router = APIRouter()

DaysQuery = Annotated[
    int, Query(ge=1, le=max(WINDOWS), description="Days ending today (UTC) to show.")
]


def _report(state: AppState, days: int) -> dict[str, Any]:
    return collect_costs(state.services, days=days, now=datetime.now(UTC))


@router.get("/costs", response_class=HTMLResponse, summary="Model spend")
def costs_page(
    request: Request, state: StateDep, identity: IdentityDep, days: DaysQuery = 30
) -> Response:
    """Spend, tokens, requests per minute and budget caps, as charts and tables."""
    report = _report(state, days)
    return state.templates.TemplateResponse(
        request,
        "costs.html",
        page_context(
            request,
            identity,
            page="costs",
            report=report,
            windows=WINDOWS,
            tables=COST_TABLES,
        ),
    )


@router.get("/api/costs", summary="Model spend as JSON")
def costs_json(state: StateDep, identity: IdentityDep, days: DaysQuery = 30) -> dict[str, Any]:
    """What the costs page draws."""
    return _report(state, days)


@router.get(
    "/costs/{table}.csv",
    summary="One table of the costs page as CSV",
    response_class=Response,
    responses={200: {"content": {"text/csv": {}}}},
)
def costs_download(
    table: CostTable, state: StateDep, identity: IdentityDep, days: DaysQuery = 30
) -> Response:
    """``days``, ``models``, ``kinds``, ``runs`` or ``minutes`` (the last hour), as CSV."""
    body = costs_csv(_report(state, days), table)
    name = f"vidcurate-costs-{table}-{days}d.csv"
    return Response(
        body,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )

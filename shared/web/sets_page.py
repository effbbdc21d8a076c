"""The image-sets pages: what ``vidcurate sets status`` and ``sets evaluate`` tell, to review
in a browser. The list (``/sets``): the sets in id order, a page at a time, with their status,
mix, balance, pending plan, cost, when they were evaluated and why one failed, the counts by
status, and the sets never evaluated. A set's page (``/sets/<set id>``): its mix against the
target (a chart beside the table), the contact sheets the vision model was shown (served
from the evaluations bucket), every verdict, the plan (what to delete, what to generate and
with which prompts), and the changes its executions made. Read-only: nothing is started from
here. JSON twins at ``/api/sets`` and ``/api/sets/<set id>``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from shared.trainsets.api import (
    SET_STATUSES,
    SetPage,
    SetReview,
    SetStatus,
    composite_image,
    is_set_id,
    set_page,
    set_review,
)
from shared.trainsets.messages import SET_ID_PATTERN
from shared.web.state import (
    AppState,
    IdentityDep,
    PageError,
    StateDep,
    page_context,
)

__all__ = ["router"]

router = APIRouter()

StatusQuery = Annotated[
    SetStatus | None, Query(description="Only the sets of this status (of their document).")
]
AfterQuery = Annotated[
    str | None,
    Query(max_length=128, pattern=SET_ID_PATTERN.pattern, description="The page's cursor."),
]
FindQuery = Annotated[str | None, Query(max_length=200, description="Open the set of this id.")]
SET_ID_RULE = "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit"


def _page(state: AppState, status: str | None, after: str | None) -> SetPage:
    return set_page(state.services, status=status, after=after)


def _review(state: AppState, set_id: str) -> SetReview:
    found = set_review(state.services, set_id)
    if found is None:
        shown = set_id if len(set_id) <= 80 else set_id[:80] + "…"
        if not is_set_id(set_id):
            raise PageError(404, f"no set {shown!r}: a set id is {SET_ID_RULE}")
        raise PageError(404, f"no set {shown!r}: no manifest and never evaluated")
    return found


@router.get("/sets", response_class=HTMLResponse, summary="Image sets")
def sets_page(
    request: Request,
    state: StateDep,
    identity: IdentityDep,
    status: StatusQuery = None,
    after: AfterQuery = None,
    find: FindQuery = None,
) -> Response:
    """The sets a page at a time, with their state; ``find`` opens one set's page."""
    if find is not None and find.strip():
        wanted = find.strip()
        if not is_set_id(wanted):
            raise PageError(422, f"{wanted[:80]!r} is not a set id: {SET_ID_RULE}")
        return RedirectResponse(f"/sets/{wanted}", status_code=303)
    found = _page(state, status, after)
    return state.templates.TemplateResponse(
        request,
        "sets.html",
        page_context(request, identity, page="sets", report=found, statuses=SET_STATUSES),
    )


@router.get("/api/sets", summary="Image sets as JSON")
def sets_json(
    state: StateDep, identity: IdentityDep, status: StatusQuery = None, after: AfterQuery = None
) -> dict[str, Any]:
    """What the sets page shows: a page of sets (rows of `sets status --json`), the counts
    by status, the sets never evaluated."""
    del identity
    return _page(state, status, after).model_dump(mode="json")


@router.get("/sets/{set_id}", response_class=HTMLResponse, summary="An image set's review")
def set_page_html(
    set_id: str, request: Request, state: StateDep, identity: IdentityDep
) -> Response:
    """The set's evaluation (mix, sheets, verdicts), its plan and the changes made."""
    review = _review(state, set_id)
    chart = {
        "categories": [c.name for c in review.categories],
        "percentages": [c.percentage for c in review.categories],
        "targets": [c.target for c in review.categories],
        # pairs, not a mapping: the page's JSON sorts keys, and the categories keep their order
        "quality": [[name, counts] for name, counts in review.quality.items()],
    }
    return state.templates.TemplateResponse(
        request,
        "sets_set.html",
        page_context(request, identity, page="sets", r=review, chart=chart),
    )


@router.get("/api/sets/{set_id}", summary="An image set's review as JSON")
def set_json(set_id: str, state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the set's page shows."""
    del identity
    return _review(state, set_id).model_dump(mode="json")


@router.get(
    "/sets/{set_id}/composites/{index}.jpg",
    summary="A contact sheet of a set's evaluation",
    response_class=Response,
    responses={200: {"content": {"image/jpeg": {}}}},
)
def set_composite(set_id: str, index: int, state: StateDep, identity: IdentityDep) -> Response:
    """The ``index``-th sheet (from 0) the vision model was shown, from the evaluations
    bucket."""
    del identity
    found = composite_image(state.services, set_id, index)
    if found is None:
        shown = set_id if len(set_id) <= 80 else set_id[:80] + "…"
        raise PageError(404, f"set {shown!r} has no contact sheet {index}")
    _name, data = found
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=60"})

"""Admin pages: every annotator's progress and the agreement per task."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shared.web.auth import Identity
from shared.web.state import (
    IdentityDep,
    PageError,
    StateDep,
    page_context,
)

__all__ = ["router"]

router = APIRouter()


def _admin(identity: Identity) -> None:
    if not identity.admin:
        raise PageError(403, f"{identity.label} is not an admin of this app")


@router.get("/admin/labels", response_class=HTMLResponse, summary="Labelling progress")
def labels_page(request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """Progress per annotator and Cohen's / Fleiss' kappa per task."""
    _admin(identity)
    status = state.labelling.status()
    return state.templates.TemplateResponse(
        request,
        "admin_labels.html",
        page_context(request, identity, status=status, page="admin"),
    )


@router.get("/admin/api/labels", summary="Labelling progress as JSON")
def labels_json(state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What ``vidcurate labels status --json`` prints."""
    _admin(identity)
    return state.labelling.status().to_json()

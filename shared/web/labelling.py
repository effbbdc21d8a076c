"""The labelling page: one frame of the annotator's own queue at a time.

``GET /label`` renders the page at the annotator's first unlabelled position (or
``?position=N``); the page's script (``static/label.js``) then moves through the queue with
``GET /label/api/frames`` (positions, image URLs, the annotator's labels), prefetching and
decoding the next frames so Next shows one at once, and answers with
``POST /label/api/labels``. Nothing on the page names the clip or the file: a frame is an
opaque key (a digest of its id), its image ``/label/image/<position>/<key>``, so a URL is
one frame for anyone (a browser's cache never shows another) and a position that now holds
another frame is refused (409) rather than shown.
"""

from __future__ import annotations

import hashlib
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from shared.core.errors import NotFoundError
from shared.learning import (
    AnnotatorQueue,
    LabelConflictError,
    LabelRecord,
    LabelRejectedError,
    StaleQueueError,
    annotator_by_token,
)
from shared.web.actions import ensure_csrf_cookie, require_from_page, set_csrf_cookie
from shared.web.auth import (
    CSRF_COOKIE,
    CSRF_HEADER,
    SESSION_COOKIE,
    Identity,
)
from shared.web.state import (
    AppState,
    IdentityDep,
    PageError,
    StateDep,
    page_context,
)

__all__ = ["KEY_ROWS", "UNUSABLE_KEY", "router", "shortcuts"]

router = APIRouter()

# One row of keys per task, in the schema's order; "u" marks the frame unusable.
KEY_ROWS = ("123456789", "qwertyiop", "asdfghjkl", "zxcvbnm")
UNUSABLE_KEY = "u"
MAX_BATCH = 50


class LabelIn(BaseModel):
    """An answer from the labelling page."""

    model_config = ConfigDict(extra="forbid")

    position: int = Field(ge=0, description="The queue position the page showed.")
    frame: str = Field(min_length=1, max_length=64, description="The frame's opaque key.")
    queue_version: str = Field(min_length=1, max_length=64)
    revision: int = Field(ge=0, description="The label's revision the page showed (0: none).")
    classes: dict[str, str] = Field(default_factory=dict, max_length=32)
    unusable: bool = False


def frame_key(frame_id: str) -> str:
    """The opaque key the page uses for a frame."""
    return hashlib.sha256(frame_id.encode()).hexdigest()[:32]


def shortcuts(tasks: dict[str, tuple[str, ...]]) -> list[dict[str, Any]]:
    """The tasks with their classes and keys (a task past the fourth, or a class past its
    row's keys, gets a button without a key)."""
    out = []
    for row, (task, classes) in enumerate(tasks.items()):
        keys = KEY_ROWS[row] if row < len(KEY_ROWS) else ""
        out.append(
            {
                "name": task,
                "title": task.replace("_", " ").capitalize(),
                "classes": [
                    {
                        "name": name,
                        "title": name.replace("_", " "),
                        "key": keys[i] if i < len(keys) else None,
                    }
                    for i, name in enumerate(classes)
                ],
            }
        )
    return out


def _annotator(identity: Identity) -> str:
    if identity.annotator is None:
        raise PageError(
            403,
            f"{identity.label} is not an annotator: an admin registers you with "
            "`vidcurate labels invite NAME --email YOUR-EMAIL`",
        )
    return identity.annotator


def _item(state: AppState, annotator: str, queue: AnnotatorQueue, position: int) -> dict[str, Any]:
    frame_id = queue.frame_ids[position]
    record = state.labelling.label(annotator, frame_id)
    key = frame_key(frame_id)
    return {
        "position": position,
        "frame": key,
        "image": f"/label/image/{position}/{key}",
        "label": _label_json(record),
        "revision": record.revision if record else 0,
    }


def _label_json(record: LabelRecord | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"classes": dict(record.label.classes), "unusable": record.label.unusable}


@router.get("/", include_in_schema=False)
def home(identity: IdentityDep) -> RedirectResponse:
    """Annotators to their queue, admins to the labelling status."""
    target = "/label" if identity.annotator or not identity.admin else "/admin/labels"
    return RedirectResponse(target, status_code=303)


@router.get("/label", response_class=HTMLResponse, summary="The labelling page")
def label_page(
    request: Request,
    state: StateDep,
    identity: IdentityDep,
    position: Annotated[int | None, Query(ge=0, le=10**9)] = None,
) -> Response:
    """One frame of the caller's queue: where they stopped, or ``position``."""
    annotator = _annotator(identity)
    labelling = state.labelling
    labelling.labels(annotator, refresh=True)  # a page starts from the store
    queue = labelling.queue(annotator)
    start = labelling.resume(annotator) if position is None else min(position, len(queue))
    config = {
        "tasks": shortcuts(dict(labelling.schema.tasks)),
        "unusable_key": UNUSABLE_KEY,
        "total": len(queue),
        "labelled": labelling.labelled(annotator),
        "position": start,
        "version": queue.version,
        "item": _item(state, annotator, queue, start) if start < len(queue) else None,
        "api": {"frames": "/label/api/frames", "labels": "/label/api/labels"},
        "csrf_cookie": CSRF_COOKIE,
        "csrf_header": CSRF_HEADER,
    }
    response = state.templates.TemplateResponse(
        request, "label.html", page_context(request, identity, config=config, page="label")
    )
    ensure_csrf_cookie(request, response)
    return response


@router.get("/label/api/frames", summary="Positions of the caller's queue")
def frames(
    state: StateDep,
    identity: IdentityDep,
    start: Annotated[int, Query(ge=0, le=10**9)],
    count: Annotated[int, Query(ge=1, le=MAX_BATCH)] = 10,
    version: Annotated[str | None, Query(max_length=64)] = None,
) -> dict[str, Any]:
    """``count`` positions from ``start`` (fewer at the end of the queue): each frame's key,
    image URL and the caller's label of it."""
    annotator = _annotator(identity)
    queue = state.labelling.queue(annotator)
    if version is not None and version != queue.version:
        raise PageError(409, "the queue changed since this page was loaded: reload to continue")
    end = min(start + count, len(queue))
    return {
        "version": queue.version,
        "total": len(queue),
        "labelled": state.labelling.labelled(annotator),
        "items": [_item(state, annotator, queue, p) for p in range(start, end)],
    }


@router.get("/label/image/{position}/{key}", summary="The frame at a queue position")
def image(
    state: StateDep,
    identity: IdentityDep,
    position: Annotated[int, Path(ge=0, le=10**9)],
    key: Annotated[str, Path(max_length=64)],
) -> Response:
    """The JPEG of the frame ``key`` at ``position`` of the caller's queue."""
    annotator = _annotator(identity)
    queue = state.labelling.queue(annotator)
    frame_id = queue.at(position)
    if frame_id is None:
        raise PageError(404, f"position {position} is past the end of your queue")
    if frame_key(frame_id) != key:
        raise PageError(409, "your queue changed since this page was loaded: reload to continue")
    try:
        data = state.labelling.image(frame_id)
    except NotFoundError as exc:
        raise PageError(404, "this frame's image is gone (its clip was replaced)") from exc
    # A URL names one frame (its key) for anyone: the browser may keep it.
    headers = {"Cache-Control": "private, max-age=86400"}
    return Response(data, media_type="image/jpeg", headers=headers)


@router.post("/label/api/labels", summary="Answer for one frame")
def post_label(
    request: Request, state: StateDep, identity: IdentityDep, answer: LabelIn
) -> dict[str, Any]:
    """Record the caller's answer for the frame at ``answer.position``: refused (nothing
    written) for a forged request, another frame, a stale queue or revision, an unknown
    task or class."""
    require_from_page(request, "the labelling page")
    annotator = _annotator(identity)
    labelling = state.labelling
    queue = labelling.queue(annotator)
    frame_id = queue.at(answer.position)
    if frame_id is None or frame_key(frame_id) != answer.frame:
        raise PageError(
            409,
            f"that frame is not at position {answer.position} of your queue: reload to continue",
        )
    try:
        record = labelling.answer(
            annotator,
            position=answer.position,
            frame_id=frame_id,
            queue_version=answer.queue_version,
            revision=answer.revision,
            classes=answer.classes,
            unusable=answer.unusable,
        )
    except LabelRejectedError as exc:
        raise PageError(422, str(exc)) from exc
    except (StaleQueueError, LabelConflictError) as exc:
        raise PageError(409, str(exc)) from exc
    return {
        "position": answer.position,
        "revision": record.revision,
        "label": _label_json(record),
        "labelled": labelling.labelled(annotator),
        "total": len(queue),
    }


class SignIn(BaseModel):
    """The token of a personal link."""

    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=256)


@router.get("/signin", response_class=HTMLResponse, include_in_schema=False)
def signin_page(request: Request, state: StateDep) -> Response:
    """Reads the token from the link's fragment and posts it (static/signin.js)."""
    return state.templates.TemplateResponse(
        request, "signin.html", page_context(request, None, page="signin")
    )


@router.post("/signin", summary="Sign in with a personal link's token")
def signin(state: StateDep, body: SignIn) -> Response:
    """Keep the token in an HttpOnly cookie when it is an annotator's."""
    if state.verifier is not None:
        raise PageError(404, "sign-in links are not used here: IAP signs you in")
    annotator = annotator_by_token(state.services.documents, body.token)
    if annotator is None:
        raise PageError(401, "this sign-in link is not valid (any more): ask for a new one")
    response = JSONResponse({"annotator": annotator.name, "redirect": "/"})
    # Lax: a link to /label opened from a mail or chat arrives signed in; writes need the
    # page's anti-forgery header besides, which no other site can send.
    response.set_cookie(
        SESSION_COOKIE, body.token, httponly=True, samesite="lax", max_age=30 * 86400
    )
    set_csrf_cookie(response)
    return response


@router.post("/signout", include_in_schema=False)
def signout() -> Response:
    """Forget the session cookie."""
    response = RedirectResponse("/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response

"""The clip explorer: the videos bucket's clips by name, prefix and metadata (keyset pages,
any number of clips), and a clip's page: its video (streamed with byte ranges), its sampled
frames as a strip with their timestamps, each frame's descriptions with the model, tokens
and cost, the clip's metadata and technical facts, and its contact sheet.

Every signed-in identity may look (viewers) and ask what describing a clip's frames would
cost; only operators (admins) start it, from the page (its anti-forgery header), and every
start is logged and kept in ``operator_actions`` with who asked. On the embedded default the
app describes the frames itself; in the cloud it publishes the job to ``analyze_frames``.
"""

from __future__ import annotations

import io
import re
import threading
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from shared.core.errors import ConfigError, NotFoundError
from shared.media.api import ClipPage, ClipView, clip_page, clip_view
from shared.vision.api import (
    AnalysisView,
    ClipEstimate,
    analyses_of,
    analysis_summaries,
    analyze_now,
    estimate_clip,
    prompts,
    request_analysis,
)
from shared.web.actions import (
    CSRF_CONFIG,
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
from shared.web.streaming import stream_object

__all__ = ["router"]

router = APIRouter()

PrefixQuery = Annotated[str, Query(max_length=512, description="Clips whose name starts so.")]
FieldQuery = Annotated[
    str | None,
    Query(pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", description="A metadata field."),
]
ValueQuery = Annotated[str | None, Query(max_length=512, description="Its value.")]
AfterQuery = Annotated[str | None, Query(max_length=1024, description="The page's cursor.")]
QUICK_LOOK = (5.0, 15.0, 25.0)  # the explorers' "first 30 seconds" look


def _page(
    state: AppState, prefix: str, field: str | None, value: str | None, after: str | None
) -> tuple[ClipPage, dict[str, dict[str, Any]]]:
    found = clip_page(state.services, prefix=prefix, field=field, value=value, after=after)
    return found, analysis_summaries(state.services, [c.name for c in found.clips])


@router.get("/clips", response_class=HTMLResponse, summary="Clips of the videos bucket")
def clips_page(
    request: Request,
    state: StateDep,
    identity: IdentityDep,
    prefix: PrefixQuery = "",
    field: FieldQuery = None,
    value: ValueQuery = None,
    after: AfterQuery = None,
) -> Response:
    """A page of clips by name; search by name prefix and one metadata field's value."""
    found, summaries = _page(state, prefix, field, value, after)
    return state.templates.TemplateResponse(
        request,
        "clips.html",
        page_context(
            request,
            identity,
            page="clips",
            clips=found.clips,
            next_cursor=found.next_cursor,
            summaries=summaries,
            prefix=prefix,
            field=field or "",
            value=value or "",
            after=after,
        ),
    )


@router.get("/api/clips", summary="A page of clips as JSON")
def clips_json(
    state: StateDep,
    identity: IdentityDep,
    prefix: PrefixQuery = "",
    field: FieldQuery = None,
    value: ValueQuery = None,
    after: AfterQuery = None,
) -> dict[str, Any]:
    """What the clips page shows, with each clip's analyses summed."""
    del identity
    found, summaries = _page(state, prefix, field, value, after)
    return {**found.model_dump(mode="json"), "analyses": summaries}


def _clip(state: AppState, clip_id: str) -> ClipView:
    found = clip_view(state.services, clip_id)
    if found is None:
        raise PageError(404, f"no clip {clip_id!r} (it may have been deleted)")
    return found


def _described(clip: ClipView, analyses: list[AnalysisView]) -> list[dict[str, Any]]:
    """Per frame: the frame and every description of it (this generation's analyses)."""
    rows = []
    current = [a for a in analyses if a.generation == clip.generation]
    for frame in clip.frames:
        notes = [
            {"analysis": a, "frame": f}
            for a in current
            for f in a.frames
            if abs(f.timestamp - frame.timestamp) < 1e-6
        ]
        quick = any(abs(frame.timestamp - t) < 0.5 for t in QUICK_LOOK)
        rows.append({"frame": frame, "notes": notes, "quick": quick})
    return rows


@router.get("/clips/{clip_id}", response_class=HTMLResponse, summary="A clip's page")
def clip_page_html(
    clip_id: str, request: Request, state: StateDep, identity: IdentityDep
) -> Response:
    """The clip's video, frames, descriptions with their cost, and metadata."""
    clip = _clip(state, clip_id)
    analyses = analyses_of(state.services, clip.name)
    current = [a for a in analyses if a.generation == clip.generation]
    response = state.templates.TemplateResponse(
        request,
        "clip.html",
        page_context(
            request,
            identity,
            page="clips",
            clip=clip,
            rows=_described(clip, analyses),
            analyses=current,
            cost=round(sum(a.cost_usd for a in current), 8),
            tokens=sum(a.tokens for a in current),
            described=sum(len(a.frames) for a in current),
            prompts=prompts(),
            model=state.services.settings.vision_model,
            config={"clip": clip.id, **CSRF_CONFIG},
        ),
    )
    ensure_csrf_cookie(request, response)
    return response


@router.get("/api/clips/{clip_id}", summary="A clip and its analyses as JSON")
def clip_json(clip_id: str, state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """The clip, its frames, and every analysis of it with its frames' descriptions."""
    del identity
    clip = _clip(state, clip_id)
    analyses = analyses_of(state.services, clip.name)
    return {
        "clip": clip.model_dump(mode="json"),
        "analyses": [a.model_dump(mode="json") for a in analyses],
    }


@router.get("/clips/{clip_id}/video", summary="A clip's video (byte ranges)")
def clip_video(clip_id: str, request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """The clip's bytes from the videos bucket, for the page's player."""
    del identity
    clip = _clip(state, clip_id)
    try:
        info = state.services.blobs.stat(clip.bucket, clip.name)
    except NotFoundError as exc:
        raise PageError(404, f"the video of {clip.name!r} is gone from the bucket") from exc
    return stream_object(
        request,
        state.services.blobs,
        clip.bucket,
        clip.name,
        size=info.size,
        etag=f'"{info.generation}"',
        content_type=info.content_type or "video/mp4",
        cache_control="private, max-age=300",
    )


@router.get("/clips/{clip_id}/frames/{index}.jpg", summary="A sampled frame")
def clip_frame(clip_id: str, index: int, state: StateDep, identity: IdentityDep) -> Response:
    """The ``index``-th sampled frame (JPEG)."""
    del identity
    clip = _clip(state, clip_id)
    if not 0 <= index < len(clip.frames):
        raise PageError(404, f"{clip.name!r} has no frame {index}")
    try:
        data = state.services.blobs.read(
            state.services.settings.frames_bucket, clip.frames[index].path
        )
    except NotFoundError as exc:
        raise PageError(404, f"frame {index} of {clip.name!r} is gone") from exc
    return Response(
        data, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
    )


@router.get("/clips/{clip_id}/sheet.jpg", summary="A clip's contact sheet")
def clip_sheet(clip_id: str, state: StateDep, identity: IdentityDep) -> Response:
    """Every sampled frame in one labelled JPEG, as a download."""
    del identity
    from PIL import Image  # noqa: PLC0415 (Pillow only when a sheet is drawn)

    from shared.media import contact_sheet  # noqa: PLC0415

    clip = _clip(state, clip_id)
    if not clip.frames:
        raise PageError(404, f"{clip.name!r} has no sampled frames yet")
    bucket = state.services.settings.frames_bucket
    try:
        images = [
            Image.open(io.BytesIO(state.services.blobs.read(bucket, f.path))) for f in clip.frames
        ]
    except NotFoundError as exc:
        raise PageError(404, f"a frame of {clip.name!r} is gone") from exc
    sheet = contact_sheet(images, labels=[f"{f.timestamp:.1f} s" for f in clip.frames])
    out = io.BytesIO()
    sheet.save(out, "JPEG", quality=90)
    stem = re.sub(r"[^A-Za-z0-9._-]", "_", clip.name.rsplit("/", 1)[-1].rsplit(".", 1)[0]) or "clip"
    return Response(
        out.getvalue(),
        media_type="image/jpeg",
        headers={"Content-Disposition": f'attachment; filename="{stem}_sheet.jpg"'},
    )


PromptQuery = Annotated[str, Query(pattern=r"^[a-z_]{1,64}$", description="A frame prompt.")]
ModelQuery = Annotated[
    str | None, Query(pattern=r"^[A-Za-z0-9._:/-]{1,100}$", description="A priced model.")
]


def _estimate(state: AppState, clip_id: str, prompt: str, model: str | None) -> tuple[Any, Any]:
    try:
        found = estimate_clip(state.services, clip_id, prompt=prompt, model=model)
    except ConfigError as exc:
        raise PageError(422, str(exc)) from exc
    except KeyError as exc:
        raise PageError(422, f"prompt {prompt!r} is not one of {', '.join(prompts())}") from exc
    if found is None:
        raise PageError(404, f"no sampled clip {clip_id!r}")
    return found


@router.get("/api/clips/{clip_id}/estimate", response_model=ClipEstimate, summary="Cost first")
def estimate(
    clip_id: str,
    state: StateDep,
    identity: IdentityDep,
    prompt: PromptQuery = "describe_frame",
    model: ModelQuery = None,
) -> ClipEstimate:
    """What describing the clip's frames not yet described with ``prompt`` and ``model``
    would cost (offline: nothing, and the list price beside)."""
    del identity
    found, _job = _estimate(state, clip_id, prompt, model)
    result: ClipEstimate = found
    return result


class AnalyzeIn(BaseModel):
    """Describe the clip's frames: the prompt, the model, and the estimate the page showed."""

    prompt: str = Field("describe_frame", pattern=r"^[a-z_]{1,64}$")
    model: str | None = Field(None, pattern=r"^[A-Za-z0-9._:/-]{1,100}$")


@router.post("/api/clips/{clip_id}/analyze", status_code=202, summary="Describe a clip's frames")
def analyze(
    clip_id: str, body: AnalyzeIn, request: Request, state: StateDep, identity: IdentityDep
) -> JSONResponse:
    """Start describing the clip's frames (operators, from the page); its cost appears on
    the clip's page as the frames are described."""
    require_from_page(request, "the clip's page")
    require_operator(identity, "analyze")
    found, job = _estimate(state, clip_id, body.prompt, body.model)
    services = state.services
    record_action(
        services,
        identity,
        "analyze",
        clip=found.clip,
        prompt=found.prompt,
        model=found.model,
        estimated_cost_usd=found.estimated_cost_usd,
    )
    if services.settings.backend == "local":
        # No function listens on the embedded default: the app does the function's work.
        threading.Thread(target=analyze_now, args=(services, job), daemon=True).start()
        where = "here"
    else:
        request_analysis(services, job)
        where = "analyze_frames"
    return JSONResponse(
        {"started": True, "by": identity.label, "where": where, **found.model_dump(mode="json")},
        status_code=202,
    )

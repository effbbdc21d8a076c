"""The features page: the feature-extraction runs, latest first, and a run's progress: its
selection, per extractor (technical, shots, motion, quality, text) the videos done, failed
and left, the failed videos with their reasons, the tasks of each execution and what each
has done, throughput and ETA, and its Parquet tables and manifest to download from the
features bucket. What `vidcurate features status` shows, from the progress records the
tasks keep (:func:`shared.features.run_progress`): a refresh reads one object per task,
never one per video. A run's page that is looked at while the run goes refreshes its
numbers in place every few seconds (``static/features.js``, polling ``/api/features/{run}``).
Read-only: runs are started with `vidcurate features run`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response

from shared.core.errors import ConfigError, NotFoundError
from shared.features import EXTRACTORS, RunProgress, list_runs, run_path, run_progress, table_path
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

RunPath = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
        max_length=100,
        description="A run's name (`vidcurate features run` prints it).",
    ),
]
ExtractorPath = Annotated[
    str, Path(pattern=r"^[a-z][a-z_]{0,31}$", description="An extractor's name.")
]
RUNS_SHOWN = 50
REFRESH_SECONDS = 5
LIVE = ("running", "waiting", "not started")  # a run's page refreshes itself in these states


def _progress(state: AppState, run: str) -> RunProgress:
    try:
        return run_progress(state.services, run)
    except ConfigError as exc:
        raise PageError(404, f"no feature run {run!r}: `vidcurate features run` makes one") from exc


def _eta(seconds: float) -> str:
    if seconds < 60:
        return "less than a minute left"
    hours, rest = divmod(int(seconds), 3600)
    return f"about {hours}h{rest // 60:02d}m left"


def _summary(progress: RunProgress) -> str:
    """The run's state in one sentence (after its state's word)."""
    run = progress.run
    if not progress.task_sets:
        return f"no task has reported yet (`vidcurate features run --run {run.run}` runs it)."
    latest = progress.task_sets[0]
    words = f"the tasks have reached {latest.seen} of {run.videos} videos"
    waiting = latest.counts.get("not started", 0)
    if waiting:
        words += f", {waiting} task{'s' if waiting != 1 else ''} of {latest.tasks} not started"
    if progress.videos_per_hour:
        words += f", {progress.videos_per_hour:.0f} videos/hour"
    if progress.eta_seconds is not None:
        words += f", {_eta(progress.eta_seconds)}"
    return words + "."


def _runs(state: AppState) -> list[dict[str, Any]]:
    return [r.model_dump(mode="json") for r in list_runs(state.services, limit=RUNS_SHOWN)]


@router.get("/features", response_class=HTMLResponse, summary="Feature-extraction runs")
def features_page(request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """The runs, latest first: what each selected and computes."""
    return state.templates.TemplateResponse(
        request,
        "features.html",
        page_context(
            request,
            identity,
            page="features",
            runs=list_runs(state.services, limit=RUNS_SHOWN),
            shown=RUNS_SHOWN,
            bucket=state.services.settings.features_bucket,
        ),
    )


@router.get("/api/features", summary="Feature-extraction runs as JSON")
def features_json(state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """The latest runs (at most 50), latest first."""
    del identity
    return {"runs": _runs(state)}


@router.get("/features/{run}", response_class=HTMLResponse, summary="A run's progress")
def run_page(run: RunPath, request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """Per extractor done, failed and left; the failures; the tasks; the tables."""
    progress = _progress(state, run)
    return state.templates.TemplateResponse(
        request,
        "features_run.html",
        page_context(
            request,
            identity,
            page="features",
            p=progress,
            live=progress.state in LIVE,
            summary=_summary(progress),
            refresh=REFRESH_SECONDS,
            extractors=EXTRACTORS,
        ),
    )


@router.get("/api/features/{run}", summary="A run's progress as JSON")
def run_json(run: RunPath, state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the run's page shows (and refreshes itself from)."""
    del identity
    progress = _progress(state, run)
    return {
        **progress.model_dump(mode="json"),
        "live": progress.state in LIVE,
        "summary": _summary(progress),
    }


def _download(
    request: Request, state: StateDep, name: str, filename: str, content_type: str, missing: str
) -> Response:
    services = state.services
    bucket = services.settings.features_bucket
    try:
        info = services.blobs.stat(bucket, name)
    except NotFoundError as exc:
        raise PageError(404, missing) from exc
    response = stream_object(
        request,
        services.blobs,
        bucket,
        name,
        size=info.size,
        etag=f'"{info.generation}"',
        content_type=content_type,
        cache_control="private, max-age=60",
    )
    response.headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@router.get(
    "/features/{run}/tables/{extractor}.parquet",
    summary="A run's Parquet table of one extractor",
    response_class=Response,
    responses={200: {"content": {"application/vnd.apache.parquet": {}}}},
)
def table_download(
    run: RunPath, extractor: ExtractorPath, request: Request, state: StateDep, identity: IdentityDep
) -> Response:
    """``tables/<run>/<extractor>.parquet`` from the features bucket: one row per video
    with its result (written when the run ends, or by `vidcurate features export`)."""
    del identity
    if extractor not in EXTRACTORS:
        raise PageError(404, f"no extractor {extractor!r} (known: {', '.join(EXTRACTORS)})")
    return _download(
        request,
        state,
        table_path(run, extractor),
        f"vidcurate-features-{run}-{extractor}.parquet",
        "application/vnd.apache.parquet",
        f"run {run!r} has no {extractor} table yet: it is written when the run ends "
        f"(or by `vidcurate features export --run {run}`)",
    )


@router.get(
    "/features/{run}/manifest.jsonl",
    summary="A run's manifest (its videos)",
    response_class=Response,
    responses={200: {"content": {"application/x-ndjson": {}}}},
)
def manifest_download(
    run: RunPath, request: Request, state: StateDep, identity: IdentityDep
) -> Response:
    """``runs/<run>/manifest.jsonl``: one line per video of the run (object, id, MD5, size,
    generation), in the order the tasks share it."""
    del identity
    return _download(
        request,
        state,
        run_path(run, "manifest.jsonl"),
        f"vidcurate-features-{run}-manifest.jsonl",
        "application/x-ndjson",
        f"no feature run {run!r}",
    )

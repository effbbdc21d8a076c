"""The word discovery page: the latest runs with their progress, the newest one's status and
why words were not mapped (what ``vidcurate discover status`` prints), the vocabulary
bundles with their coverage and the words still missing (``discover bundles coverage``),
and how relevant the stored word↔video mappings are, as histograms drawn with Chart.js
beside tables of the same numbers. A run and a bundle have their own page. Read-only: the
histogram of every mapping is counted by the store over score ranges, never read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from shared.discovery import (
    BundleCoverage,
    DiscoveryOverview,
    RunReport,
    bundle_report,
    discovery_overview,
    discovery_run,
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

WORDS_SHOWN = 1000  # a bundle page's table of covered words; every missing word is named
_SHOWN_ID = 80


def _label(low: float, high: float) -> str:
    return f"{low:.1f}\u2013{high:.1f}"  # an en dash


def _histogram(counts: list[int]) -> dict[str, Any]:
    """Chart data of a distribution by tenths."""
    tenths = len(counts)
    return {
        "labels": [_label(i / tenths, (i + 1) / tenths) for i in range(tenths)],
        "counts": counts,
    }


def _quoted(value: str) -> str:
    """An id from the address, shortened for a sentence."""
    return repr(value if len(value) <= _SHOWN_ID else value[:_SHOWN_ID] + "…")


def _overview(state: AppState) -> DiscoveryOverview:
    return discovery_overview(state.services)


def _run(state: AppState, run: str) -> RunReport:
    found = discovery_run(state.services, run)
    if found is None:
        raise PageError(404, f"there is no discovery run {_quoted(run)}")
    return found


def _bundle(state: AppState, bundle: str) -> BundleCoverage:
    found = bundle_report(state.services.documents, bundle)
    if found is None:
        raise PageError(404, f"there is no bundle {_quoted(bundle)}")
    return found


@router.get("/discovery", response_class=HTMLResponse, summary="Word discovery")
def discovery_page(request: Request, state: StateDep, identity: IdentityDep) -> Response:
    """The latest runs, the bundles' coverage and the mappings' relevance."""
    overview = _overview(state)
    charts = {
        "histogram": _histogram([b.mappings for b in overview.histogram.bins]),
        "coverage": {
            "labels": [b.bundle for b in overview.bundles],
            "covered": [b.covered for b in overview.bundles],
            "missing": [b.missing for b in overview.bundles],
        },
    }
    return state.templates.TemplateResponse(
        request,
        "discovery.html",
        page_context(
            request,
            identity,
            page="discovery",
            overview=overview,
            charts=charts,
            label=_label,
        ),
    )


@router.get("/api/discovery", summary="Word discovery as JSON")
def discovery_json(state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the discovery page shows."""
    del identity
    return _overview(state).model_dump(mode="json")


@router.get("/discovery/runs/{run}", response_class=HTMLResponse, summary="A discovery run")
def run_page(request: Request, run: str, state: StateDep, identity: IdentityDep) -> Response:
    """The run's parameters and status: words done, failed and remaining, clips per stage,
    cost, pace, and why words were not mapped."""
    report = _run(state, run)
    return state.templates.TemplateResponse(
        request,
        "discovery_run.html",
        page_context(request, identity, page="discovery", report=report),
    )


@router.get("/api/discovery/runs/{run}", summary="A discovery run as JSON")
def run_json(run: str, state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """What the run's page shows."""
    del identity
    return _run(state, run).model_dump(mode="json")


@router.get(
    "/discovery/bundles/{bundle}", response_class=HTMLResponse, summary="A bundle's coverage"
)
def bundle_page(request: Request, bundle: str, state: StateDep, identity: IdentityDep) -> Response:
    """The bundle's words with and without clips, and its mappings' relevance."""
    found = _bundle(state, bundle)
    covered = [w for w in found.per_word if w.videos]
    return state.templates.TemplateResponse(
        request,
        "discovery_bundle.html",
        page_context(
            request,
            identity,
            page="discovery",
            bundle=found,
            covered=covered[:WORDS_SHOWN],
            covered_left=max(0, len(covered) - WORDS_SHOWN),
            charts={"histogram": _histogram(found.score_distribution)},
            label=_label,
        ),
    )


@router.get("/api/discovery/bundles/{bundle}", summary="A bundle's coverage as JSON")
def bundle_json(bundle: str, state: StateDep, identity: IdentityDep) -> dict[str, Any]:
    """The bundle's coverage word by word (as ``/v3/bundles/<bundle>/coverage``)."""
    del identity
    return _bundle(state, bundle).model_dump(mode="json")

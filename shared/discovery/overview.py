"""What the web app's discovery page shows, read-only and bounded: the latest runs with
their words counted by status (count queries, never read), a run's status (what ``discover
status`` prints), the bundles with their coverage (what ``discover bundles coverage``
prints), and how relevant the stored mappings are, counted by the store over tenths of the
relevance score (``relevance_score >= low`` and ``< high``: ten count queries on the
field's own index, no mapping read).

The mappings do not record the run that found them (``source_id`` is the clip source), so
the relevance is shown for every mapping and per bundle (from the counters each word keeps,
as ``coverage`` does), not per run.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shared.discovery.bundles import BundleCoverage, coverage
from shared.discovery.runs import RUNS
from shared.discovery.settings import DiscoverySettings
from shared.discovery.status import DiscoveryStatus, run_status
from shared.discovery.store import BUNDLES, SCORE_BINS, WORD_TO_VIDEO
from shared.platform.context import Context
from shared.ports import DocumentStore

__all__ = [
    "BUNDLES_SHOWN",
    "MISSING_SHOWN",
    "RUNS_SHOWN",
    "BundleSummary",
    "DiscoveryOverview",
    "RunRecord",
    "RunReport",
    "RunSummary",
    "ScoreBin",
    "ScoreHistogram",
    "bundle_report",
    "discovery_overview",
    "discovery_run",
    "score_histogram",
]

RUNS_SHOWN = 10
BUNDLES_SHOWN = 20
MISSING_SHOWN = 10  # a bundle's missing words named in its summary (all on its own page)
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$")
_BUNDLE_ID = re.compile(r"^[^\W_]+(?:-[^\W_]+)*$")
_BUNDLE_LENGTH = 200


class RunRecord(BaseModel):
    """What a run was asked to do (its ``discovery_runs`` document)."""

    run: str
    created_at: datetime | None
    source: str
    language: str
    words: int  # listed
    queued: int  # the words searched for (fewer under --max-cost-usd)
    capped: int
    max_videos: int | None
    min_score: float | None
    max_mappings: int | None
    max_cost_usd: float | None
    estimate_usd: float | None
    candidate_model: str | None
    final_model: str | None
    transcription_model: str | None


class RunSummary(RunRecord):
    """A run in the list: its words counted by status (two count queries)."""

    searched: int
    failed: int
    waiting: int  # queued, not searched yet


class RunReport(BaseModel):
    """A run's record and its status."""

    record: RunRecord
    status: DiscoveryStatus


class BundleSummary(BaseModel):
    """A bundle in the list: its coverage without the words one by one."""

    bundle: str
    languages: list[str]
    words: int
    covered: int
    coverage: float
    mappings: int
    score_distribution: list[int]
    missing: int
    missing_words: list[str]  # the first MISSING_SHOWN, in the bundle's order


class ScoreBin(BaseModel):
    """Mappings whose relevance is at least ``low`` and under ``high`` (at most 1.0 in the
    last bin)."""

    low: float
    high: float
    mappings: int


class ScoreHistogram(BaseModel):
    """Every stored mapping by tenth of its relevance, counted by the store."""

    mappings: int  # every mapping (one more count)
    bins: list[ScoreBin]
    outside: int  # mappings in no bin (a score that is not a number from 0 to 1): 0


class DiscoveryOverview(BaseModel):
    """The discovery page."""

    runs: list[RunSummary]
    latest: RunReport | None
    bundles: list[BundleSummary]
    more_bundles: bool  # more bundles than shown (the rest by their own page)
    histogram: ScoreHistogram


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _whole(value: Any) -> int | None:
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def _text(value: Any) -> str | None:
    return str(value) if value is not None else None


def _record(run: str, data: dict[str, Any]) -> RunRecord:
    queued = _whole(data.get("queued")) or 0
    created = data.get("created_at")
    return RunRecord(
        run=run,
        created_at=created if isinstance(created, datetime) else None,
        source=str(data.get("source") or ""),
        language=str(data.get("language") or ""),
        words=_whole(data.get("words")) or queued,
        queued=queued,
        capped=_whole(data.get("capped")) or 0,
        max_videos=_whole(data.get("max_videos")),
        min_score=_number(data.get("min_score")),
        max_mappings=_whole(data.get("max_mappings")),
        max_cost_usd=_number(data.get("max_cost_usd")),
        estimate_usd=_number(data.get("estimate_usd")),
        candidate_model=_text(data.get("candidate_model")),
        final_model=_text(data.get("final_model")),
        transcription_model=_text(data.get("transcription_model")),
    )


def _summary(documents: DocumentStore, record: RunRecord) -> RunSummary:
    words = f"{RUNS}/{record.run}/words"
    searched = documents.count(words, [("status", "==", "searched")])
    failed = documents.count(words, [("status", "==", "failed")])
    return RunSummary(
        **record.model_dump(),
        searched=searched,
        failed=failed,
        waiting=max(0, record.queued - searched - failed),
    )


def recent_runs(documents: DocumentStore, limit: int = RUNS_SHOWN) -> list[RunSummary]:
    """The ``limit`` newest runs, newest first, with their words counted by status."""
    newest = documents.query(RUNS, order_by=[("created_at", "desc")], limit=limit)
    return [_summary(documents, _record(doc.id, doc.data)) for doc in newest]


def discovery_run(services: Context[DiscoverySettings], run: str) -> RunReport | None:
    """The run's record and status, or None for a run that does not exist (or an id that
    cannot be one)."""
    if not _RUN_ID.match(run):
        return None
    doc = services.documents.get(f"{RUNS}/{run}")
    if doc is None:
        return None
    return RunReport(record=_record(run, doc.data), status=run_status(services, run))


def bundle_report(documents: DocumentStore, bundle: str) -> BundleCoverage | None:
    """The bundle's coverage word by word, or None for a bundle that does not exist (or an
    id that cannot be one)."""
    if len(bundle) > _BUNDLE_LENGTH or not _BUNDLE_ID.match(bundle):
        return None
    return coverage(documents, bundle)


def _bundle_summary(found: BundleCoverage, languages: list[str]) -> BundleSummary:
    return BundleSummary(
        bundle=found.bundle,
        languages=languages,
        words=found.words,
        covered=found.covered,
        coverage=found.coverage,
        mappings=found.mappings,
        score_distribution=found.score_distribution,
        missing=len(found.uncovered),
        missing_words=found.uncovered[:MISSING_SHOWN],
    )


def bundle_summaries(
    documents: DocumentStore, limit: int = BUNDLES_SHOWN
) -> tuple[list[BundleSummary], bool]:
    """The first ``limit`` bundles by id with their coverage, and whether there are more."""
    listed = documents.query(BUNDLES, limit=limit + 1)
    summaries = []
    for doc in listed[:limit]:
        found = coverage(documents, doc.id)
        if found is not None:
            languages = [str(lang) for lang in doc.data.get("languages") or []]
            summaries.append(_bundle_summary(found, languages))
    return summaries, len(listed) > limit


def score_histogram(documents: DocumentStore) -> ScoreHistogram:
    """Every mapping by tenth of its relevance: one count query per tenth, and one of all."""
    bins = []
    for index in range(SCORE_BINS):
        low, high = index / SCORE_BINS, (index + 1) / SCORE_BINS
        last = index == SCORE_BINS - 1
        counted = documents.count(
            WORD_TO_VIDEO,
            [("relevance_score", ">=", low), ("relevance_score", "<=" if last else "<", high)],
        )
        bins.append(ScoreBin(low=low, high=high, mappings=counted))
    total = documents.count(WORD_TO_VIDEO)
    return ScoreHistogram(
        mappings=total, bins=bins, outside=max(0, total - sum(b.mappings for b in bins))
    )


def discovery_overview(services: Context[DiscoverySettings]) -> DiscoveryOverview:
    """The latest runs (the newest with its status), the bundles' coverage and the
    relevance of every mapping."""
    documents = services.documents
    runs = recent_runs(documents)
    latest = discovery_run(services, runs[0].run) if runs else None
    bundles, more = bundle_summaries(documents)
    return DiscoveryOverview(
        runs=runs,
        latest=latest,
        bundles=bundles,
        more_bundles=more,
        histogram=score_histogram(documents),
    )

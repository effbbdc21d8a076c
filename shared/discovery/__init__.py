"""Word-driven video discovery: for each word of a vocabulary list, short movie clips in
which it is spoken and taught well, found through a clip source, judged by language models,
heard by a speech-to-text model, and stored as ``videos`` and ``word_to_video`` documents
that the HTTP API (``/v3/...``) serves.

The surface is light: the settings, the store's names and the upload contract's models, and
what the web app's discovery page reads (:mod:`shared.discovery.overview`)."""

from shared.discovery.bundles import BundleCoverage, WordCoverage
from shared.discovery.overview import (
    BundleSummary,
    DiscoveryOverview,
    RunRecord,
    RunReport,
    RunSummary,
    ScoreBin,
    ScoreHistogram,
    bundle_report,
    discovery_overview,
    discovery_run,
    score_histogram,
)
from shared.discovery.settings import DiscoverySettings
from shared.discovery.status import DiscoveryStatus

__all__ = [
    "BundleCoverage",
    "BundleSummary",
    "DiscoveryOverview",
    "DiscoverySettings",
    "DiscoveryStatus",
    "RunRecord",
    "RunReport",
    "RunSummary",
    "ScoreBin",
    "ScoreHistogram",
    "WordCoverage",
    "bundle_report",
    "discovery_overview",
    "discovery_run",
    "score_histogram",
]

"""Feature extraction over whole video collections: five extractors (technical, shots,
motion, quality, text) fed by one decode per video, run as sharded tasks over a frozen
manifest, one result object per (video, extractor, version), consolidated into Parquet.

The package's surface is light (the specs, the settings, and where runs stand): decoding and
the extractors' libraries are in :mod:`shared.features.extract` and the extractor modules,
imported by what runs them."""

from shared.features.progress import (
    ExtractorProgress,
    FailureView,
    RunProgress,
    TableFile,
    TaskRow,
    TaskSet,
    list_runs,
    run_progress,
)
from shared.features.runs import Run, run_path, table_path
from shared.features.settings import FeatureSettings, Limits
from shared.features.specs import EXTRACTORS, ExtractorSpec, Needs

__all__ = [
    "EXTRACTORS",
    "ExtractorProgress",
    "ExtractorSpec",
    "FailureView",
    "FeatureSettings",
    "Limits",
    "Needs",
    "Run",
    "RunProgress",
    "TableFile",
    "TaskRow",
    "TaskSet",
    "list_runs",
    "run_path",
    "run_progress",
    "table_path",
]

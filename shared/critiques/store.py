"""Collections and documents of critique runs, and what they read from an export."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from shared.captions.messages import check_export
from shared.core.errors import NotFoundError, PermanentError
from shared.core.text import utc_now_iso
from shared.critiques import prompts as critique_prompts  # noqa: F401 (registers the prompts)
from shared.critiques.settings import CritiqueSettings
from shared.critiques.types import (
    CRITIQUE_TYPES,
    REVISION_MODEL,
    CaptionRef,
    CritiqueType,
)
from shared.platform.context import Context
from shared.ports import DocumentStore

RUNS = "critique_runs"


RESULTS = "critique_results"


OPEN_STATUSES = ("pending", "running", "deferred", "failed")  # block the consolidation


DONE_STATUSES = ("success", "skipped")


OUTPUTS = "output_critiques"
"""The folder (inside the export's) of one JSON file per generated critique."""


CONSOLIDATED = "all_videos_with_captions_and_critiques_"
"""The consolidated file's name, before its ``<timestamp>.json``."""


LEASE_MARGIN_SECONDS = 60.0  # an item's lease outlasts its job's deadline by this much


_ALL_VIDEOS = re.compile(r"all_videos_with_captions_(?P<ts>\d{8}_\d{4}(?:_\d+)?)\.json")


def runs_path(folder: str) -> str:
    """The run document of an export folder."""
    return f"{RUNS}/{folder}"


def output_name(folder: str, critique_type: str, long_name: str, video_id: str) -> str:
    """The bucket object of one critique's JSON file."""
    return f"{folder}/{OUTPUTS}/{critique_type}/{long_name}/{video_id}_critique.json"


def consolidated_name(folder: str, timestamp: str) -> str:
    """The bucket object of an export's consolidated file."""
    return f"{folder}/{CONSOLIDATED}{timestamp}.json"


def items_collection(folder: str) -> str:
    """The items of a run."""
    return f"{RUNS}/{folder}/items"


def load_export(
    services: Context[CritiqueSettings], folder: str
) -> tuple[str, list[Mapping[str, Any]]]:
    """``(timestamp, entries)`` of the export's all_videos_with_captions file; an unfinished
    export is refused before anything is read."""
    check_export(services.documents, folder)
    bucket = services.settings.exports_bucket
    names = [info.name for info in services.blobs.list(bucket, f"{folder}/")]
    for name in names:
        match = _ALL_VIDEOS.fullmatch(name.rsplit("/", 1)[-1])
        if match:
            entries = json.loads(services.blobs.read(bucket, name))
            return match["ts"], entries
    if not names:
        raise PermanentError(
            f"no export folder gs://{bucket}/{folder}/ (make one with vidcurate export; "
            "--export-folder takes the name it prints)"
        )
    raise PermanentError(
        f"gs://{bucket}/{folder}/ has no all_videos_with_captions_<ts>.json "
        "(an --only-reviewed export cannot be critiqued)"
    )


def _long_names(services: Context[CritiqueSettings], folder: str, timestamp: str) -> dict[str, str]:
    """Task long names of the export's config (its statistics say which config)."""
    name = f"{folder}/comprehensive_statistics_{timestamp}.json"
    try:
        statistics = json.loads(services.blobs.read(services.settings.exports_bucket, name))
    except NotFoundError:
        return {}
    return {
        task: str(info.get("long_name", task))
        for task, info in (statistics.get("per_task") or {}).items()
    }


def _models(services: Context[CritiqueSettings], critique: CritiqueType) -> tuple[str, str]:
    models = services.settings.critique_models
    return models.get(critique.name, critique.default_model), models.get("revision", REVISION_MODEL)


def _inputs(caption: CaptionRef, critique: CritiqueType | None = None) -> dict[str, str]:
    """What the prompts of an item read: the task, the caption it works on and the feedback.

    Every type works on the model's pre-caption (the caption the annotator's feedback is
    about; the revision revises it, as ``gpt_caption`` was made from the feedback) except
    worst-caption generation, which starts from the final, high-quality caption.
    """
    data = caption.caption_data
    final = str(data.get("final_caption") or "")
    worst = critique is not None and critique.name == "worst_caption_generation"
    return {
        "task": caption.task,
        "caption": final if worst else str(data.get("pre_caption") or final),
        "feedback": caption.original_feedback,
    }


def _now() -> str:
    return utc_now_iso("seconds")


def run_counts(services: Context[CritiqueSettings], folder: str) -> dict[str, dict[str, int]]:
    """``critique type -> status -> count``, counted by the store."""
    collection = items_collection(folder)
    counts: dict[str, dict[str, int]] = {}
    for name in CRITIQUE_TYPES:
        row = {
            status: _count(services.documents, collection, name, status)
            for status in ("pending", "running", "deferred", "success", "skipped", "failed")
        }
        if any(row.values()):
            counts[name] = row
    return counts


def _count(documents: DocumentStore, collection: str, name: str, status: str) -> int:
    return documents.count(collection, [("critique_type", "==", name), ("status", "==", status)])


def waiting_for(documents: DocumentStore, folder: str, captions: int) -> dict[str, str]:
    """The critique types that keep an export from consolidating, and why.

    An export consolidates when every type is success or skipped for each of its
    ``captions`` reviewed captions, whatever runs planned them (users launch one type per
    run, often in parallel). Counted by the store, two equality filters per count.
    """
    collection = items_collection(folder)
    missing: dict[str, str] = {}
    for name in CRITIQUE_TYPES:
        done = sum(_count(documents, collection, name, status) for status in DONE_STATUSES)
        if done >= captions:
            continue
        failed = _count(documents, collection, name, "failed")
        if failed:
            missing[name] = f"{failed} failed"
        elif done or any(_count(documents, collection, name, s) for s in OPEN_STATUSES):
            missing[name] = f"{captions - done} left"
        else:
            missing[name] = "not started"
    return missing


def run_complete(documents: DocumentStore, folder: str, run: Mapping[str, Any]) -> bool:
    """Whether every critique type is done for every reviewed caption of the export.

    Asked when nothing of the run is open (the end of a run, not per item), and stops at the
    first type that is not done.
    """
    captions = int(run.get("captions", 0))
    collection = items_collection(folder)
    return all(
        sum(_count(documents, collection, name, status) for status in DONE_STATUSES) >= captions
        for name in CRITIQUE_TYPES
    )


def skipped_record(reason: str) -> dict[str, Any]:
    """The record of an item skipped without a model call: why, and when; nothing else."""
    return {"status": "skipped", "skip_reason": reason, "timestamp": _now()}

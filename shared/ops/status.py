"""What the operators' views show (`vidcurate status`, the web app's status page): objects per
bucket, each function's subscription (pending, in flight, retrying, dead-lettered), documents
per collection, caption campaigns, exports and Hub uploads, clips, analyses and shard pulls.

Counted by the stores (count queries, bounded listings), never by reading whole collections.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict
from typing import Any

from shared.captions.progress import caption_progress
from shared.captions.store import list_exports
from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.core.errors import NotFoundError, VidcurateError
from shared.critiques.status import status_report as critique_status
from shared.critiques.store import RUNS as CRITIQUE_RUNS
from shared.critiques.store import items_collection
from shared.media.shards.store import DATASET_SHARDS
from shared.media.store import CLIPS
from shared.platform.context import Context
from shared.platform.deadletters import list_dead_letters
from shared.platform.settings import BUCKET_ROLES
from shared.ports import Subscriber
from shared.publishing.store import hub_upload_status
from shared.vision.store import ANALYSES

__all__ = ["STATUS_MAX_OBJECTS", "collect_status", "critique_runs", "video_progress"]

CRITIQUE_RUNS_SHOWN = 5
SHARDS_SHOWN = 20  # failed shards first, then those being pulled
SHARD_FIELDS = ("dataset", "shard", "status", "attempts", "clips_written", "clips_present", "error")
CRITIQUE_FAILURES_SHOWN = 5


def collect_status(services: Context[Settings], subscriber: Subscriber) -> dict[str, Any]:
    """Counts per bucket, per function subscription and per collection."""
    settings = services.settings
    # Counted up to a bound: a count reads index entries, and the ledger alone may hold
    # millions (the spend is kept beside it: see the costs page).
    documents = {
        name: services.documents.count(name, up_to=STATUS_MAX_DOCUMENTS + 1)
        for name in services.documents.collections()
    }
    return {
        "backend": settings.backend,
        "home": str(settings.home.resolve()) if settings.backend == "local" else None,
        "project": settings.project if settings.backend == "gcp" else None,
        "buckets": _bucket_status(services),
        "refused_files": _refused_files(services),
        "bus": _bus_status(services, subscriber),
        "documents": {name: min(n, STATUS_MAX_DOCUMENTS) for name, n in documents.items()},
        "documents_more": sorted(name for name, n in documents.items() if n > STATUS_MAX_DOCUMENTS),
        "captions": [asdict(p) for p in caption_progress(services.documents, settings)],
        "exports": list_exports(services.documents, limit=5),
        "hub_uploads": hub_upload_status(services.documents),
        "videos": video_progress(services),
        "critiques": critique_runs(services),
    }


STATUS_MAX_DOCUMENTS = 1_000
"""Documents counted per collection by ``status``: past this, the count says "at least" (a
count reads index entries, a Firestore read per 1,000; the status page asks every 2 s)."""

STATUS_MAX_OBJECTS = 10_000
"""Objects counted per bucket by ``status``: past this, the count says "at least" (listing a
bucket costs one read per object in either backend; a status view stays quick)."""


def _bucket_status(services: Context[Settings]) -> list[dict[str, Any]]:
    """Objects and bytes in each bucket, up to :data:`STATUS_MAX_OBJECTS` objects
    (``more``: there are more; ``missing`` for a bucket that is not there, ``unreadable``
    for one this process may not list or cannot reach now)."""
    buckets = []
    for role in BUCKET_ROLES:
        name = services.settings.bucket(role)
        objects = total = 0
        try:
            for info in itertools.islice(services.blobs.list(name), STATUS_MAX_OBJECTS + 1):
                objects += 1
                total += info.size
        except NotFoundError:
            buckets.append({"role": role, "bucket": name, "objects": "missing", "bytes": 0})
            continue
        except VidcurateError:
            # Not ours to list (the web app's account reads only its own buckets), or not
            # reachable now: said, and the rest of the report still shown.
            buckets.append({"role": role, "bucket": name, "objects": "unreadable", "bytes": 0})
            continue
        more = objects > STATUS_MAX_OBJECTS
        buckets.append(
            {
                "role": role,
                "bucket": name,
                "objects": min(objects, STATUS_MAX_OBJECTS),
                "bytes": total,
                "more": more,
            }
        )
    return buckets


def _refused_files(services: Context[Settings]) -> int:
    """Files in local bucket folders that are not objects (links, FIFOs, unusable names)."""
    refused = getattr(services.blobs, "refused_files", None)
    return len(refused()) if callable(refused) else 0


def _bus_status(services: Context[Settings], subscriber: Subscriber) -> list[dict[str, Any]]:
    """Per function: its topic, what is pending, in flight, retrying and dead-lettered."""
    stats_fn = getattr(services.bus, "stats", None)
    by_subscription = {s.subscription: s for s in stats_fn()} if callable(stats_fn) else {}
    dead = list_dead_letters(subscriber, FUNCTIONS)
    bus = []
    for spec in FUNCTIONS:
        row = by_subscription.get(spec.subscription)
        bus.append(
            {
                "function": spec.name,
                "topic": spec.source_topic(services.settings),
                "pending": row.pending if row else "n/a",
                "in_flight": row.in_flight if row else "n/a",
                "retrying": row.retrying if row else "n/a",
                "dead_lettered": sum(1 for d in dead if d.function == spec.name),
            }
        )
    return bus


def video_progress(services: Context[Settings]) -> dict[str, Any]:
    """Clips by sampling status (with the failed ones and why), frame analyses by status,
    dataset shards by status (and those failed or being pulled): counted by the store."""
    documents = services.documents
    clips = {
        status: documents.count(CLIPS, [("status", "==", status)])
        for status in ("sampling", "done", "failed", "missing")
    }
    failed = [
        {"clip": doc.data.get("name"), "error": doc.data.get("error")}
        for doc in documents.query(CLIPS, where=[("status", "==", "failed")], limit=5)
    ]
    analyses = {
        status: documents.count(ANALYSES, [("status", "==", status)])
        for status in ("running", "done", "failed")
    }
    shards = {
        status: documents.count(DATASET_SHARDS, [("status", "==", status)])
        for status in ("pulling", "done", "failed")
    }
    unfinished = [
        {key: doc.data.get(key) for key in SHARD_FIELDS}
        for status in ("failed", "pulling")
        for doc in documents.query(
            DATASET_SHARDS, where=[("status", "==", status)], limit=SHARDS_SHOWN
        )
    ]
    return {
        "clips": clips,
        "failed_clips": failed,
        "analyses": analyses,
        "shard_counts": shards,
        "shards": unfinished[:SHARDS_SHOWN],
    }


def critique_runs(services: Context[Settings]) -> list[dict[str, Any]]:
    """The latest critique runs: items by type and state, what keeps each from
    consolidating, its consolidated file, and a few failed items with their reasons."""
    documents = services.documents
    runs = []
    for run in documents.query(
        CRITIQUE_RUNS, order_by=[("planned_at", "desc")], limit=CRITIQUE_RUNS_SHOWN
    ):
        try:
            report = critique_status(services, run.id)
        except VidcurateError as exc:  # its export is gone or unfinished: said, not fatal
            runs.append({"export_folder": run.id, "error": str(exc)})
            continue
        failed = documents.query(
            items_collection(run.id),
            where=[("status", "==", "failed")],
            limit=CRITIQUE_FAILURES_SHOWN,
        )
        report["failures"] = [
            {
                "item": doc.id,
                "critique_type": doc.data.get("critique_type"),
                "error": (doc.data.get("record") or {}).get("error") or "(no reason recorded)",
            }
            for doc in failed
        ]
        report["planned_at"] = _iso(run.data.get("planned_at"))
        runs.append(report)
    return runs


def _iso(value: Any) -> str | None:
    return value.isoformat() if hasattr(value, "isoformat") else None

"""A snapshot of the system: buckets, bus and documents, for ``vidcurate status``."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from shared.captions.export import list_exports
from shared.captions.progress import caption_progress
from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.core.errors import NotFoundError
from shared.media.clips import CLIPS
from shared.media.shards.store import shard_status
from shared.platform.context import Context
from shared.platform.deadletters import list_dead_letters
from shared.platform.settings import BUCKET_ROLES
from shared.ports import Subscriber
from shared.publishing.upload import hub_upload_status
from shared.vision.store import ANALYSES


def collect_status(services: Context[Settings], subscriber: Subscriber) -> dict[str, Any]:
    """Counts per bucket, per function subscription and per collection."""
    settings = services.settings
    buckets = []
    for role in BUCKET_ROLES:
        name = settings.bucket(role)
        objects = total = 0
        try:
            for info in services.blobs.list(name):
                objects += 1
                total += info.size
        except NotFoundError:
            buckets.append({"role": role, "bucket": name, "objects": "missing", "bytes": 0})
            continue
        buckets.append({"role": role, "bucket": name, "objects": objects, "bytes": total})

    stats_fn = getattr(services.bus, "stats", None)
    by_subscription = {s.subscription: s for s in stats_fn()} if callable(stats_fn) else {}
    dead = list_dead_letters(subscriber, FUNCTIONS)
    bus = []
    for spec in FUNCTIONS:
        row = by_subscription.get(spec.subscription)
        bus.append(
            {
                "function": spec.name,
                "topic": spec.source_topic(settings),
                "pending": row.pending if row else "n/a",
                "in_flight": row.in_flight if row else "n/a",
                "retrying": row.retrying if row else "n/a",
                "dead_lettered": sum(1 for d in dead if d.function == spec.name),
            }
        )
    documents = {name: services.documents.count(name) for name in services.documents.collections()}
    return {
        "backend": settings.backend,
        "buckets": buckets,
        "bus": bus,
        "documents": documents,
        "captions": [asdict(p) for p in caption_progress(services.documents, settings)],
        "exports": list_exports(services.documents, limit=5),
        "hub_uploads": hub_upload_status(services.documents),
        "videos": video_progress(services),
    }


def video_progress(services: Context[Settings]) -> dict[str, Any]:
    """Clips by sampling status (with the failed ones and why), frame analyses by status,
    and dataset shards pulled: counted by the store."""
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
    return {
        "clips": clips,
        "failed_clips": failed,
        "analyses": analyses,
        "shards": shard_status(services)[:20],
    }

"""Task counts by status, kept beside the task documents.

Every change of a (video, task) document's status or edge-case flag adds +1/-1, with
:class:`~shared.ports.Increment`, to one of :data:`COUNT_SHARDS` documents of its config (by a
hash of the video id: no document is written faster than Firestore sustains), in the
transaction that changes it. ``vidcurate status`` and the status page then read 16 documents
per config instead of counting 100,000s of index entries.

A config's counts are used once they are known to be complete (``caption_counts/<config>``
says ``complete``): when its tasks collection is seen empty (every document after that counts
itself; checked by a status, a video list's ingestion and `vidcurate ingest`), or after
:func:`recount` (counted by queries, with ingestion stopped: a campaign ingested by a version
before the counts). Until then the counts are taken by queries.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable
from typing import Any

from shared.captions.status import Status
from shared.captions.store import tasks_collection
from shared.ports import SERVER_TIMESTAMP, DocumentStore, Increment, Transaction

__all__ = [
    "CAPTION_COUNTS",
    "COUNT_SHARDS",
    "count_change",
    "counted_tasks",
    "recount",
    "start_counting",
]

CAPTION_COUNTS = "caption_counts"
COUNT_SHARDS = 16
TaskState = tuple[str, bool]  # (status, has edge cases)


def _shard_path(config_type: str, shard: int) -> str:
    return f"{CAPTION_COUNTS}/{config_type}~{shard:02d}"


def _marker_path(config_type: str) -> str:
    return f"{CAPTION_COUNTS}/{config_type}"


def count_change(
    tx: Transaction,
    config_type: str,
    video_id: str,
    task: str,
    before: TaskState | None,
    after: TaskState,
) -> None:
    """Count a task document's change (``before`` None: it is new) in ``tx``."""
    if before == after:
        return
    changes: dict[str, Any] = {}
    if before is None or before[0] != after[0]:
        changes[after[0]] = Increment(1)
        if before is not None:
            changes[before[0]] = Increment(-1)
    edge = int(after[1]) - int(before[1] if before is not None else False)
    data: dict[str, Any] = {"config_type": config_type}
    if changes:
        data["tasks"] = {task: changes}
    if edge:
        data["edge_case_tasks"] = Increment(edge)
    shard = zlib.crc32(video_id.encode()) % COUNT_SHARDS
    tx.set(_shard_path(config_type, shard), data, merge=True)


def start_counting(documents: DocumentStore, config_type: str) -> bool:
    """Whether a config's kept counts are complete; a config whose tasks collection is
    empty now is marked so (every task document made from now on counts itself)."""
    marker = documents.get(_marker_path(config_type))
    if marker is not None and marker.data.get("complete"):
        return True
    if documents.count(tasks_collection(config_type), up_to=1):
        return False
    documents.set(
        _marker_path(config_type),
        {"complete": True, "since": SERVER_TIMESTAMP, "how": "empty"},
        merge=True,
    )
    return True


def counted_tasks(
    documents: DocumentStore, config_type: str, tasks: Iterable[str]
) -> tuple[dict[str, dict[str, int]], int] | None:
    """``(task -> status -> count, tasks with edge cases)`` from the kept counts, or None
    while they are not known to be complete (:func:`start_counting`)."""
    if not start_counting(documents, config_type):
        return None
    paths = [_shard_path(config_type, shard) for shard in range(COUNT_SHARDS)]
    counts = {task: dict.fromkeys((s.value for s in Status), 0) for task in tasks}
    edge_cases = 0
    for doc in documents.get_many(paths).values():
        edge_cases += int(doc.data.get("edge_case_tasks", 0))
        for task, per_status in (doc.data.get("tasks") or {}).items():
            if task in counts:
                for status, n in per_status.items():
                    counts[task][status] = counts[task].get(status, 0) + int(n)
    return counts, edge_cases


def recount(documents: DocumentStore, config_type: str, tasks: Iterable[str]) -> None:
    """Count a config's tasks by queries and keep the counts from now on (ingestion of the
    config stopped meanwhile: a change made during the count could be counted twice or not
    at all)."""
    collection = tasks_collection(config_type)
    counts = {
        task: {
            status.value: documents.count(
                collection, [("task", "==", task), ("status", "==", status.value)]
            )
            for status in Status
        }
        for task in tasks
    }
    edge_cases = documents.count(collection, [("has_edge_cases", "==", True)])
    with documents.batch() as batch:
        batch.set(
            _shard_path(config_type, 0),
            {"config_type": config_type, "tasks": counts, "edge_case_tasks": edge_cases},
        )
        for shard in range(1, COUNT_SHARDS):
            batch.delete(_shard_path(config_type, shard))
        batch.set(
            _marker_path(config_type),
            {"complete": True, "since": SERVER_TIMESTAMP, "how": "recount"},
        )

"""A consistent snapshot of a config type's tasks for an export."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.captions.messages import ExportRequestError
from shared.captions.settings import CaptionSettings
from shared.captions.slots import effective, task_contents
from shared.captions.status import REVIEWED, EdgeCase, Status
from shared.captions.store import (
    QUARANTINE,
    counted_lists,
    tasks_collection,
    video_sources_collection,
)
from shared.ports import DocumentStore

MAX_LISTED_PROBLEMS = 50


@dataclass
class Snapshot:
    """The dataset at one moment: entries per video plus everything statistics need."""

    config_type: str
    tasks: dict[str, str]
    entries: dict[str, dict[str, Any]]  # video_id -> export entry, in video_id order
    statuses: dict[str, dict[str, str]]  # video_id -> task -> status
    task_docs: list[dict[str, Any]]
    edge_cases: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    begun: set[str] = field(default_factory=set)  # videos with any file, valid or not

    def videos_where(self, keep: set[Status] | frozenset[Status]) -> Iterator[str]:
        """Video ids with at least one task in one of ``keep``."""
        for video_id, by_task in self.statuses.items():
            if any(Status(s) in keep for s in by_task.values()):
                yield video_id

    def not_started(self) -> Iterator[str]:
        """Video ids with no annotation work begun: no file of any task, valid or not."""
        for video_id, by_task in self.statuses.items():
            if video_id not in self.begun and all(
                s == Status.NOT_COMPLETED for s in by_task.values()
            ):
                yield video_id


def registered_videos(documents: DocumentStore, config_type: str) -> dict[str, str]:
    """``video_id -> video_url`` of every registered video (the first list by name wins).

    Only entries of the generation of each list that counts now are read as registered.
    """
    counted = {
        list_id: int(valid["generation"])
        for list_id, valid in counted_lists(documents, config_type).items()
    }
    chosen: dict[str, tuple[str, str]] = {}
    for doc in documents.iter_collection(video_sources_collection(config_type)):
        data = doc.data
        if counted.get(data["list_id"]) != data["generation"]:
            continue  # an older or newer generation still being written or pruned
        candidate = (data["list_name"], data["video_url"])
        current = chosen.get(data["video_id"])
        if current is None or candidate < current:
            chosen[data["video_id"]] = candidate
    return {video_id: chosen[video_id][1] for video_id in sorted(chosen)}


def _caption_entry(doc: Mapping[str, Any], *, with_history: bool) -> dict[str, Any]:
    """One task of a video in the export shape: status, caption_data, negative_example."""
    status = doc["status"]
    entry: dict[str, Any] = {"status": status}
    contents = task_contents(doc["files"])  # each file as written, key order included
    feedback = contents.get("feedback")
    if status != Status.NOT_COMPLETED and feedback is not None:
        caption_data = feedback
        review = contents.get("review")
        if review is not None and status in REVIEWED:
            caption_data["reviewer"] = review.get("reviewer")
            caption_data["review_timestamp"] = review.get("review_timestamp")
            caption_data["reviewer_double_check"] = review.get("reviewer_double_check")
        previous = contents.get("feedback_prev")
        if status == Status.REJECTED and previous is not None:
            caption_data["original_annotator"] = previous.get("user")
        entry["caption_data"] = caption_data
        if status == Status.REJECTED and previous is not None:
            entry["negative_example"] = previous
    if with_history:
        entry["history"] = {
            "files": [
                {k: h[k] for k in ("name", "generation", "time", "event", "state") if k in h}
                for h in doc.get("history", [])
            ],
            "transitions": list(doc.get("transitions", [])),
        }
    return entry


def _names(files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted(slot["name"] for slot in files.values() if slot["latest"]["state"] != "deleted")


def _begun(files: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any file of the task exists (valid, invalid or still empty)."""
    return any(slot["latest"]["state"] != "deleted" for slot in files.values())


def take_snapshot(
    documents: DocumentStore,
    settings: CaptionSettings,
    config_type: str,
    *,
    with_history: bool = False,
) -> Snapshot:
    """Read the registered videos, every (video, task) document and the quarantine."""
    if config_type not in settings.task_sets:
        known = ", ".join(sorted(settings.task_sets))
        raise ExportRequestError(f"unknown config type {config_type!r} (known: {known})")
    tasks = settings.task_sets[config_type]
    videos = registered_videos(documents, config_type)
    captions: dict[str, dict[str, dict[str, Any]]] = {video_id: {} for video_id in videos}
    task_docs: list[dict[str, Any]] = []
    edge_cases: list[dict[str, Any]] = []
    unregistered: dict[str, list[str]] = defaultdict(list)
    begun: set[str] = set()
    for doc in documents.iter_collection(tasks_collection(config_type)):
        data = doc.data
        task_docs.append(data)
        video_id, task = data["video_id"], data["task"]
        files = data["files"]
        counted = any(effective(slot) is not None for slot in files.values())
        edge_cases.extend(_task_edge_cases(data, config_type, tasks, counted=counted))
        if video_id not in videos:
            if counted:
                unregistered[video_id].extend(_names(files))
            continue
        if _begun(files):
            begun.add(video_id)
        if task in tasks:
            captions[video_id][task] = _caption_entry(data, with_history=with_history)
    edge_cases.extend(_unregistered_edge_cases(unregistered))
    edge_cases.sort(key=lambda e: (e["code"], e["video_id"], e["task"] or ""))
    entries, statuses = _entries(videos, captions, tasks)
    quarantined = _quarantined(documents, config_type, settings)
    return Snapshot(
        config_type, dict(tasks), entries, statuses, task_docs, edge_cases, quarantined, begun
    )


def _task_edge_cases(
    data: Mapping[str, Any], config_type: str, tasks: Mapping[str, str], *, counted: bool
) -> list[dict[str, Any]]:
    """The edge cases of one (video, task) document, with the file names they concern."""
    video_id, task = data["video_id"], data["task"]
    files = data["files"]
    edge_cases = [
        {**edge, "video_id": video_id, "task": task, "files": _names(files)}
        for edge in data["edge_cases"]
    ]
    if task not in tasks and counted:
        # Judged against today's configuration, not the one the files arrived under.
        edge_cases.append(
            {
                "code": EdgeCase.TASK_NOT_IN_CONFIG.value,
                "reason": f"task {task!r} is not in config {config_type!r}",
                "video_id": video_id,
                "task": task,
                "files": _names(files),
            }
        )
    return edge_cases


def _unregistered_edge_cases(unregistered: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """One edge case per unregistered video that has counted files, in video_id order."""
    return [
        {
            "code": EdgeCase.VIDEO_NOT_REGISTERED.value,
            "reason": "annotation files for a video_id that no videos/*.jsonl lists",
            "video_id": video_id,
            "task": None,
            "files": sorted(names),
        }
        for video_id, names in sorted(unregistered.items())
    ]


def _entries(
    videos: Mapping[str, str],
    captions: Mapping[str, Mapping[str, dict[str, Any]]],
    tasks: Mapping[str, str],
) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, str]]]:
    """Export entries and statuses per registered video; a task without a document is
    not completed."""
    entries: dict[str, dict[str, Any]] = {}
    statuses: dict[str, dict[str, str]] = {}
    not_completed = {"status": Status.NOT_COMPLETED.value}
    for video_id, url in videos.items():
        by_task = captions[video_id]
        ordered = {task: by_task.get(task, not_completed) for task in tasks}
        entries[video_id] = {"video_id": video_id, "video_url": url, "captions": ordered}
        statuses[video_id] = {task: entry["status"] for task, entry in ordered.items()}
    return entries, statuses


def _quarantined(
    documents: DocumentStore, config_type: str, settings: CaptionSettings
) -> list[dict[str, Any]]:
    """The quarantined files that concern this config, by name."""
    return sorted(
        (
            {k: doc.data.get(k) for k in ("name", "generation", "error", "time")}
            for doc in documents.iter_collection(QUARANTINE)
            if _concerns(doc.data["name"], config_type, settings)
        ),
        key=lambda q: str(q["name"]),
    )


def _concerns(name: str, config_type: str, settings: CaptionSettings) -> bool:
    """Whether a quarantined file belongs to this config (or to no configured one)."""
    first = name.split("/", 1)[0]
    return first == config_type or first not in settings.task_sets


def blocking_problems(snapshot: Snapshot) -> list[str]:
    """Edge cases and quarantined files, one line each, as a strict export reports them."""
    lines = [
        f"{e['code']}: video {e['video_id']}"
        + (f" task {e['task']}" if e["task"] else "")
        + f" — {e['reason']} ({', '.join(e['files'])})"
        for e in snapshot.edge_cases
    ]
    lines += [f"quarantined: {q['name']} — {q['error']}" for q in snapshot.quarantined]
    return lines

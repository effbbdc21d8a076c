"""Per-task progress of a campaign: the counts kept beside the tasks (shared/captions/
counts.py), or count queries until those are known complete."""

from __future__ import annotations

from dataclasses import dataclass

from shared.captions.counts import counted_tasks
from shared.captions.settings import CaptionSettings
from shared.captions.status import Status
from shared.captions.store import QUARANTINE, counted_lists, tasks_collection
from shared.ports import DocumentStore


@dataclass(frozen=True)
class CaptionProgress:
    """Per task status counts of one config."""

    config_type: str
    registered_videos: int
    tasks: dict[str, dict[str, int]]
    edge_case_tasks: int
    quarantined_files: int


def caption_progress(documents: DocumentStore, settings: CaptionSettings) -> list[CaptionProgress]:
    """Counts for ``vidcurate status``; not_completed = registered videos minus the rest.

    ``registered_videos`` adds up the lists, so a video listed in two files counts twice
    here, and tasks of unregistered videos count too (exports deduplicate and leave those
    out): this is a progress view, the export is the record.
    """
    report = []
    for config_type, tasks in settings.task_sets.items():
        collection = tasks_collection(config_type)
        registered = sum(int(v["videos"]) for v in counted_lists(documents, config_type).values())
        kept = counted_tasks(documents, config_type, tasks)
        per_task: dict[str, dict[str, int]] = {}
        for task in tasks:
            counts = {
                status.value: kept[0][task].get(status.value, 0)
                if kept is not None
                else documents.count(
                    collection, [("task", "==", task), ("status", "==", status.value)]
                )
                for status in Status
                if status is not Status.NOT_COMPLETED
            }
            counts = {
                Status.NOT_COMPLETED.value: max(registered - sum(counts.values()), 0),
                **counts,
            }
            per_task[task] = counts
        report.append(
            CaptionProgress(
                config_type=config_type,
                registered_videos=registered,
                tasks=per_task,
                edge_case_tasks=kept[1]
                if kept is not None
                else documents.count(collection, [("has_edge_cases", "==", True)]),
                quarantined_files=documents.count(QUARANTINE, [("config_type", "==", config_type)]),
            )
        )
    return report

"""The comprehensive statistics of an export."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.captions.snapshot import Snapshot
from shared.captions.status import REVIEWED, STATUSES, Status

RATING_FIELDS = ("initial_caption_rating_score", "feedback_rating_score", "caption_rating_score")


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def compute_statistics(snapshot: Snapshot, timestamp: str, generated_at: str) -> dict[str, Any]:
    """Counts and rates per task, per annotator and reviewer; edge cases; totals."""
    tasks = snapshot.tasks
    total_videos = len(snapshot.entries)
    counts: dict[str, Counter[str]] = {task: Counter() for task in tasks}
    for by_task in snapshot.statuses.values():
        for task, status in by_task.items():
            counts[task][status] += 1
    tallies = _Tallies.of(snapshot)
    per_task = {
        task: _task_statistics(task, long_name, counts[task], total_videos, tallies)
        for task, long_name in tasks.items()
    }
    return {
        "export_timestamp": timestamp,
        "generated_at": generated_at,
        "config_type": snapshot.config_type,
        "tasks": list(tasks),
        "totals": _totals(snapshot, counts),
        "per_task": per_task,
        "annotators": _people(tallies.annotators, "tasks"),
        "reviewers": _people(tallies.reviewers, "reviews"),
        "edge_case_counts": dict(sorted(Counter(e["code"] for e in snapshot.edge_cases).items())),
        "edge_cases": snapshot.edge_cases,
        "quarantined": snapshot.quarantined,
    }


@dataclass
class _Tallies:
    """What the exported captions say: ratings and workflows per task, work per person."""

    ratings: dict[str, dict[str, Counter[str]]]
    workflows: dict[str, Counter[str]]
    annotators: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    reviewers: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))

    @classmethod
    def of(cls, snapshot: Snapshot) -> _Tallies:
        """Count every task of every entry that has caption data."""
        tallies = cls(
            ratings={task: {name: Counter() for name in RATING_FIELDS} for task in snapshot.tasks},
            workflows={task: Counter() for task in snapshot.tasks},
        )
        for entry in snapshot.entries.values():
            for task, caption in entry["captions"].items():
                data = caption.get("caption_data")
                if data is not None:
                    tallies.add(task, caption["status"], data)
        return tallies

    def add(self, task: str, status: str, data: Mapping[str, Any]) -> None:
        """Count one task's caption data."""
        for name in RATING_FIELDS:
            if data.get(name) is not None:
                self.ratings[task][name][str(data[name])] += 1
        self.workflows[task][str(data.get("workflow_type"))] += 1
        annotator = data.get("original_annotator") or data.get("user")
        self.annotators[str(annotator)]["tasks"] += 1
        if status == Status.COMPLETED_NOT_REVIEWED:
            self.annotators[str(annotator)]["pending_review"] += 1
        else:
            self.annotators[str(annotator)][status] += 1
            reviewer = str(data.get("reviewer"))
            self.reviewers[reviewer]["reviews"] += 1
            self.reviewers[reviewer][status] += 1


def _task_statistics(
    task: str, long_name: str, c: Counter[str], total_videos: int, tallies: _Tallies
) -> dict[str, Any]:
    """Counts, rates and distributions of one task."""
    completed = total_videos - c[Status.NOT_COMPLETED]
    reviewed = c[Status.APPROVED] + c[Status.REJECTED]
    return {
        "long_name": long_name,
        "status_counts": {status.value: c[status] for status in STATUSES},
        "completed": completed,
        "reviewed": reviewed,
        "completion_rate": _rate(completed, total_videos),
        "review_rate": _rate(reviewed, completed),
        "approval_rate": _rate(c[Status.APPROVED], reviewed),
        "rating_distributions": {
            name: dict(sorted(dist.items())) for name, dist in tallies.ratings[task].items()
        },
        "workflow_types": dict(sorted(tallies.workflows[task].items())),
    }


def _people(table: Mapping[str, Counter[str]], total_key: str) -> dict[str, Any]:
    """Per annotator (``total_key`` "tasks") or reviewer ("reviews"): work and approvals."""
    out: dict[str, Any] = {}
    for person in sorted(table):
        row = table[person]
        decided = row[Status.APPROVED] + row[Status.REJECTED]
        out[person] = {
            total_key: row[total_key],
            "approved": row[Status.APPROVED],
            "rejected": row[Status.REJECTED],
            **({"pending_review": row["pending_review"]} if total_key == "tasks" else {}),
            "approval_rate": _rate(row[Status.APPROVED], decided),
        }
    return out


def _totals(snapshot: Snapshot, counts: Mapping[str, Counter[str]]) -> dict[str, Any]:
    """Dataset-wide counts."""
    tasks = snapshot.tasks
    total_videos = len(snapshot.entries)
    return {
        "videos": total_videos,
        "videos_with_any_completed_task": sum(
            1 for _ in snapshot.videos_where(set(STATUSES) - {Status.NOT_COMPLETED})
        ),
        "videos_with_any_reviewed_task": sum(1 for _ in snapshot.videos_where(REVIEWED)),
        "videos_not_started": sum(1 for _ in snapshot.not_started()),
        "tasks_total": total_videos * len(tasks),
        "status_counts": {s.value: sum(counts[t][s] for t in tasks) for s in STATUSES},
        "edge_cases": len(snapshot.edge_cases),
        "quarantined_files": len(snapshot.quarantined),
    }


def export_timestamp(moment: datetime) -> str:
    """``YYYYMMDD_HHMM`` in UTC, the folder and file suffix of an export."""
    return moment.astimezone(UTC).strftime("%Y%m%d_%H%M")

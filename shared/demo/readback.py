"""Read a sample campaign's files back the way the system will, and check them against the plan.

The generator's summary comes from here: statuses and edge cases derived by
:func:`shared.captions.derive_status` from the valid files actually written, so that the
summary and the folder cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from shared.captions import (
    EdgeCase,
    InvalidFileError,
    Status,
    TaskFileName,
    derive_status,
    parse_object_name,
    parse_task_file,
    parse_video_list,
)
from shared.demo.writer import _Slot, _Writer

# Any valid config type works here: the name only has to pass parse_object_name.
_CHECK_CONFIG = "default"


# What the generator writes for one (video, task): a status, or an edge-case code.
_PLAIN = {status.value for status in Status}


_EDGE_STATUS = {
    EdgeCase.REVIEW_WITHOUT_FEEDBACK: Status.NOT_COMPLETED,
    EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV: Status.REJECTED,
    EdgeCase.FEEDBACK_PREV_IDENTICAL: Status.REJECTED,
    EdgeCase.APPROVED_WITH_FEEDBACK_PREV: Status.APPROVED,
    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW: Status.COMPLETED_NOT_REVIEWED,
    EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK: Status.NOT_COMPLETED,
}


def _derive(
    files: Mapping[str, bytes], tasks: Sequence[str]
) -> tuple[
    set[str],
    dict[tuple[str, str], str],
    dict[tuple[str, str], str],
    list[tuple[str, str, str]],
    list[str],
]:
    """Read the written files back like the system will: registered videos, statuses, edges.

    Returns ``(registered, statuses, other_statuses, edge_cases, invalid)``;
    statuses cover only (video, task) pairs that have a valid file.
    """
    registered: dict[str, str] = {}
    grouped: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}
    invalid: list[str] = []
    for rel in sorted(files):
        name = f"{_CHECK_CONFIG}/{rel}"
        try:
            parsed = parse_object_name(name)
            if isinstance(parsed, TaskFileName):
                content = parse_task_file(name, parsed.kind, files[rel])
                grouped.setdefault((parsed.video_id, parsed.task), {})[parsed.kind] = content
            else:
                registered.update(parse_video_list(name, files[rel]))
        except InvalidFileError:
            invalid.append(rel)
    statuses: dict[tuple[str, str], str] = {}
    others: dict[tuple[str, str], str] = {}
    edges: list[tuple[str, str, str]] = []
    for (video_id, task), present in grouped.items():
        derived = derive_status(present)
        edges.extend((code.value, task, video_id) for code, _why in derived.edge_cases)
        if task not in tasks:
            edges.append((EdgeCase.TASK_NOT_IN_CONFIG.value, task, video_id))
        if video_id not in registered:
            edges.append((EdgeCase.VIDEO_NOT_REGISTERED.value, task, video_id))
        if video_id in registered and task in tasks:
            statuses[video_id, task] = derived.status.value
        else:
            others[video_id, task] = derived.status.value
    return set(registered), statuses, others, sorted(edges), invalid


def _checked_statuses(
    writer: _Writer,
    plans: Mapping[tuple[str, str], _Slot],
    video_ids: Sequence[str],
    task_names: Sequence[str],
    intended_edges: Sequence[tuple[str, str, str]],
) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], str], list[tuple[str, str, str]]]:
    """Read the files back the way the system will; RuntimeError if they differ from the plan.

    Returns ``(statuses, other_statuses, edge_cases)``.
    """
    registered, found, others, edges, invalid = _derive(writer.files, task_names)
    if registered != set(video_ids):
        raise RuntimeError("campaign generator: the video lists do not register every video")
    if sorted(invalid) != sorted(rel for rel, _why in writer.bad):
        raise RuntimeError(f"campaign generator: unexpected invalid files {invalid}")
    expected_edges = list(intended_edges)
    statuses: dict[tuple[str, str], str] = {}
    for video_id in video_ids:
        for task in task_names:
            plan = plans[video_id, task].plan
            expected = plan if plan in _PLAIN else _EDGE_STATUS[EdgeCase(plan)].value
            got = found.get((video_id, task), Status.NOT_COMPLETED.value)
            if got != expected:
                raise RuntimeError(f"campaign generator: {task}/{video_id} is {got}, not {plan}")
            statuses[video_id, task] = got
            if plan not in _PLAIN:
                expected_edges.append((plan, task, video_id))
    if sorted(expected_edges) != edges:
        raise RuntimeError("campaign generator: edge cases written differ from the plan")
    return statuses, dict(sorted(others.items())), edges

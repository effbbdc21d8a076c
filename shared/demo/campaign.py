"""Generate a realistic sample caption-annotation campaign folder, deterministically.

The folder has the layout annotation tools drop (see ``shared/captions/layout.py``), without
the config type: upload ``DIR/<rel>`` as ``<config_type>/<rel>``::

    videos/batch_01.jsonl, videos/batch_02.jsonl   {"video_id", "video_url"} per line
    <task>/<video_id>_feedback.json                annotator's (or reviewer's) workflow
    <task>/<video_id>_feedback_prev.json           annotator's version after a rejection
    <task>/<video_id>_review.json                  reviewer's decision

Every status appears in every task, with realistic proportions; a share of the videos is
never touched; one "mixed" video has a different state in each task; every edge case of
:class:`shared.captions.EdgeCase` appears a few times; and, on request, a few broken
files that the system must quarantine. Text comes from small vocabularies and
``random.Random(seed)``: no model is called, and one seed always gives the same bytes.

The :class:`CampaignSummary` says what to expect once the folder is ingested. Its statuses and
edge cases are computed by :func:`shared.captions.derive_status` on the valid files
actually written (invalid files counted as absent), and checked against what the generator
meant to produce, so the two cannot drift apart.

This module plans the campaign; :mod:`shared.demo.annotations` drafts the files' contents,
:mod:`shared.demo.writer` writes the files of each (video, task) and
:mod:`shared.demo.readback` reads them back to check the plan.
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from shared.captions import STATUSES, EdgeCase, Status
from shared.captions.settings import CaptionSettings
from shared.demo.readback import _checked_statuses
from shared.demo.vocabulary import _SPECS, _spec_for
from shared.demo.writer import _Slot, _Writer

VIDEO_URL_PREFIX = "https://storage.googleapis.com/vidcurate-sample/videos/"


VIDEO_LISTS = ("videos/batch_01.jsonl", "videos/batch_02.jsonl")


MIN_VIDEOS = 20


MIXED_VIDEO_INDEX = 17


EDGE_CASES_PER_CODE = 3


EXTRA_TASK_CANDIDATES = ("lighting", "color_grading", "audio_ambience")


CAMPAIGN_START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


_UNTOUCHED_SHARE = 0.12


# Weights of (not_completed, completed_not_reviewed, approved, rejected) for a touched video,
# by position of the task in the task set (so custom task sets vary too).
_STATUS_WEIGHTS: tuple[tuple[float, float, float, float], ...] = (
    (0.03, 0.25, 0.57, 0.15),
    (0.04, 0.28, 0.52, 0.16),
    (0.05, 0.27, 0.48, 0.20),
    (0.04, 0.30, 0.50, 0.16),
    (0.06, 0.32, 0.44, 0.18),
)


@dataclass(frozen=True)
class CampaignSummary:
    """What a generated campaign folder holds, and what ingesting it must produce.

    ``statuses`` covers every registered video and configured task; ``other_statuses`` the
    (video, task) pairs outside that grid (a task not in the config, a video not registered).
    Invalid files count as absent. ``edge_cases`` are ``(code, task, video_id)`` with the codes
    of :class:`shared.captions.EdgeCase`, sorted. ``bad_files`` are ``(relative path,
    why)``; ``files`` are all relative paths written (posix, sorted).
    """

    out_dir: Path
    seed: int
    videos: int
    video_ids: list[str]
    tasks: list[str]
    annotators: list[str]
    reviewer: str
    untouched_videos: list[str]
    mixed_video: str
    unregistered_videos: list[str]
    extra_task: str
    status_counts: dict[str, dict[str, int]]
    statuses: dict[tuple[str, str], str]
    other_statuses: dict[tuple[str, str], str]
    edge_cases: list[tuple[str, str, str]]
    bad_files: list[tuple[str, str]]
    files: list[str]
    files_written: int


_EDGE_PLANS = (
    EdgeCase.REVIEW_WITHOUT_FEEDBACK,
    EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV,
    EdgeCase.FEEDBACK_PREV_IDENTICAL,
    EdgeCase.APPROVED_WITH_FEEDBACK_PREV,
    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW,
    EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK,
)


# Bad files: (kind, defect, why, status of the slot once the bad file is ignored)
_BAD_FILES = (
    ("feedback", "truncated", "not valid JSON: truncated upload", Status.NOT_COMPLETED),
    (
        "feedback",
        "score_7",
        "fails validation: initial_caption_rating_score is 7 (allowed 1-5)",
        Status.NOT_COMPLETED,
    ),
    (
        "feedback",
        "no_final_caption",
        "fails validation: final_caption is missing",
        Status.NOT_COMPLETED,
    ),
    (
        "review",
        "string_bool",
        'fails validation: reviewer_double_check is the string "yes"',
        Status.COMPLETED_NOT_REVIEWED,
    ),
)


def _plan(
    rng: random.Random,
    video_ids: Sequence[str],
    tasks: Sequence[str],
    annotators: Sequence[str],
    mixed: str,
) -> tuple[list[str], dict[tuple[str, str], _Slot]]:
    """Untouched videos and the plan of every (registered video, configured task)."""
    candidates = [v for v in video_ids if v != mixed]
    untouched = sorted(rng.sample(candidates, max(1, round(len(video_ids) * _UNTOUCHED_SHARE))))
    slots, free = _draw_statuses(rng, video_ids, tasks, annotators, set(untouched), mixed)
    # the mixed video: a different state in each task, both annotators, one reviewer
    mixed_plans = [
        Status.APPROVED.value,
        Status.REJECTED.value,
        Status.COMPLETED_NOT_REVIEWED.value,
        Status.NOT_COMPLETED.value,
        EdgeCase.REVIEW_WITHOUT_FEEDBACK.value,
    ]
    for index, task in enumerate(tasks[: len(mixed_plans)]):
        slots[mixed, task] = _Slot(mixed_plans[index], annotators[index % len(annotators)])
    for task in tasks:
        rng.shuffle(free[task])
    _plan_special_cases(slots, free, video_ids, tasks)
    return untouched, slots


def _draw_statuses(
    rng: random.Random,
    video_ids: Sequence[str],
    tasks: Sequence[str],
    annotators: Sequence[str],
    untouched: set[str],
    mixed: str,
) -> tuple[dict[tuple[str, str], _Slot], dict[str, list[str]]]:
    """A drawn status and annotator per (video, task), and per task the touched videos
    (the mixed one aside) free to take an edge case or a bad file later."""
    slots: dict[tuple[str, str], _Slot] = {}
    free: dict[str, list[str]] = {task: [] for task in tasks}
    for video_id in video_ids:
        main = rng.choice(annotators)
        for index, task in enumerate(tasks):
            annotator = main
            if len(annotators) > 1 and rng.random() < 0.15:
                annotator = rng.choice([a for a in annotators if a != main])
            if video_id in untouched:
                slots[video_id, task] = _Slot(Status.NOT_COMPLETED.value, annotator)
                continue
            weights = _STATUS_WEIGHTS[index % len(_STATUS_WEIGHTS)]
            status = rng.choices([s.value for s in STATUSES], weights)[0]
            slots[video_id, task] = _Slot(status, annotator)
            if video_id != mixed:
                free[task].append(video_id)
    return slots, free


def _plan_special_cases(
    slots: Mapping[tuple[str, str], _Slot],
    free: Mapping[str, list[str]],
    video_ids: Sequence[str],
    tasks: Sequence[str],
) -> None:
    """Give free slots the edge cases, the bad files and any status a task still lacks."""

    def take(task: str) -> _Slot:
        if not free[task]:
            raise ValueError(
                f"{len(video_ids)} videos are too few for the edge cases of {len(tasks)} task(s)"
            )
        return slots[free[task].pop(), task]

    for number, code in enumerate(
        [code for code in _EDGE_PLANS for _ in range(EDGE_CASES_PER_CODE)]
    ):
        take(tasks[number % len(tasks)]).plan = code.value
    for number, (_kind, defect, _why, status) in enumerate(_BAD_FILES):
        slot = take(tasks[(number + 1) % len(tasks)])
        slot.plan, slot.bad = status.value, defect
    # every status in every task, whatever the draw
    for task in tasks:
        present = {slots[v, task].plan for v in video_ids}
        for status in STATUSES:
            if status.value not in present:
                take(task).plan = status.value


def _default_tasks() -> dict[str, str]:
    return dict(CaptionSettings().task_sets["default"])


def _check_arguments(
    videos: int,
    tasks: Mapping[str, str] | None,
    annotators: Sequence[str],
    reviewer: str,
    out_dir: Path,
) -> list[str]:
    """The task names to generate, or ValueError/FileExistsError before anything is written."""
    if videos < MIN_VIDEOS:
        raise ValueError(f"videos must be at least {MIN_VIDEOS}, got {videos}")
    if not annotators or any(not a.strip() for a in annotators) or not reviewer.strip():
        raise ValueError("need at least one annotator and a reviewer, with non-blank names")
    if reviewer in annotators:
        raise ValueError(f"the reviewer {reviewer!r} must not also be an annotator")
    task_names = list(tasks if tasks is not None else _default_tasks())
    if not task_names:
        raise ValueError("no tasks")
    if out_dir.exists() and any(out_dir.iterdir()):
        raise FileExistsError(f"{out_dir} is not empty; the campaign needs an empty folder")
    return task_names


def _video_lists(video_ids: Sequence[str]) -> dict[str, bytes]:
    """The two ``videos/*.jsonl`` files, each video in exactly one of them."""
    half = math.ceil(len(video_ids) / 2)
    chunks = (video_ids[:half], video_ids[half:])
    return {
        rel: "".join(
            json.dumps({"video_id": v, "video_url": f"{VIDEO_URL_PREFIX}{v}.mp4"}) + "\n"
            for v in chunk
        ).encode("utf-8")
        for rel, chunk in zip(VIDEO_LISTS, chunks, strict=True)
    }


def _write_outside_grid(
    rng: random.Random,
    writer: _Writer,
    touched: Sequence[str],
    task_names: Sequence[str],
    extra_task: str,
    annotators: Sequence[str],
    unregistered: Sequence[str],
) -> list[tuple[str, str, str]]:
    """Valid files for a task not in the config and for videos in no list; their edge cases."""
    edges: list[tuple[str, str, str]] = []
    extra_plans = (Status.APPROVED, Status.COMPLETED_NOT_REVIEWED, Status.REJECTED)
    for video_id, status in zip(rng.sample(touched, len(extra_plans)), extra_plans, strict=True):
        slot = _Slot(status.value, rng.choice(annotators))
        writer.slot(video_id, extra_task, _SPECS["lighting"], slot, None)
        edges.append((EdgeCase.TASK_NOT_IN_CONFIG.value, extra_task, video_id))
    # videos uploaded before (or without) being registered in a list
    late = [
        (unregistered[0], task_names[0], Status.APPROVED),
        (unregistered[1], task_names[-1], Status.COMPLETED_NOT_REVIEWED),
    ]
    if len(task_names) > 1:
        late.append((unregistered[1], task_names[0], Status.COMPLETED_NOT_REVIEWED))
    for video_id, task, status in late:
        slot = _Slot(status.value, rng.choice(annotators))
        writer.slot(video_id, task, _spec_for(task, task_names.index(task)), slot, None)
        edges.append((EdgeCase.VIDEO_NOT_REGISTERED.value, task, video_id))
    return edges


def generate_campaign(
    out_dir: Path,
    *,
    videos: int = 240,
    seed: int = 7,
    tasks: Mapping[str, str] | None = None,
    annotators: Sequence[str] = ("alice", "bob"),
    reviewer: str = "rita",
    include_bad_files: bool = True,
) -> CampaignSummary:
    """Write a sample campaign folder under ``out_dir`` and say what ingesting it must give.

    ``tasks`` is ``{task: long name}`` (default: the ``default`` task set of the settings).
    ``out_dir`` is created if needed and must be empty, so that no stale file from another
    seed ends up uploaded with this campaign. Nothing is written if an argument is refused.
    Same arguments, same bytes.
    """
    task_names = _check_arguments(videos, tasks, annotators, reviewer, out_dir)
    annotator_names = list(annotators)
    extra_task = next(t for t in EXTRA_TASK_CANDIDATES if t not in task_names)
    rng = random.Random(seed)  # noqa: S311 (sample data, not secrets)
    video_ids = [f"vid_{number:05d}" for number in range(1, videos + 1)]
    mixed = video_ids[MIXED_VIDEO_INDEX - 1]
    untouched, plans = _plan(rng, video_ids, task_names, annotator_names, mixed)
    writer = _Writer(seed, reviewer, CAMPAIGN_START)
    writer.files.update(_video_lists(video_ids))
    _write_grid(writer, plans, video_ids, task_names, include_bad_files=include_bad_files)
    untouched_set = set(untouched)
    touched = [v for v in video_ids if v not in untouched_set and v != mixed]
    unregistered = [f"vid_{videos + number:05d}" for number in (1, 2)]
    intended_edges = _write_outside_grid(
        rng, writer, touched, task_names, extra_task, annotator_names, unregistered
    )
    statuses, others, edges = _checked_statuses(
        writer, plans, video_ids, task_names, intended_edges
    )
    _save(out_dir, writer.files)
    return CampaignSummary(
        out_dir=out_dir,
        seed=seed,
        videos=videos,
        video_ids=video_ids,
        tasks=task_names,
        annotators=annotator_names,
        reviewer=reviewer,
        untouched_videos=untouched,
        mixed_video=mixed,
        unregistered_videos=unregistered,
        extra_task=extra_task,
        status_counts=_status_counts(statuses, video_ids, task_names),
        statuses=statuses,
        other_statuses=others,
        edge_cases=edges,
        bad_files=sorted(writer.bad),
        files=sorted(writer.files),
        files_written=len(writer.files),
    )


def _write_grid(
    writer: _Writer,
    plans: Mapping[tuple[str, str], _Slot],
    video_ids: Sequence[str],
    task_names: Sequence[str],
    *,
    include_bad_files: bool,
) -> None:
    """The files of every (registered video, configured task), as planned."""
    bad_by_defect = {defect: (defect, why) for _k, defect, why, _s in _BAD_FILES}
    for video_id in video_ids:
        for index, task in enumerate(task_names):
            slot = plans[video_id, task]
            bad = None
            if slot.bad is not None and include_bad_files:
                bad = bad_by_defect[slot.bad]
            writer.slot(video_id, task, _spec_for(task, index), slot, bad)


def _save(out_dir: Path, files: Mapping[str, bytes]) -> None:
    """Write the files under ``out_dir``, created if needed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for rel in sorted(files):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(files[rel])


def _status_counts(
    statuses: Mapping[tuple[str, str], str], video_ids: Sequence[str], task_names: Sequence[str]
) -> dict[str, dict[str, int]]:
    """Per task, how many registered videos have each status."""
    return {
        task: {
            status.value: sum(1 for v in video_ids if statuses[v, task] == status.value)
            for status in STATUSES
        }
        for task in task_names
    }

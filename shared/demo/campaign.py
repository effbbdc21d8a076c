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
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from shared.captions import (
    STATUSES,
    EdgeCase,
    InvalidFileError,
    Status,
    TaskFileName,
    derive_status,
    parse_object_name,
    parse_task_file,
    parse_video_list,
)
from shared.captions.settings import CaptionSettings
from shared.demo.vocabulary import (
    _ADD_NOTES,
    _OMIT_NOTES,
    _REVIEW_COMMENTS,
    _SPECS,
    _STYLE_NOTES,
    _SWAP_NOTES,
    Mistake,
    _cap,
    _clip_slots,
    _spec_for,
    _TaskSpec,
)

VIDEO_URL_PREFIX = "https://storage.googleapis.com/vidcurate-sample/videos/"


VIDEO_LISTS = ("videos/batch_01.jsonl", "videos/batch_02.jsonl")


MIN_VIDEOS = 20


MIXED_VIDEO_INDEX = 17


EDGE_CASES_PER_CODE = 3


EXTRA_TASK_CANDIDATES = ("lighting", "color_grading", "audio_ambience")


CAMPAIGN_START = datetime(2025, 3, 3, 8, 0, tzinfo=UTC)


# Any valid config type works here: the name only has to pass parse_object_name.
_CHECK_CONFIG = "default"


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


_PRE_CAPTION_LLMS = ("gpt-4o", "gemini-2.5-pro", "claude-3-7-sonnet", "qwen2.5-vl-72b")


_GPT_FEEDBACK_LLMS = ("gpt-4o", "gpt-4.1")


_GPT_CAPTION_LLMS = ("gpt-4o", "gpt-4.1", "gemini-2.5-pro")


_MODES = ("Video", "Image", "Text")


_MODE_WEIGHTS = (0.6, 0.3, 0.1)


_TOOL_VERSIONS = ("2.3.1", "2.4.0")


_UNKNOWN_FIELD_SHARE = 0.1


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


def _caption(spec: _TaskSpec, slots: Mapping[str, str], mistakes: Sequence[Mistake]) -> str:
    """The caption of a clip with some mistakes applied (none: the true caption)."""
    values = dict(slots)
    omitted: set[str] = set()
    extra: str | None = None
    for kind, key, value in mistakes:
        if kind == "swap":
            values[key] = value
        elif kind == "omit":
            omitted.add(key)
        else:
            extra = value
    return spec.render(values, frozenset(omitted), extra)


def _mistakes(
    rng: random.Random, spec: _TaskSpec, slots: Mapping[str, str], count: int
) -> list[Mistake]:
    """``count`` distinct plausible model mistakes about this clip."""
    candidates: list[Mistake] = []
    for slot, vocabulary in spec.swappable.items():
        wrong = rng.choice([v for v in vocabulary if v != slots[slot]])
        candidates.append(("swap", slot, wrong))
    candidates.extend(("omit", slot, "") for slot in spec.omittable)
    sentence, label = rng.choice(spec.hallucinations)
    short = slots["short"]
    candidates.append(("add", label, sentence.format(short=short, Short=_cap(short))))
    return rng.sample(candidates, min(count, len(candidates)))


def _informal_note(
    rng: random.Random, spec: _TaskSpec, slots: Mapping[str, str], m: Mistake
) -> str:
    kind, key, value = m
    if kind == "swap":
        note = rng.choice(_SWAP_NOTES)
        return note.format(label=spec.labels[key], true=slots[key], wrong=value)
    if kind == "omit":
        return rng.choice(_OMIT_NOTES).format(detail=slots[key])
    return rng.choice(_ADD_NOTES).format(label=key)


def _formal_note(spec: _TaskSpec, slots: Mapping[str, str], m: Mistake) -> str:
    kind, key, value = m
    if kind == "swap":
        return (
            f'The caption describes the {spec.labels[key]} as "{value}", but it is actually '
            f'"{slots[key]}".'
        )
    if kind == "omit":
        return f"The caption leaves out a relevant detail; it should mention: {slots[key]}."
    return f"The caption mentions a {key}, which does not appear in the video; remove it."


def _score_for(rng: random.Random, mistakes: int) -> int:
    """How an attentive rater scores a caption with this many mistakes."""
    if mistakes == 0:
        return rng.choices((5, 4), (0.85, 0.15))[0]
    best = max(5 - mistakes, 1)
    return rng.choice((best, max(best - 1, 1)))


def _pre_caption(
    rng: random.Random, spec: _TaskSpec, slots: Mapping[str, str], mistakes: Sequence[Mistake]
) -> dict[str, Any]:
    """Stage 1 fields that do not depend on who rates the caption."""
    mode = rng.choices(_MODES, _MODE_WEIGHTS)[0]
    prompt = {
        "Video": f"Watch the video and describe the {spec.focus} in one or two sentences.",
        "Image": (
            f"Look at these keyframes from a video and describe the {spec.focus} in one or "
            "two sentences."
        ),
        "Text": (
            "Based on the video's title and description, write a one or two sentence caption "
            f"about the {spec.focus}."
        ),
    }[mode]
    return {
        "pre_caption": _caption(spec, slots, mistakes),
        "pre_caption_prompt": prompt,
        "pre_caption_llm": rng.choice(_PRE_CAPTION_LLMS),
        "pre_caption_mode": mode,
    }


def _workflow(
    rng: random.Random,
    spec: _TaskSpec,
    slots: Mapping[str, str],
    *,
    pre: Mapping[str, Any],
    pre_mistakes: Sequence[Mistake],
    missed: Sequence[Mistake],
    score: int,
    user: str,
    timestamp: datetime,
) -> dict[str, Any]:
    """A whole feedback file: the rater fixes ``pre_mistakes`` except the ``missed`` ones."""
    content: dict[str, Any] = dict(pre)
    content["initial_caption_rating_score"] = score
    content["feedback_is_needed"] = score < 5
    if score == 5:
        content["final_caption"] = content["pre_caption"]
        content["workflow_type"] = "perfect_precaption"
    else:
        fixed = [m for m in pre_mistakes if m not in missed]
        if fixed:
            informal = "; ".join(_informal_note(rng, spec, slots, m) for m in fixed)
            formal = " ".join(_formal_note(spec, slots, m) for m in fixed)
            if rng.random() < 0.3:
                informal += ". rest is fine"
        else:
            informal, formal = rng.choice(_STYLE_NOTES)
        target = _caption(spec, slots, missed)
        feedback_score = rng.choices((5, 4, 3), (0.5, 0.35, 0.15))[0]
        final_feedback = formal
        if feedback_score < 4:
            final_feedback += " Do not add details that are not visible in the video."
        caption_score = rng.choices((5, 4, 3), (0.55, 0.35, 0.1))[0]
        gpt_caption = target
        if caption_score != 5:  # wordier than needed: the annotator trims it
            gpt_caption = f"In this video, {target[:1].lower()}{target[1:]}"
        content.update(
            {
                "initial_feedback": informal,
                "gpt_feedback": formal,
                "gpt_feedback_llm": rng.choice(_GPT_FEEDBACK_LLMS),
                "gpt_feedback_prompt": (
                    "Rewrite the annotator's notes into clear, actionable feedback on the "
                    f"caption.\nCaption: {content['pre_caption']}\nNotes: {informal}"
                ),
                "feedback_rating_score": feedback_score,
                "final_feedback": final_feedback,
                "gpt_caption": gpt_caption,
                "gpt_caption_prompt": (
                    f"Improve the caption using the feedback. Describe only the {spec.focus}."
                    f"\nCaption: {content['pre_caption']}\nFeedback: {final_feedback}"
                ),
                "gpt_caption_llm": rng.choice(_GPT_CAPTION_LLMS),
                "caption_rating_score": caption_score,
                "final_caption": target,
                "workflow_type": "improved_precaption",
            }
        )
    content["user"] = user
    content["timestamp"] = timestamp.isoformat(timespec="seconds")
    # keep the documented field order: final_caption, user, timestamp, workflow_type last
    ordered = {k: v for k, v in content.items() if k not in _TAIL}
    ordered.update({k: content[k] for k in _TAIL})
    if rng.random() < _UNKNOWN_FIELD_SHARE:
        ordered["annotation_tool_version"] = rng.choice(_TOOL_VERSIONS)
    return ordered


_TAIL = ("final_caption", "user", "timestamp", "workflow_type")


def _review(
    rng: random.Random, reviewer: str, approve: bool, timestamp: datetime
) -> dict[str, Any]:
    content: dict[str, Any] = {
        "reviewer": reviewer,
        "review_timestamp": timestamp.isoformat(timespec="seconds"),
        "reviewer_double_check": approve,
    }
    if not approve and rng.random() < 0.4:
        content["review_comment"] = rng.choice(_REVIEW_COMMENTS)
    return content


def _dump(content: Any) -> bytes:
    return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# What the generator writes for one (video, task): a status, or an edge-case code.
_PLAIN = {status.value for status in Status}


_EDGE_PLANS = (
    EdgeCase.REVIEW_WITHOUT_FEEDBACK,
    EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV,
    EdgeCase.FEEDBACK_PREV_IDENTICAL,
    EdgeCase.APPROVED_WITH_FEEDBACK_PREV,
    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW,
    EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK,
)


_EDGE_STATUS = {
    EdgeCase.REVIEW_WITHOUT_FEEDBACK: Status.NOT_COMPLETED,
    EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV: Status.REJECTED,
    EdgeCase.FEEDBACK_PREV_IDENTICAL: Status.REJECTED,
    EdgeCase.APPROVED_WITH_FEEDBACK_PREV: Status.APPROVED,
    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW: Status.COMPLETED_NOT_REVIEWED,
    EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK: Status.NOT_COMPLETED,
}


# Plans written as a rejection (annotator's version + reviewer's version), with the review
# decision then written (None: no review file).
_AFTER_REJECTION: dict[str, bool | None] = {
    Status.REJECTED.value: False,
    EdgeCase.FEEDBACK_PREV_IDENTICAL.value: False,
    EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV.value: False,
    EdgeCase.APPROVED_WITH_FEEDBACK_PREV.value: True,
    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW.value: None,
    EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK.value: None,
}


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


@dataclass
class _Slot:
    """The plan for one (video, task): a status or edge-case code, and an optional bad file."""

    plan: str
    annotator: str
    bad: str | None = None


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
    untouched_set = set(untouched)
    slots: dict[tuple[str, str], _Slot] = {}
    free: dict[str, list[str]] = {task: [] for task in tasks}
    for video_id in video_ids:
        main = rng.choice(annotators)
        for index, task in enumerate(tasks):
            annotator = main
            if len(annotators) > 1 and rng.random() < 0.15:
                annotator = rng.choice([a for a in annotators if a != main])
            if video_id in untouched_set:
                slots[video_id, task] = _Slot(Status.NOT_COMPLETED.value, annotator)
                continue
            weights = _STATUS_WEIGHTS[index % len(_STATUS_WEIGHTS)]
            status = rng.choices([s.value for s in STATUSES], weights)[0]
            slots[video_id, task] = _Slot(status, annotator)
            if video_id != mixed:
                free[task].append(video_id)
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
    return untouched, slots


class _Writer:
    """Builds the files of one campaign in memory."""

    def __init__(self, seed: int, reviewer: str) -> None:
        self.seed = seed
        self.reviewer = reviewer
        self.files: dict[str, bytes] = {}
        self.bad: list[tuple[str, str]] = []

    def put(self, rel: str, content: Any) -> None:
        if rel in self.files:
            raise RuntimeError(f"campaign generator wrote {rel} twice")
        self.files[rel] = _dump(content)

    def slot(
        self, video_id: str, task: str, spec: _TaskSpec, slot: _Slot, bad: tuple[str, str] | None
    ) -> None:
        """Write the files of one (video, task) according to its plan."""
        rng = random.Random(f"{self.seed}:{video_id}:{task}")  # noqa: S311 (sample data)
        clip = _clip_slots(self.seed, video_id)
        base = f"{task}/{video_id}"
        done_at = (
            CAMPAIGN_START
            + timedelta(days=rng.randrange(0, 21), hours=rng.randrange(0, 10))
            + timedelta(minutes=rng.randrange(0, 60), seconds=rng.randrange(0, 60))
        )
        review_at = done_at + timedelta(days=rng.randrange(1, 4), minutes=rng.randrange(0, 600))
        improved_at = review_at - timedelta(minutes=rng.randrange(2, 15))
        plan = slot.plan
        if plan == Status.NOT_COMPLETED.value:
            if bad is not None:
                self._bad_feedback(rng, spec, clip, base, slot, bad, done_at)
            return
        if plan == EdgeCase.REVIEW_WITHOUT_FEEDBACK.value:
            self.put(
                f"{base}_review.json", _review(rng, self.reviewer, rng.random() < 0.5, review_at)
            )
            return
        if plan in _AFTER_REJECTION:
            self._rejected(rng, spec, clip, base, slot, (done_at, improved_at, review_at))
            return
        count = rng.choices((0, 1, 2, 3), (0.22, 0.38, 0.28, 0.12))[0]
        mistakes = _mistakes(rng, spec, clip, count)
        feedback = _workflow(
            rng,
            spec,
            clip,
            pre=_pre_caption(rng, spec, clip, mistakes),
            pre_mistakes=mistakes,
            missed=(),
            score=_score_for(rng, len(mistakes)),
            user=slot.annotator,
            timestamp=done_at,
        )
        self.put(f"{base}_feedback.json", feedback)
        if plan == Status.APPROVED.value:
            self.put(f"{base}_review.json", _review(rng, self.reviewer, True, review_at))
        elif bad is not None:
            self._bad_review(base, bad, review_at)

    def _rejected(
        self,
        rng: random.Random,
        spec: _TaskSpec,
        clip: Mapping[str, str],
        base: str,
        slot: _Slot,
        times: tuple[datetime, datetime, datetime],
    ) -> None:
        """The annotator missed a mistake; the reviewer rejected and saved a better version.

        Edge-case plans then drop or alter one of the three files.
        """
        done_at, improved_at, review_at = times
        plan = slot.plan
        perfect = rng.random() < 0.4
        mistakes = _mistakes(rng, spec, clip, 1 if perfect else 2)
        pre = _pre_caption(rng, spec, clip, mistakes)
        annotated = _workflow(
            rng,
            spec,
            clip,
            pre=pre,
            pre_mistakes=mistakes,
            missed=mistakes[-1:],
            score=5 if perfect else rng.choice((3, 4)),
            user=slot.annotator,
            timestamp=done_at,
        )
        improved = _workflow(
            rng,
            spec,
            clip,
            pre=pre,
            pre_mistakes=mistakes,
            missed=(),
            score=_score_for(rng, len(mistakes)),
            user=self.reviewer,
            timestamp=improved_at,
        )
        if improved["final_caption"] == annotated["final_caption"]:
            raise RuntimeError(f"{base}: the reviewer's caption equals the annotator's")
        if plan == EdgeCase.FEEDBACK_PREV_IDENTICAL.value:
            improved["final_caption"] = annotated["final_caption"]
        if plan == EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV.value:
            self.put(f"{base}_feedback.json", annotated)
        else:
            self.put(f"{base}_feedback_prev.json", annotated)
            if plan != EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK.value:
                self.put(f"{base}_feedback.json", improved)
        decision = _AFTER_REJECTION[plan]
        if decision is not None:
            self.put(f"{base}_review.json", _review(rng, self.reviewer, decision, review_at))

    def _bad_feedback(
        self,
        rng: random.Random,
        spec: _TaskSpec,
        clip: Mapping[str, str],
        base: str,
        slot: _Slot,
        bad: tuple[str, str],
        done_at: datetime,
    ) -> None:
        defect, why = bad
        mistakes = _mistakes(rng, spec, clip, 1)
        content = _workflow(
            rng,
            spec,
            clip,
            pre=_pre_caption(rng, spec, clip, mistakes),
            pre_mistakes=mistakes,
            missed=(),
            score=4,
            user=slot.annotator,
            timestamp=done_at,
        )
        rel = f"{base}_feedback.json"
        if defect == "truncated":
            data = _dump(content)
            self.files[rel] = data[: len(data) // 2]
        else:
            if defect == "score_7":
                content["initial_caption_rating_score"] = 7
            else:
                del content["final_caption"]
            self.put(rel, content)
        self.bad.append((rel, why))

    def _bad_review(self, base: str, bad: tuple[str, str], review_at: datetime) -> None:
        _defect, why = bad
        rel = f"{base}_review.json"
        review = {
            "reviewer": self.reviewer,
            "review_timestamp": review_at.isoformat(timespec="seconds"),
            "reviewer_double_check": "yes",
        }
        self.put(rel, review)
        self.bad.append((rel, why))


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
    bad_by_defect = {defect: (defect, why) for _k, defect, why, _s in _BAD_FILES}

    writer = _Writer(seed, reviewer)
    writer.files.update(_video_lists(video_ids))
    for video_id in video_ids:
        for index, task in enumerate(task_names):
            slot = plans[video_id, task]
            bad = None
            if slot.bad is not None and include_bad_files:
                bad = bad_by_defect[slot.bad]
            writer.slot(video_id, task, _spec_for(task, index), slot, bad)
    untouched_set = set(untouched)
    touched = [v for v in video_ids if v not in untouched_set and v != mixed]
    unregistered = [f"vid_{videos + number:05d}" for number in (1, 2)]
    intended_edges = _write_outside_grid(
        rng, writer, touched, task_names, extra_task, annotator_names, unregistered
    )
    statuses, others, edges = _checked_statuses(
        writer, plans, video_ids, task_names, intended_edges
    )

    out_dir.mkdir(parents=True, exist_ok=True)
    for rel in sorted(writer.files):
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(writer.files[rel])

    counts = {
        task: {
            status.value: sum(1 for v in video_ids if statuses[v, task] == status.value)
            for status in STATUSES
        }
        for task in task_names
    }
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
        status_counts=counts,
        statuses=statuses,
        other_statuses=others,
        edge_cases=edges,
        bad_files=sorted(writer.bad),
        files=sorted(writer.files),
        files_written=len(writer.files),
    )

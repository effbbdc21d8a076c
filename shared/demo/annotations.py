"""The contents of the files a sample campaign's annotators and reviewers write.

A feedback file follows the annotation tool's workflow: a model's pre-caption with some
plausible mistakes, the rater's score and notes, and the corrected caption; a review file
holds the reviewer's decision. Every choice is drawn from the ``random.Random`` passed in,
in a fixed order, so that one seed always gives the same bytes.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from shared.demo.vocabulary import (
    _ADD_NOTES,
    _OMIT_NOTES,
    _REVIEW_COMMENTS,
    _STYLE_NOTES,
    _SWAP_NOTES,
    Mistake,
    _cap,
    _TaskSpec,
)

_PRE_CAPTION_LLMS = ("gpt-4o", "gemini-2.5-pro", "claude-3-7-sonnet", "qwen2.5-vl-72b")


_GPT_FEEDBACK_LLMS = ("gpt-4o", "gpt-4.1")


_GPT_CAPTION_LLMS = ("gpt-4o", "gpt-4.1", "gemini-2.5-pro")


_MODES = ("Video", "Image", "Text")


_MODE_WEIGHTS = (0.6, 0.3, 0.1)


_TOOL_VERSIONS = ("2.3.1", "2.4.0")


_UNKNOWN_FIELD_SHARE = 0.1


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
        content.update(_improvement(rng, spec, slots, content["pre_caption"], fixed, missed))
    content["user"] = user
    content["timestamp"] = timestamp.isoformat(timespec="seconds")
    # keep the documented field order: final_caption, user, timestamp, workflow_type last
    ordered = {k: v for k, v in content.items() if k not in _TAIL}
    ordered.update({k: content[k] for k in _TAIL})
    if rng.random() < _UNKNOWN_FIELD_SHARE:
        ordered["annotation_tool_version"] = rng.choice(_TOOL_VERSIONS)
    return ordered


_TAIL = ("final_caption", "user", "timestamp", "workflow_type")


def _improvement(
    rng: random.Random,
    spec: _TaskSpec,
    slots: Mapping[str, str],
    pre_caption: str,
    fixed: Sequence[Mistake],
    missed: Sequence[Mistake],
) -> dict[str, Any]:
    """Stage 2 fields of a caption the rater improved: notes, feedback, the final caption."""
    informal, formal = _notes(rng, spec, slots, fixed)
    target = _caption(spec, slots, missed)
    feedback_score = rng.choices((5, 4, 3), (0.5, 0.35, 0.15))[0]
    final_feedback = formal
    if feedback_score < 4:
        final_feedback += " Do not add details that are not visible in the video."
    caption_score = rng.choices((5, 4, 3), (0.55, 0.35, 0.1))[0]
    gpt_caption = target
    if caption_score != 5:  # wordier than needed: the annotator trims it
        gpt_caption = f"In this video, {target[:1].lower()}{target[1:]}"
    return {
        "initial_feedback": informal,
        "gpt_feedback": formal,
        "gpt_feedback_llm": rng.choice(_GPT_FEEDBACK_LLMS),
        "gpt_feedback_prompt": (
            "Rewrite the annotator's notes into clear, actionable feedback on the "
            f"caption.\nCaption: {pre_caption}\nNotes: {informal}"
        ),
        "feedback_rating_score": feedback_score,
        "final_feedback": final_feedback,
        "gpt_caption": gpt_caption,
        "gpt_caption_prompt": (
            f"Improve the caption using the feedback. Describe only the {spec.focus}."
            f"\nCaption: {pre_caption}\nFeedback: {final_feedback}"
        ),
        "gpt_caption_llm": rng.choice(_GPT_CAPTION_LLMS),
        "caption_rating_score": caption_score,
        "final_caption": target,
        "workflow_type": "improved_precaption",
    }


def _notes(
    rng: random.Random, spec: _TaskSpec, slots: Mapping[str, str], fixed: Sequence[Mistake]
) -> tuple[str, str]:
    """The rater's informal notes on the ``fixed`` mistakes, and their formal rewrite."""
    if not fixed:
        informal, formal = rng.choice(_STYLE_NOTES)
        return informal, formal
    informal = "; ".join(_informal_note(rng, spec, slots, m) for m in fixed)
    formal = " ".join(_formal_note(spec, slots, m) for m in fixed)
    if rng.random() < 0.3:
        informal += ". rest is fine"
    return informal, formal


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

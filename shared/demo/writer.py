"""Write the files of a sample campaign's (video, task) pairs, in memory, from their plans.

:class:`_Writer` turns the plan of one (video, task) (a status or an edge-case code, and an
optional broken file) into the feedback, feedback_prev and review files that produce it.
Each pair draws from its own ``random.Random`` seeded with the campaign seed and the pair,
so that a pair's files do not depend on the order pairs are written in.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from shared.captions import EdgeCase, Status
from shared.demo.annotations import (
    _mistakes,
    _pre_caption,
    _review,
    _score_for,
    _workflow,
)
from shared.demo.vocabulary import _clip_slots, _TaskSpec

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


@dataclass
class _Slot:
    """The plan for one (video, task): a status or edge-case code, and an optional bad file."""

    plan: str
    annotator: str
    bad: str | None = None


def _dump(content: Any) -> bytes:
    return (json.dumps(content, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


class _Writer:
    """Builds the files of one campaign in memory; the work starts at ``start``."""

    def __init__(self, seed: int, reviewer: str, start: datetime) -> None:
        self.seed = seed
        self.reviewer = reviewer
        self.start = start
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
            self.start
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

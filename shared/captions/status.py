"""Status of one (video, task), derived from the files present, and the edge cases."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    """The state of one (video, task)."""

    NOT_COMPLETED = "not_completed"
    COMPLETED_NOT_REVIEWED = "completed_not_reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"


STATUSES: tuple[Status, ...] = tuple(Status)


REVIEWED = frozenset({Status.APPROVED, Status.REJECTED})


class EdgeCase(StrEnum):
    """Combinations of files that do not make a clean workflow state."""

    REVIEW_WITHOUT_FEEDBACK = "review_without_feedback"
    REJECTED_WITHOUT_FEEDBACK_PREV = "rejected_without_feedback_prev"
    FEEDBACK_PREV_IDENTICAL = "feedback_prev_identical_to_feedback"
    APPROVED_WITH_FEEDBACK_PREV = "approved_with_feedback_prev"
    FEEDBACK_PREV_WITHOUT_REVIEW = "feedback_prev_without_review"
    FEEDBACK_PREV_WITHOUT_FEEDBACK = "feedback_prev_without_feedback"
    TASK_NOT_IN_CONFIG = "task_not_in_config"
    VIDEO_NOT_REGISTERED = "video_not_registered"


@dataclass(frozen=True)
class Derived:
    """The status of a (video, task) and the edge cases its files show."""

    status: Status
    edge_cases: tuple[tuple[EdgeCase, str], ...] = ()


def derive_status(files: Mapping[str, Mapping[str, Any]]) -> Derived:
    """Status from the valid files present (``kind -> content``), never from event order.

    Whether the task belongs to the config, and whether the video is registered, depend on
    configuration and other files: exports check those (``shared/captions/export.py``).
    """
    feedback = files.get("feedback")
    previous = files.get("feedback_prev")
    review = files.get("review")
    edges: list[tuple[EdgeCase, str]] = []
    if feedback is None:
        if review is not None:
            edges.append((EdgeCase.REVIEW_WITHOUT_FEEDBACK, "a review exists but no feedback"))
        elif previous is not None:
            edges.append(
                (EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK, "feedback_prev exists but no feedback")
            )
        return Derived(Status.NOT_COMPLETED, tuple(edges))
    if review is None:
        if previous is not None:
            edges.append(
                (
                    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW,
                    "feedback_prev exists but no review decided the task",
                )
            )
        return Derived(Status.COMPLETED_NOT_REVIEWED, tuple(edges))
    if review.get("reviewer_double_check") is True:
        if previous is not None:
            edges.append(
                (
                    EdgeCase.APPROVED_WITH_FEEDBACK_PREV,
                    "approved by the reviewer but a feedback_prev (rejection copy) exists",
                )
            )
        return Derived(Status.APPROVED, tuple(edges))
    if previous is None:
        edges.append(
            (
                EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV,
                "rejected but not improved: no feedback_prev with the annotator's version",
            )
        )
    elif previous.get("final_caption") == feedback.get("final_caption"):
        edges.append(
            (
                EdgeCase.FEEDBACK_PREV_IDENTICAL,
                "rejected, but feedback_prev has the same final_caption as feedback",
            )
        )
    return Derived(Status.REJECTED, tuple(edges))

"""Scripted annotators for the demo: each answers from the frame alone (so two of them agree
unless told not to), one of them disagreeing on purpose every few frames."""

from __future__ import annotations

import hashlib

from shared.learning import LabelSchema

DEMO_ANNOTATORS = ("demo_ana", "demo_ben")
DISAGREE_EVERY = 4  # demo_ben picks another class on every 4th frame he labels
SHARE_LABELLED = 0.75  # each labels the first three quarters of their own queue


def scripted_answer(
    schema: LabelSchema, frame_id: str, *, disagree: bool = False
) -> dict[str, str]:
    """A class per task chosen from the frame id's digest; ``disagree`` shifts each answer to
    the next class."""
    digest = hashlib.sha256(frame_id.encode()).digest()
    answer = {}
    for index, (task, classes) in enumerate(schema.tasks.items()):
        choice = digest[index] % len(classes)
        if disagree:
            choice = (choice + 1) % len(classes)
        answer[task] = classes[choice]
    return answer

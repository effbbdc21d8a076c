"""Scripted annotators for the demo: each answers from the frame alone (so two of them agree
unless told not to), one of them disagreeing on purpose every few frames."""

from __future__ import annotations

import hashlib
from typing import Any

from shared.learning import LabelSchema

DEMO_ANNOTATORS = ("demo_ana", "demo_ben")
DISAGREE_EVERY = 4  # demo_ben picks another class on every 4th frame he labels
SHARE_LABELLED = 0.75  # each labels the first three quarters of their own queue
VARIANTS_KEY = "demo_variants"
DEMO_TOP_K = 10  # the crops and mirrors of the sample frames, as extra clips
# A tiny round on the CPU: the demo's two rounds take well under a minute.
DEMO_ROUND: dict[str, Any] = {
    "architecture": "resnet18",
    "image_size": 48,
    "epochs": 2,
    "batch_size": 16,
    "workers": 0,
    "top_k": DEMO_TOP_K,
    "min_per_class": 3,
}


def scripted_answer(
    schema: LabelSchema, frame_id: str, *, disagree: bool = False
) -> dict[str, str]:
    """A class per task chosen from the digest of the frame's clip (its video key): frames of
    one clip get the same answers, as a shot keeps its perspective, so a model can learn
    them; ``disagree`` shifts each answer to the next class."""
    digest = hashlib.sha256(frame_id.rsplit("/", 1)[0].encode()).digest()
    answer = {}
    for index, (task, classes) in enumerate(schema.tasks.items()):
        choice = digest[index] % len(classes)
        if disagree:
            choice = (choice + 1) % len(classes)
        answer[task] = classes[choice]
    return answer

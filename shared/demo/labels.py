"""Scripted annotators for the demo: each answers from the frame alone (so two of them agree
unless told not to), one of them disagreeing on purpose every few frames."""

from __future__ import annotations

import hashlib
import re
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
    """A class per task chosen from the frame's clip (its video key): frames of one clip get
    the same answers, as a shot keeps its perspective, so a model can learn them;
    ``disagree`` shifts each answer to the next class.

    Numbered clips (the crops and mirrors, ``demo_variants/frameNNN``) take the classes in
    turn, so every class has examples however few sample frames there are (two generated
    clips when the sample clips are not at hand); other clips take them from a digest."""
    video_key = frame_id.rsplit("/", 1)[0]
    digest = hashlib.sha256(video_key.encode()).digest()
    numbered = re.search(r"(\d+)$", video_key)
    answer = {}
    for index, (task, classes) in enumerate(schema.tasks.items()):
        seed = int(numbered.group(1)) + index if numbered else digest[index]
        choice = seed % len(classes)
        if disagree:
            choice = (choice + 1) % len(classes)
        answer[task] = classes[choice]
    return answer

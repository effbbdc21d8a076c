"""The function that describes sampled frames.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.platform.runtime.catalog import FunctionSpec, TopicTrigger
from shared.vision.messages import FRAME_ANALYSIS

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="analyze_frames",
        trigger=TopicTrigger(topic=FRAME_ANALYSIS.name),
        capability="vision",
        extras=(
            "media",
            "models",
        ),
        description=(
            "Describe a clip's sampled frames with the vision model, each frame once, and "
            "record what each call cost."
        ),
    ),
)

"""The functions of training sets.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger, TopicTrigger
from shared.trainsets.messages import SET_EVALUATIONS

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="register_set_image",
        trigger=StorageTrigger(bucket="sets"),
        capability="trainsets",
        description=(
            "List an image finalized in a set's folder of the sets bucket in the set's manifest."
        ),
    ),
    FunctionSpec(
        name="evaluate_set",
        trigger=TopicTrigger(topic=SET_EVALUATIONS.name),
        capability="trainsets",
        # Pillow draws the sheets; the model SDKs classify them.
        extras=("media", "models"),
        description=(
            "Classify a training set's images on numbered sheets with the vision model, compare "
            "the mix with the target and write the evaluation and its plan."
        ),
    ),
)

"""The functions of critique runs: plan and fan out, generate, consolidate.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.critiques.messages import CONSOLIDATIONS, JOBS, REQUESTS
from shared.platform.runtime.catalog import FunctionSpec, TopicTrigger

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="critique_fanout",
        trigger=TopicTrigger(topic=REQUESTS.name),
        capability="critiques",
        extras=("models",),
        description=(
            "Plan the critique items of an export (skip unchanged and perfect ones) and "
            "publish them to critique-jobs in batches."
        ),
    ),
    FunctionSpec(
        name="critique_worker",
        trigger=TopicTrigger(topic=JOBS.name),
        capability="critiques",
        extras=("models",),
        description=(
            "Generate one critique item with the models and record its cost; ask for the "
            "consolidation when nothing is left open."
        ),
    ),
    FunctionSpec(
        name="critique_consolidate",
        trigger=TopicTrigger(topic=CONSOLIDATIONS.name),
        capability="critiques",
        description=(
            "Write a finished critique run's consolidated file exactly once and queue its "
            "Hub upload."
        ),
    ),
)

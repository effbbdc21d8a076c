"""The functions of caption campaigns.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.captions.messages import EXPORT_REQUESTS
from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger, TopicTrigger

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="ingest_feedback",
        trigger=StorageTrigger(
            bucket="annotations", events=("OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE")
        ),
        capability="captions",
        description=(
            "Record each annotation file on its (video, task), derive the status, quarantine "
            "bad files."
        ),
    ),
    FunctionSpec(
        name="export_snapshot",
        trigger=TopicTrigger(topic=EXPORT_REQUESTS.name),
        capability="captions",
        description=(
            "Write an export folder (videos, reviewed, not completed, statistics) to the "
            "exports bucket; queue its Hub upload."
        ),
    ),
)

"""The function that publishes exports to the Hub.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.platform.runtime.catalog import FunctionSpec, TopicTrigger
from shared.publishing.messages import HUB_UPLOAD_REQUESTS

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="hub_upload",
        trigger=TopicTrigger(topic=HUB_UPLOAD_REQUESTS.name),
        capability="publishing",
        extras=("hub",),
        description=(
            "Publish a finished export folder from the exports bucket to a Hugging Face "
            "dataset repo, in one commit."
        ),
    ),
)

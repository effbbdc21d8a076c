"""The functions of clips: dataset shard pulls and frame sampling.

Each entry is deployed from ``functions/<name>/main.py``; ``shared/catalog.py`` lists them all.
"""

from __future__ import annotations

from shared.media.shards.messages import SHARD_PULLS
from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger, TopicTrigger

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="pull_dataset_shard",
        trigger=TopicTrigger(topic=SHARD_PULLS.name),
        capability="media",
        extras=("hub",),
        description=(
            "Download one WebDataset tar shard of a Hugging Face dataset and stream its clips "
            "and their JSON into the videos bucket, each once."
        ),
    ),
    FunctionSpec(
        name="extract_frames",
        trigger=StorageTrigger(bucket="videos"),
        capability="media",
        extras=("media",),
        description=(
            "Sample the frames of every clip finalized in the videos bucket into the frames "
            "bucket, and index them."
        ),
    ),
)

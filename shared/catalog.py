"""Every deployed function, assembled from the capabilities' function specs."""

from __future__ import annotations

from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger, TopicTrigger

FUNCTIONS: tuple[FunctionSpec, ...] = (
    FunctionSpec(
        name="ping",
        trigger=TopicTrigger(topic="ping"),
        description="Echo a Pub/Sub message into the document store (health check, demo).",
    ),
    FunctionSpec(
        name="ingest_feedback",
        trigger=StorageTrigger(
            bucket="annotations", events=("OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE")
        ),
        description=(
            "Record each annotation file on its (video, task), derive the status, quarantine "
            "bad files."
        ),
    ),
    FunctionSpec(
        name="export_snapshot",
        trigger=TopicTrigger(topic="export-requests"),
        description=(
            "Write an export folder (videos, reviewed, not completed, statistics) to the "
            "exports bucket; queue its Hub upload."
        ),
    ),
    FunctionSpec(
        name="hub_upload",
        trigger=TopicTrigger(topic="hub-uploads"),
        description=(
            "Publish a finished export folder from the exports bucket to a Hugging Face "
            "dataset repo, in one commit."
        ),
    ),
    FunctionSpec(
        name="critique_fanout",
        trigger=TopicTrigger(topic="critique-requests"),
        description=(
            "Plan the critique items of an export (skip unchanged and perfect ones) and "
            "publish them to critique-jobs in batches."
        ),
    ),
    FunctionSpec(
        name="critique_worker",
        trigger=TopicTrigger(topic="critique-jobs"),
        description=(
            "Generate one critique item with the models and record its cost; ask for the "
            "consolidation when nothing is left open."
        ),
    ),
    FunctionSpec(
        name="critique_consolidate",
        trigger=TopicTrigger(topic="critique-consolidations"),
        description=(
            "Write a finished critique run's consolidated file exactly once and queue its "
            "Hub upload."
        ),
    ),
    FunctionSpec(
        name="pull_dataset_shard",
        trigger=TopicTrigger(topic="dataset-shards"),
        description=(
            "Download one WebDataset tar shard of a Hugging Face dataset and stream its clips "
            "and their JSON into the videos bucket, each once."
        ),
    ),
    FunctionSpec(
        name="extract_frames",
        trigger=StorageTrigger(bucket="videos"),
        description=(
            "Sample the frames of every clip finalized in the videos bucket into the frames "
            "bucket, and index them."
        ),
    ),
    FunctionSpec(
        name="analyze_frames",
        trigger=TopicTrigger(topic="frame-analysis"),
        description=(
            "Describe a clip's sampled frames with the vision model, each frame once, and "
            "record what each call cost."
        ),
    ),
    FunctionSpec(
        name="echo_object",
        trigger=StorageTrigger(bucket="annotations"),
        description="Record the latest generation of every object finalized in a bucket.",
    ),
)


def function_spec(name: str) -> FunctionSpec:
    """The catalogue entry for ``name``."""
    for spec in FUNCTIONS:
        if spec.name == name:
            return spec
    known = ", ".join(spec.name for spec in FUNCTIONS)
    raise KeyError(f"unknown function {name!r} (known: {known})")

"""Every deployed function and its trigger: the one list the local runtime, the build script
and the terraform consistency test read.

A function named ``x`` lives in ``functions/x/main.py`` with an entry point also named ``x``,
and is deployed by ``module.function["x"]`` from ``local.function_catalog`` in
``terraform/functions.tf``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from shared.config import BucketRole, Settings

StorageEventType = Literal["OBJECT_FINALIZE", "OBJECT_DELETE", "OBJECT_ARCHIVE"]


@dataclass(frozen=True)
class StorageTrigger:
    """Object events (finalized by default) in the bucket that has this role.

    ``events`` are GCS notification event types; a function that keeps state about objects
    also asks for OBJECT_DELETE and OBJECT_ARCHIVE (a delete in a versioned bucket).
    """

    bucket: BucketRole
    events: tuple[StorageEventType, ...] = ("OBJECT_FINALIZE",)


@dataclass(frozen=True)
class TopicTrigger:
    """Message published on this Pub/Sub topic."""

    topic: str


Trigger = StorageTrigger | TopicTrigger


@dataclass(frozen=True)
class FunctionSpec:
    """One Cloud Function: its name (folder, entry point) and what triggers it."""

    name: str
    trigger: Trigger
    description: str

    @property
    def subscription(self) -> str:
        """The subscription that delivers this function's events."""
        return self.name

    @property
    def dead_letter_topic(self) -> str:
        """Where this function's poison events end."""
        return f"{self.name}-dead-letter"

    @property
    def hold_subscription(self) -> str:
        """The subscription that keeps dead letters for inspection and replay."""
        return f"{self.dead_letter_topic}-hold"

    def source_topic(self, settings: Settings) -> str:
        """The topic this function's subscription reads.

        Storage triggers read the bucket's notification topic, as GCS notifications and
        Eventarc do (they deliver through Pub/Sub too).
        """
        if isinstance(self.trigger, TopicTrigger):
            return self.trigger.topic
        return storage_topic(settings.bucket(self.trigger.bucket))


def storage_topic(bucket: str) -> str:
    """The topic that carries a bucket's object notifications."""
    return f"gcs-notifications-{bucket}"


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

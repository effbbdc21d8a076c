"""Builders for caption-workflow files and a way to capture and replay bucket events."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.bootstrap import Context, build_context
from shared.captions.ingest import ingest_event
from shared.catalog import function_spec
from shared.config import Settings
from shared.platform.events import StorageEvent, parse_storage_event
from shared.platform.runtime.catalog import storage_topic
from shared.platform.runtime.dispatch import to_cloud_event

PROBE = "probe-annotations"


def feedback(user: str = "alice", caption: str = "a dog runs on a beach", **extra: Any) -> dict:
    """A complete improved-precaption workflow."""
    return {
        "pre_caption": "a dog on sand",
        "pre_caption_prompt": "Describe the subject.",
        "pre_caption_llm": "gpt-4o",
        "pre_caption_mode": "Video",
        "initial_caption_rating_score": 3,
        "feedback_is_needed": True,
        "initial_feedback": "mention the running",
        "gpt_feedback": "The caption omits the motion.",
        "gpt_feedback_llm": "gpt-4o",
        "gpt_feedback_prompt": "Critique the caption.",
        "feedback_rating_score": 4,
        "final_feedback": "Add that the dog runs.",
        "gpt_caption": "a dog running on sand",
        "gpt_caption_prompt": "Rewrite the caption.",
        "gpt_caption_llm": "gpt-4o",
        "caption_rating_score": 4,
        "final_caption": caption,
        "user": user,
        "timestamp": "2026-11-01T10:00:00Z",
        "workflow_type": "improved_precaption",
        **extra,
    }


def review(approved: bool, reviewer: str = "rita") -> dict:
    return {
        "reviewer": reviewer,
        "review_timestamp": "2026-11-02T09:00:00Z",
        "reviewer_double_check": approved,
    }


def dumps(content: Any) -> bytes:
    return json.dumps(content, indent=2).encode()


def video_list(*video_ids: str) -> bytes:
    return "".join(
        json.dumps({"video_id": v, "video_url": f"https://example.org/{v}.mp4"}) + "\n"
        for v in video_ids
    ).encode()


def watch(services: Context) -> None:
    """Subscribe the probe to the annotations bucket's notifications."""
    bus = services.bus
    bus.create_subscription(PROBE, storage_topic(services.settings.annotations_bucket))  # type: ignore[attr-defined]


def captured_events(services: Context) -> list[StorageEvent]:
    """Every notification since the last call, as the storage events ingest_feedback gets."""
    bus = services.bus
    spec = function_spec("ingest_feedback")
    events = []
    while batch := bus.pull(PROBE, max_messages=500):  # type: ignore[attr-defined]
        for message in batch:
            cloud_event = to_cloud_event(spec, message, services.settings)
            assert cloud_event is not None
            events.append(parse_storage_event(cloud_event))
        bus.ack(PROBE, [m.ack_id for m in batch])  # type: ignore[attr-defined]
    return events


def ingested_home(home: Path, files: Mapping[str, bytes]) -> Context:
    """A home whose annotations bucket holds ``files`` (name -> bytes), each ingested as
    ingest_feedback would; the caller closes it."""
    built = build_context(Settings(home=home, log_level="CRITICAL"))
    watch(built)
    for name, data in files.items():
        built.blobs.write(built.settings.annotations_bucket, name, data)
    for event in captured_events(built):
        ingest_event(built, event)
    return built

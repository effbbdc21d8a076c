"""Clips in the videos bucket: ids, sidecars and their typed metadata, reports."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import PurePosixPath
from typing import Any

from shared.core.errors import NotFoundError
from shared.media.objects import metadata_text
from shared.media.settings import MediaSettings
from shared.media.store import CLIPS, clip_id
from shared.platform.context import Context

VIDEO_SUFFIXES = frozenset({".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg"})


def video_key(name: str) -> str:
    """Where a clip's frames go in the frames bucket: its object name without the suffix."""
    path = PurePosixPath(name)
    return str(path.with_suffix("")) if path.suffix.lower() in VIDEO_SUFFIXES else name


def is_clip(name: str, content_type: str) -> bool:
    """Whether an object is meant as a clip (sidecar JSON and the like are not)."""
    return content_type.startswith("video/") or PurePosixPath(name).suffix.lower() in (
        VIDEO_SUFFIXES
    )


SIDECAR_MAX_BYTES = 1 << 20
"""A sidecar JSON larger than this is not read for metadata (its object metadata is used)."""


def sidecar_name(name: str) -> str:
    """The sidecar JSON object of a clip object: ``<video key>.json`` beside it."""
    return f"{video_key(name)}.json"


def clip_metadata(
    services: Context[MediaSettings], bucket: str, name: str, fields: Mapping[str, str]
) -> dict[str, Any]:
    """A clip's metadata with its original JSON types: the sidecar object beside it (numbers
    stay numbers, nested values stay nested), and the object metadata it does not hold the
    same way (a value set by hand, ``--meta``) as text. Without a readable sidecar, the
    object metadata."""
    try:
        info = services.blobs.stat(bucket, sidecar_name(name))
        if info.size > SIDECAR_MAX_BYTES:
            return dict(fields)
        data = json.loads(services.blobs.read(bucket, info.name, generation=info.generation))
    except (NotFoundError, ValueError, RecursionError):
        return dict(fields)
    if not isinstance(data, dict):
        return dict(fields)
    merged: dict[str, Any] = dict(data)
    for key, text in fields.items():
        if key not in data or metadata_text(data[key]) != text:
            merged[key] = text
    return merged


def clip_report(services: Context[MediaSettings], bucket: str, name: str) -> dict[str, Any] | None:
    """The clip's document (status, frames, error), or None before it is sampled."""
    doc = services.documents.get(f"{CLIPS}/{clip_id(bucket, name)}")
    return doc.data if doc is not None else None

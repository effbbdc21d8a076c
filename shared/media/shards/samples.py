"""WebDataset samples: keys, video members, JSON metadata that object storage accepts."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.core.dropfiles import MAX_COMPONENT_BYTES, MAX_OBJECT_NAME_BYTES
from shared.media.objects import metadata_text

VIDEO_TYPES: Mapping[str, str] = {
    "mp4": "video/mp4",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
    "mov": "video/quicktime",
    "avi": "video/x-msvideo",
}
"""Video extensions a sample's video member may have, and their content types."""


JSON_EXTENSION = "json"


MAX_METADATA_BYTES = 8 << 10
"""Cloud Storage's limit on an object's custom metadata (keys and values together)."""


@dataclass
class _Sample:
    """The members of one sample that are kept: its videos and its JSON, by extension."""

    key: str
    parts: dict[str, bytes] = field(default_factory=dict)
    size: int = 0
    problem: str | None = None


def _split_key(name: str) -> tuple[str, str] | None:
    """WebDataset's (key, extension): the path up to the first dot of the base name."""
    folder, _, base = name.rpartition("/")
    stem, dot, extension = base.partition(".")
    if not stem or not dot or not extension:
        return None
    return (f"{folder}/{stem}" if folder else stem), extension.lower()


def _is_video(extension: str) -> bool:
    return extension.rsplit(".", 1)[-1] in VIDEO_TYPES


def _json_object(data: bytes) -> Mapping[str, Any]:
    try:
        value = json.loads(data)
    except (UnicodeError, ValueError, RecursionError) as exc:  # deep nesting: recursion
        raise ValueError(f"is not valid JSON ({type(exc).__name__}: {exc})") from exc
    if not isinstance(value, dict):
        raise ValueError(f"is a JSON {type(value).__name__}, not an object")
    return value


def sample_metadata(fields: Mapping[str, Any]) -> tuple[dict[str, str], list[str]]:
    """Object metadata from a sample's JSON object, and the fields left out.

    Strings, numbers and booleans become ``str(value)`` (as ``vidcurate videos add`` does),
    ``null`` and nested values compact JSON. Fields are taken in order while keys and values
    together fit :data:`MAX_METADATA_BYTES`; the sidecar object always holds the whole JSON.
    """
    metadata: dict[str, str] = {}
    omitted: list[str] = []
    used = 0
    for key, value in fields.items():
        text = metadata_text(value)
        cost = len(key.encode()) + len(text.encode())
        if used + cost > MAX_METADATA_BYTES:
            omitted.append(key)
            continue
        metadata[key] = text
        used += cost
    return metadata, omitted


def _object_name_problem(name: str) -> str | None:
    if len(name.encode()) > MAX_OBJECT_NAME_BYTES:
        return f"object name {name[:80]!r}... is longer than {MAX_OBJECT_NAME_BYTES} bytes"
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in name.split("/")):
        return f"a part of object name {name!r} is longer than {MAX_COMPONENT_BYTES} bytes"
    return None

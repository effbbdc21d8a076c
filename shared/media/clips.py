"""Clips in the videos bucket: ids, sidecars, adding clips, reports."""

from __future__ import annotations

import base64
import hashlib
import json
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path, PurePosixPath
from typing import Any

from shared.core.errors import NotFoundError, PermanentError
from shared.media.settings import MediaSettings
from shared.media.store import CLIPS, clip_id
from shared.platform.context import Context
from shared.ports import BlobInfo

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


def metadata_text(value: Any) -> str:
    """A metadata value as object metadata holds it: strings, numbers and booleans as
    ``str(value)``, ``null`` and nested values as compact JSON."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def sidecar_name(name: str) -> str:
    """The sidecar JSON object of a clip object: ``<video key>.json`` beside it."""
    return f"{video_key(name)}.json"


def read_sidecar(path: Path) -> dict[str, str]:
    """``<clip stem>.json`` beside a clip, as object metadata (scalar values, as strings)."""
    data = _local_sidecar(path)
    return {
        str(key): metadata_text(value)
        for key, value in (data or {}).items()
        if isinstance(value, str | int | float | bool)
    }


def _local_sidecar(path: Path) -> dict[str, Any] | None:
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{sidecar}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise PermanentError(f"{sidecar}: expected a JSON object of metadata")
    return data


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


def add_clips(
    services: Context[MediaSettings],
    paths: Sequence[Path],
    *,
    prefix: str = "local",
    metadata: Mapping[str, str] | None = None,
) -> list[tuple[Path, BlobInfo, bool]]:
    """Put local clips into the videos bucket as ``<prefix>/<file name>`` with their sidecar
    and ``metadata`` as object metadata; ``(path, object, written)`` for each (an unchanged
    clip is not written again, so it is not sampled again)."""
    bucket = services.settings.videos_bucket
    added: list[tuple[Path, BlobInfo, bool]] = []
    for path in paths:
        if not path.is_file():
            raise PermanentError(f"{path}: no such file")
        name = f"{prefix.strip('/')}/{path.name}" if prefix.strip("/") else path.name
        fields = {**read_sidecar(path), **(metadata or {})}
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():  # first: the clip's sampling reads it for the typed metadata
            put_unless_same(services, bucket, sidecar_name(name), sidecar.read_bytes(), {})
        data = path.read_bytes()
        info, written = put_unless_same(services, bucket, name, data, fields)
        added.append((path, info, written))
    return added


def put_unless_same(
    services: Context[MediaSettings],
    bucket: str,
    name: str,
    data: bytes,
    metadata: Mapping[str, str],
    *,
    content_type: str | None = None,
) -> tuple[BlobInfo, bool]:
    """Write the object unless it holds these bytes (MD5) and metadata already; its info,
    and whether it was written. The write is conditional on the generation compared, so a
    concurrent writer is never overwritten blindly (PreconditionFailedError)."""
    digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
    try:
        current = services.blobs.stat(bucket, name)
    except NotFoundError:
        current = None
    if current is not None and current.md5_hash == digest and dict(current.metadata) == metadata:
        return current, False
    info = services.blobs.write(
        bucket,
        name,
        data,
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        metadata=metadata,
        if_generation_match=current.generation if current is not None else 0,
    )
    return info, True


def clip_report(services: Context[MediaSettings], bucket: str, name: str) -> dict[str, Any] | None:
    """The clip's document (status, frames, error), or None before it is sampled."""
    doc = services.documents.get(f"{CLIPS}/{clip_id(bucket, name)}")
    return doc.data if doc is not None else None

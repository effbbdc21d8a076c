"""Clips in the videos bucket: ids, sidecars, adding clips, reports."""

from __future__ import annotations

import base64
import contextlib
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


def read_sidecar(path: Path) -> dict[str, str]:
    """``<clip stem>.json`` beside a clip, as object metadata (scalar values, as strings)."""
    sidecar = path.with_suffix(".json")
    if not sidecar.is_file():
        return {}
    try:
        data = json.loads(sidecar.read_text())
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{sidecar}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise PermanentError(f"{sidecar}: expected a JSON object of metadata")
    return {
        str(key): str(value)
        for key, value in data.items()
        if isinstance(value, str | int | float | bool) and value is not None
    }


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
        data = path.read_bytes()
        digest = base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        with contextlib.suppress(NotFoundError):
            current = services.blobs.stat(bucket, name)
            if current.md5_hash == digest and dict(current.metadata) == fields:
                added.append((path, current, False))
                continue
        content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        info = services.blobs.write(bucket, name, data, content_type=content_type, metadata=fields)
        added.append((path, info, True))
    return added


def clip_report(services: Context[MediaSettings], bucket: str, name: str) -> dict[str, Any] | None:
    """The clip's document (status, frames, error), or None before it is sampled."""
    doc = services.documents.get(f"{CLIPS}/{clip_id(bucket, name)}")
    return doc.data if doc is not None else None

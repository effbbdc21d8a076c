"""Adding local clips to the videos bucket (``vidcurate videos add``): each one checked to
be a video first (PyAV: this module is the CLI's, never a function's), with its sidecar."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from shared.core.errors import PermanentError
from shared.media.clips import sidecar_name
from shared.media.decode import VideoDecodeError, open_clip
from shared.media.objects import metadata_text, put_unless_same
from shared.media.settings import MediaSettings
from shared.platform.context import Context
from shared.ports import BlobInfo


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


def object_name(prefix: str, path: Path) -> str:
    """The videos bucket object of a local clip added under ``prefix``."""
    return f"{prefix.strip('/')}/{path.name}" if prefix.strip("/") else path.name


def check_clips(paths: Sequence[Path], targets: Sequence[str]) -> None:
    """Refuse, before anything is written, files that are missing or not videos (PyAV
    finds no moving video stream) and clips that would land on the same ``targets`` (the
    same file name from two folders): one line per problem."""
    problems: list[str] = []
    seen: dict[str, Path] = {}
    for path, target in zip(paths, targets, strict=True):
        if path.is_dir():
            problems.append(f"{path}: a folder, not a clip (name the clips: {path}/*.mp4)")
            continue
        if not path.is_file():
            problems.append(f"{path}: no such file")
            continue
        if target in seen and seen[target] != path:
            problems.append(f"{path}: same name as {seen[target]} (both would be {target})")
            continue
        seen[target] = path
        try:
            with open_clip(path, name=str(path)):
                pass
        except VideoDecodeError as exc:
            problems.append(str(exc))
    if problems:
        raise PermanentError("nothing was added:\n" + "\n".join(problems))


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
    check_clips(paths, [object_name(prefix, path) for path in paths])
    added: list[tuple[Path, BlobInfo, bool]] = []
    for path in paths:
        name = object_name(prefix, path)
        fields = {**read_sidecar(path), **(metadata or {})}
        sidecar = path.with_suffix(".json")
        if sidecar.is_file():  # first: the clip's sampling reads it for the typed metadata
            put_unless_same(services, bucket, sidecar_name(name), sidecar.read_bytes(), {})
        data = path.read_bytes()
        info, written = put_unless_same(services, bucket, name, data, fields)
        added.append((path, info, written))
    return added

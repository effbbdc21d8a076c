"""Upload a campaign folder into the annotations bucket (unchanged files skipped)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from shared.captions.settings import CaptionSettings
from shared.core.errors import ConfigError
from shared.platform.context import Context


@dataclass(frozen=True)
class UploadSummary:
    """What ``upload_folder`` did: new or changed files uploaded, identical ones skipped."""

    uploaded: list[str]
    unchanged: list[str]
    skipped: list[str]  # not regular files (links, sockets...), never uploaded


def _local_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def upload_folder(
    services: Context[CaptionSettings],
    source: Path,
    config_type: str,
    *,
    force: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> UploadSummary:
    """Upload every file under ``source`` as ``<config_type>/<relative path>``.

    This is what an annotation tool does. A file whose bytes are already the live object's is
    not uploaded again (like ``gsutil rsync``), so running it twice changes nothing; with
    ``force`` every file is uploaded again (new generations, ingested afresh: e.g. after a
    config type or task was added to the configuration).
    """
    if not source.is_dir():
        raise ConfigError(f"{source} is not a folder")
    if config_type not in services.settings.task_sets:
        known = ", ".join(sorted(services.settings.task_sets))
        raise ConfigError(f"unknown config type {config_type!r} (known: {known})")
    bucket = services.settings.annotations_bucket
    live = {info.name: info.md5_hash for info in services.blobs.list(bucket, f"{config_type}/")}
    uploaded: list[str] = []
    unchanged: list[str] = []
    skipped: list[str] = []
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(source).as_posix()
        if path.is_symlink() or not path.is_file():
            skipped.append(relative)
            continue
        name = f"{config_type}/{relative}"
        if not force and live.get(name) == _local_md5(path):
            unchanged.append(name)
        else:
            content_type = "application/x-ndjson" if name.endswith(".jsonl") else "application/json"
            services.blobs.write(bucket, name, path.read_bytes(), content_type=content_type)
            uploaded.append(name)
        if on_file is not None:
            on_file(name)
    return UploadSummary(uploaded, unchanged, skipped)

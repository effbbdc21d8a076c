"""Upload a campaign folder into the annotations bucket (unchanged files skipped)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.captions.layout import InvalidFileError, parse_object_name
from shared.captions.settings import CaptionSettings
from shared.core.errors import ConfigError
from shared.platform.context import Context


@dataclass(frozen=True)
class UploadSummary:
    """What ``upload_folder`` did: new or changed files uploaded, identical ones skipped."""

    uploaded: list[str]
    unchanged: list[str]
    skipped: list[str]  # not regular files (links, sockets...), never uploaded
    not_in_layout: list[str] = field(default_factory=list)  # "<path>: why", never uploaded


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
    """Upload every file under ``source`` that fits the drop layout as
    ``<config_type>/<relative path>``; the others are listed, not uploaded, and a folder
    where no file fits is refused before anything is written.

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
    files: list[tuple[Path, str]] = []
    skipped: list[str] = []
    not_in_layout: list[str] = []
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(source).as_posix()
        if path.is_symlink() or not path.is_file():
            skipped.append(relative)
            continue
        name = f"{config_type}/{relative}"
        try:
            parse_object_name(name)
        except InvalidFileError as exc:
            not_in_layout.append(f"{path}: {exc}")
            continue
        files.append((path, name))
    if not files:
        found = len(not_in_layout) + len(skipped)
        example = f" (e.g. {not_in_layout[0]})" if not_in_layout else ""
        raise ConfigError(
            f"{source}: not a campaign folder: none of its {found} file(s) is "
            f"<task>/<video_id>_{{feedback,feedback_prev,review}}.json or videos/*.jsonl" + example
        )
    bucket = services.settings.annotations_bucket
    live = {info.name: info.md5_hash for info in services.blobs.list(bucket, f"{config_type}/")}
    uploaded: list[str] = []
    unchanged: list[str] = []
    for path, name in files:
        if not force and live.get(name) == _local_md5(path):
            unchanged.append(name)
        else:
            content_type = "application/x-ndjson" if name.endswith(".jsonl") else "application/json"
            services.blobs.write(bucket, name, path.read_bytes(), content_type=content_type)
            uploaded.append(name)
        if on_file is not None:
            on_file(name)
    return UploadSummary(uploaded, unchanged, skipped, not_in_layout)

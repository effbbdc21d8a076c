"""Bring a local folder up to date with objects under a bucket prefix (a one-way mirror).

Each file is written whole (a temporary file in the same folder, then renamed), so a reader
never sees half a file and an interrupted copy leaves the previous version. A file whose size
and modification time match the object's is left alone: the copy stamps each file with its
object's update time, so re-running copies only what changed since.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from shared.core.errors import PermanentError
from shared.core.files import write_whole
from shared.ports.blobstore import BlobInfo, BlobStore


@dataclass(frozen=True)
class CopyResult:
    """What a mirror did: files written and files already up to date."""

    copied: int
    unchanged: int


def mirror_prefixes(
    blobs: BlobStore, bucket: str, root: str, prefixes: Iterable[str], local: Path
) -> CopyResult:
    """Copy the objects ``<root>/<prefix>...`` to ``local/<prefix>...`` (names relative to
    ``root``), writing only the new or changed ones."""
    copied = unchanged = 0
    base = root.rstrip("/") + "/"
    for prefix in prefixes:
        for info in blobs.list(bucket, base + prefix):
            target = _local_path(local, info.name.removeprefix(base))
            if _up_to_date(target, info):
                unchanged += 1
                continue
            data = blobs.read(bucket, info.name, generation=info.generation)
            write_whole(target, data, mtime_ns=_mtime_ns(info))
            copied += 1
    return CopyResult(copied=copied, unchanged=unchanged)


def _local_path(local: Path, relative: str) -> Path:
    parts = PurePosixPath(relative).parts
    if not parts or any(part in ("", ".", "..") for part in parts):
        raise PermanentError(f"{relative!r}: an object name that cannot be a local file")
    return local.joinpath(*parts)


def _up_to_date(target: Path, info: BlobInfo) -> bool:
    try:
        stat = target.stat()
    except FileNotFoundError:
        return False
    return stat.st_size == info.size and stat.st_mtime_ns == _mtime_ns(info)


def _mtime_ns(info: BlobInfo) -> int:
    return int(info.updated.timestamp() * 1_000_000) * 1_000

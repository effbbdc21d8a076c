"""The file side of the local blob store: object names, what a bucket folder may hold,
hashes, and the folders it keeps.

Besides the bucket folders, ``LocalBlobStore`` keeps ``.tmp/`` (uploads being written, renamed
into place when done) and ``.versions/`` (noncurrent generations, kept as hard links for a
week like the versioned cloud buckets). These helpers take the store's root folder and hold
no state of their own.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from shared.core.dropfiles import (
    MAX_COMPONENT_BYTES,
    file_kind_problem,
    object_name_problem,
    shown_name,
)
from shared.core.errors import PermanentError

log = logging.getLogger("vidcurate.blobstore")

TMP_DIR = ".tmp"
STALE_UPLOAD_SECONDS = 3600.0
VERSIONS_DIR = ".versions"
NONCURRENT_RETENTION_SECONDS = 7 * 24 * 3600.0  # like the buckets' lifecycle rule in terraform


def check_name(bucket: str, name: str) -> None:
    """PermanentError unless ``bucket`` and ``name`` can be a folder and a file path here."""
    if not bucket or "/" in bucket or bucket.startswith("."):
        raise PermanentError(f"invalid bucket name '{shown_name(bucket)}'")
    problem = name_problem(name)
    if problem is not None:
        raise PermanentError(
            f"gs://{bucket}: object name '{shown_name(name)}' cannot be stored locally: {problem}"
        )


def name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an object of a local bucket, or None: Cloud Storage's rules
    (UTF-8, at most 1,024 bytes, no control characters) and a path a folder can hold."""
    problem = object_name_problem(name)
    if problem is not None:
        return problem
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        return "an empty, '.' or '..' path segment"
    if any(len(part.encode()) > MAX_COMPONENT_BYTES for part in parts):
        return f"a path segment longer than {MAX_COMPONENT_BYTES} bytes"
    return None


def refusal(name: str, mode: int, *, registered: bool = False) -> str | None:
    """Why a file found in a bucket folder (its name there, its ``lstat`` mode) is not an
    object, or None. A bucket holds regular files with usable names only: links (never
    followed), FIFOs, sockets and devices are refused, and so are names that are not UTF-8,
    hold a control character or are longer than Cloud Storage allows. The name of a
    ``registered`` object passed when it was registered: only its kind is looked at again."""
    return file_kind_problem(mode) or (None if registered else name_problem(name))


def remove_stale_uploads(root: Path) -> None:
    """Delete temp files of writers killed before their rename."""
    # Live writers' files are young: only old ones can be leftovers.
    horizon = time.time() - STALE_UPLOAD_SECONDS
    for leftover in (root / TMP_DIR).glob("upload-*"):
        with contextlib.suppress(FileNotFoundError):
            if leftover.stat().st_mtime < horizon:
                leftover.unlink()


def remove_old_versions(root: Path) -> None:
    """Delete noncurrent versions kept longer than the retention."""
    horizon = time.time() - NONCURRENT_RETENTION_SECONDS
    for entry in walk_files(os.path.join(root, VERSIONS_DIR)):
        with contextlib.suppress(FileNotFoundError):
            if entry.stat(follow_symlinks=False).st_mtime < horizon:
                os.unlink(entry.path)


def version_path(root: Path, bucket: str, name: str, generation: int) -> Path:
    """Where a noncurrent generation of an object is kept."""
    return root / VERSIONS_DIR / bucket / f"{name}#{generation}"


def keep_version(root: Path, path: Path, bucket: str, name: str, generation: int) -> None:
    """Keep a generation that stops being live, as the versioned cloud buckets do.

    A hard link (no copy) taken before the replace; if the name is too long for a
    version file, the old generation is simply not kept (it reads as not found).
    """
    target = version_path(root, bucket, name, generation)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            os.link(path, target, follow_symlinks=False)  # a link swapped in stays a link
        os.utime(target)  # retention counts from when it became noncurrent
    except OSError:
        log.debug("could not keep gs://%s/%s#%s", bucket, name, generation)


def remove_empty_folders(root: Path, bucket: str, folder: Path) -> None:
    """Remove ``folder`` and its parents inside the bucket while they are empty."""
    # Objects have no folders in GCS: an empty one left behind would stop a later
    # object from taking its name.
    base = root / bucket
    while folder != base and base in folder.parents:
        try:
            folder.rmdir()
        except OSError:
            return  # not empty (or gone): the folders above are not empty either
        folder = folder.parent


def walk_files(folder: str) -> Iterator[os.DirEntry[str]]:
    """Every entry below ``folder`` that is not a folder (links included, never followed
    into other folders); a folder that cannot be listed is passed over."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if entry.is_dir(follow_symlinks=False):
            yield from walk_files(entry.path)
        else:
            yield entry


def walk_sorted(
    folder: str, relative: str = "", wanted: str = ""
) -> Iterator[tuple[str, os.DirEntry[str]]]:
    """``(name, entry)`` of every file below ``folder`` whose name (``relative`` + its path
    inside, with ``/``) starts with ``wanted``, lazily, in name order (as object names sort:
    a folder sorts as its name followed by ``/``). Links (and other entries that are not
    folders) are yielded for the caller to judge, never followed into other folders."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    keyed = []
    for entry in entries:
        is_dir = entry.is_dir(follow_symlinks=False)
        key = relative + entry.name + ("/" if is_dir else "")
        # Only what can still start with ``wanted``: a name under it, or a folder above it.
        if key.startswith(wanted) or (is_dir and wanted.startswith(key)):
            keyed.append((key, is_dir, entry))
    keyed.sort(key=lambda item: item[0])
    for key, is_dir, entry in keyed:
        if is_dir:
            yield from walk_sorted(entry.path, key, wanted)
        else:
            yield key, entry


def hash_stream(handle: IO[bytes]) -> tuple[int, str]:
    """Size and base64 MD5 of what is left to read in ``handle``, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    while chunk := handle.read(1 << 20):
        digest.update(chunk)
        size += len(chunk)
    return size, base64.b64encode(digest.digest()).decode("ascii")


def guess_type(name: str) -> str:
    """The content type of a file dropped by hand, from its name."""
    import mimetypes  # noqa: PLC0415 (only files dropped by hand need a guess)

    return mimetypes.guess_type(name)[0] or "application/octet-stream"

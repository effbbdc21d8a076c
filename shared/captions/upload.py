"""Upload a campaign folder into the annotations bucket (unchanged files skipped).

The folder comes from anyone: only regular files with usable names and sizes within the
ingest limits are read, each through a descriptor that follows no link and never waits on a
FIFO; every other file is refused with why, and the rest goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from shared.captions.layout import InvalidFileError, VideoListName, parse_object_name
from shared.captions.settings import CaptionSettings
from shared.core.dropfiles import (
    RefusedFileError,
    file_kind_problem,
    object_name_problem,
    open_regular,
    shown_name,
    walk_entries,
)
from shared.core.errors import ConfigError, PermanentError
from shared.platform.context import Context
from shared.ports import md5_base64


@dataclass(frozen=True)
class UploadSummary:
    """What ``upload_folder`` did: new or changed files uploaded, identical ones skipped."""

    uploaded: list[str]
    unchanged: list[str]
    # "<path>: why" of files never read nor uploaded: links, FIFOs and other special files,
    # names no object can have, files over the ingest limits, files the bucket refused.
    refused: list[str] = field(default_factory=list)
    not_in_layout: list[str] = field(default_factory=list)  # "<path>: why", never uploaded


@dataclass(frozen=True)
class _Candidate:
    """A file of the folder that fits the layout: where it is, its object name, its limit."""

    relative: str
    name: str
    limit: int


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
    config type or task was added to the configuration). Files are read one at a time and
    never beyond the ingest limit of their kind.
    """
    if not source.is_dir():
        raise ConfigError(f"{source} is not a folder")
    if config_type not in services.settings.task_sets:
        known = ", ".join(sorted(services.settings.task_sets))
        raise ConfigError(f"unknown config type {config_type!r} (known: {known})")
    files, refused, not_in_layout = _survey(services.settings, source, config_type)
    if not files:
        found = len(not_in_layout) + len(refused)
        example = f" (e.g. {(not_in_layout or refused)[0]})" if found else ""
        raise ConfigError(
            f"{source}: not a campaign folder: none of its {found} file(s) is "
            f"<task>/<video_id>_{{feedback,feedback_prev,review}}.json or videos/*.jsonl" + example
        )
    bucket = services.settings.annotations_bucket
    live = {info.name: info.md5_hash for info in services.blobs.list(bucket, f"{config_type}/")}
    uploaded: list[str] = []
    unchanged: list[str] = []
    for file in files:
        shown = shown_name(str(source / file.relative))
        try:
            data = _read_within(source, file)
            if not force and live.get(file.name) == md5_base64(data):
                unchanged.append(file.name)
            else:
                kind = "x-ndjson" if file.name.endswith(".jsonl") else "json"
                services.blobs.write(bucket, file.name, data, content_type=f"application/{kind}")
                uploaded.append(file.name)
        except FileNotFoundError:
            refused.append(f"{shown}: removed while the folder was uploaded")
        except PermanentError as exc:
            refused.append(f"{shown}: {exc}")
        if on_file is not None:
            on_file(file.name)
    return UploadSummary(uploaded, unchanged, refused, not_in_layout)


def _survey(
    settings: CaptionSettings, source: Path, config_type: str
) -> tuple[list[_Candidate], list[str], list[str]]:
    """The files to upload, the refused ones and those outside the layout, from what the
    folder's entries are (``lstat``) and their names: nothing is opened yet."""
    files: list[_Candidate] = []
    refused: list[str] = []
    not_in_layout: list[str] = []
    for relative, entry in walk_entries(str(source)):
        shown = shown_name(str(source / relative))
        name = f"{config_type}/{relative}"
        try:
            found = entry.stat(follow_symlinks=False)
        except FileNotFoundError:
            continue
        problem = file_kind_problem(found.st_mode) or object_name_problem(name)
        if problem is not None:
            refused.append(f"{shown}: {problem}")
            continue
        try:
            parsed = parse_object_name(name)
        except InvalidFileError as exc:
            not_in_layout.append(f"{shown}: {exc}")
            continue
        is_list = isinstance(parsed, VideoListName)
        limit = settings.max_video_list_bytes if is_list else settings.max_annotation_bytes
        if found.st_size > limit:
            refused.append(f"{shown}: {_too_large(found.st_size, limit, is_list=is_list)}")
            continue
        files.append(_Candidate(relative, name, limit))
    return files, refused, not_in_layout


def _read_within(source: Path, file: _Candidate) -> bytes:
    """The file's bytes, read through a descriptor checked to be a regular file (no link
    followed, no FIFO waited on), and never more than its limit: a file that grew past it
    since the survey is refused."""
    try:
        with open_regular(source, file.relative) as handle:
            data = handle.read(file.limit + 1)
    except RefusedFileError as exc:
        raise PermanentError(exc.reason) from exc
    except (IsADirectoryError, NotADirectoryError) as exc:
        raise FileNotFoundError(file.relative) from exc
    except PermissionError as exc:
        raise PermanentError(f"cannot be read ({exc.strerror})") from exc
    if len(data) > file.limit:
        is_list = file.name.endswith(".jsonl")
        raise PermanentError(_too_large(None, file.limit, is_list=is_list))
    return data


def _too_large(size: int | None, limit: int, *, is_list: bool) -> str:
    """Why a file is not uploaded: its size (None: it grew while read) against the limit."""
    setting = "VIDCURATE_MAX_VIDEO_LIST_BYTES" if is_list else "VIDCURATE_MAX_ANNOTATION_BYTES"
    what = "grew" if size is None else f"{size:,} bytes,"
    return f"{what} over the {limit:,}-byte limit of ingested files ({setting}); not read"

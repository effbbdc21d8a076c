"""The annotations bucket's layout: which object names are task files and video lists."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from shared.core.dropfiles import MAX_OBJECT_NAME_BYTES, shown_name

# Config types and task names become object-name segments and document ids.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")
VIDEO_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")


FILE_KINDS = ("feedback", "feedback_prev", "review")


FileKind = Literal["feedback", "feedback_prev", "review"]


_TASK_FILE = re.compile(
    r"(?P<video_id>.+?)_(?P<kind>feedback_prev|feedback|review)\.json",
)


class InvalidFileError(ValueError):
    """A dropped file that cannot be ingested; the message names the file and the field."""


@dataclass(frozen=True)
class TaskFileName:
    """``<config_type>/<task>/<video_id>_<kind>.json``."""

    config_type: str
    task: str
    video_id: str
    kind: FileKind


@dataclass(frozen=True)
class VideoListName:
    """``<config_type>/videos/<any>.jsonl``."""

    config_type: str
    name: str


def parse_object_name(name: str) -> TaskFileName | VideoListName:
    """Classify an object name of the annotations bucket, or raise InvalidFileError.

    Names are untrusted (they come from whoever can write to the bucket): anything outside
    the layout, with path tricks, control characters or unusual characters is refused with a
    reason, so it can be quarantined rather than land in a document id or a path.
    """
    try:
        name.encode("utf-8")
    except UnicodeEncodeError as exc:  # a local file's name (GCS holds none such)
        raise InvalidFileError(f"{shown_name(name)}: the name is not valid UTF-8") from exc
    if len(name.encode("utf-8", errors="replace")) > MAX_OBJECT_NAME_BYTES:
        raise InvalidFileError(f"{name[:80]!r}...: object name longer than 1024 bytes")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in name) or "\\" in name:
        raise InvalidFileError(f"{name!r}: control characters or backslashes in the object name")
    parts = name.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidFileError(f"{name!r}: empty, '.' or '..' path segment")
    if len(parts) != 3:
        raise InvalidFileError(
            f"{name!r}: not in the drop layout <config_type>/<task>/<video_id>_<kind>.json "
            "or <config_type>/videos/<name>.jsonl"
        )
    config_type, folder, file_name = parts
    if not NAME_PATTERN.fullmatch(config_type):
        raise InvalidFileError(f"{name!r}: invalid config type {config_type!r}")
    if folder == "videos":
        if not file_name.endswith(".jsonl"):
            raise InvalidFileError(f"{name!r}: files under videos/ must be .jsonl video lists")
        return VideoListName(config_type=config_type, name=name)
    if not NAME_PATTERN.fullmatch(folder):
        raise InvalidFileError(f"{name!r}: invalid task name {folder!r}")
    match = _TASK_FILE.fullmatch(file_name)
    if match is None:
        raise InvalidFileError(
            f"{name!r}: file name must be <video_id>_feedback.json, "
            "<video_id>_feedback_prev.json or <video_id>_review.json"
        )
    video_id = match["video_id"]
    if not VIDEO_ID_PATTERN.fullmatch(video_id):
        raise InvalidFileError(
            f"{name!r}: invalid video_id {video_id!r} (letters, digits, '.', '_', '-')"
        )
    kind: FileKind = match["kind"]  # type: ignore[assignment]
    return TaskFileName(config_type=config_type, task=folder, video_id=video_id, kind=kind)

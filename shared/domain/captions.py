"""The caption workflow: what annotation tools drop, and the status derived from it.

Everything here is pure: object names in, typed files and statuses out. The ingestion service
(``shared/services/captions.py``) stores what this module computes.

Drop layout (the contract with annotation tools)::

    <config_type>/videos/<any>.jsonl                      {"video_id", "video_url"} per line
    <config_type>/<task>/<video_id>_feedback.json         annotator's (or reviewer's) workflow
    <config_type>/<task>/<video_id>_feedback_prev.json    annotator's version after a rejection
    <config_type>/<task>/<video_id>_review.json           reviewer's decision
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
)

from shared.config import NAME_PATTERN

VIDEO_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,199}")
FILE_KINDS = ("feedback", "feedback_prev", "review")
FileKind = Literal["feedback", "feedback_prev", "review"]
_TASK_FILE = re.compile(
    r"(?P<video_id>.+?)_(?P<kind>feedback_prev|feedback|review)\.json",
)
MAX_OBJECT_NAME_BYTES = 1024


class Status(StrEnum):
    """The state of one (video, task)."""

    NOT_COMPLETED = "not_completed"
    COMPLETED_NOT_REVIEWED = "completed_not_reviewed"
    APPROVED = "approved"
    REJECTED = "rejected"


STATUSES: tuple[Status, ...] = tuple(Status)
REVIEWED = frozenset({Status.APPROVED, Status.REJECTED})


class EdgeCase(StrEnum):
    """Combinations of files that do not make a clean workflow state."""

    REVIEW_WITHOUT_FEEDBACK = "review_without_feedback"
    REJECTED_WITHOUT_FEEDBACK_PREV = "rejected_without_feedback_prev"
    FEEDBACK_PREV_IDENTICAL = "feedback_prev_identical_to_feedback"
    APPROVED_WITH_FEEDBACK_PREV = "approved_with_feedback_prev"
    FEEDBACK_PREV_WITHOUT_REVIEW = "feedback_prev_without_review"
    FEEDBACK_PREV_WITHOUT_FEEDBACK = "feedback_prev_without_feedback"
    TASK_NOT_IN_CONFIG = "task_not_in_config"
    VIDEO_NOT_REGISTERED = "video_not_registered"


class InvalidFileError(ValueError):
    """A dropped file that cannot be ingested; the message names the file and the field."""


# --- object names ---------------------------------------------------------------------------


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


# --- file contents --------------------------------------------------------------------------


class Feedback(BaseModel):
    """The whole caption workflow an annotator (or a rejecting reviewer) saved.

    Stage 1 rates a pre-generated caption; stage 2, when feedback is needed, turns feedback
    into an improved caption. Unknown fields are kept: tools add fields before we know them.
    """

    model_config = ConfigDict(extra="allow")

    pre_caption: str | None = None
    pre_caption_prompt: str | None = None
    pre_caption_llm: str | None = None
    pre_caption_mode: Literal["Text", "Image", "Video"] | None = None
    initial_caption_rating_score: StrictInt | None = Field(None, ge=1, le=5)
    feedback_is_needed: StrictBool | None = None
    initial_feedback: str | None = None
    gpt_feedback: str | None = None
    gpt_feedback_llm: str | None = None
    gpt_feedback_prompt: str | None = None
    feedback_rating_score: StrictInt | None = Field(None, ge=1, le=5)
    final_feedback: str | None = None
    gpt_caption: str | None = None
    gpt_caption_prompt: str | None = None
    gpt_caption_llm: str | None = None
    caption_rating_score: StrictInt | None = Field(None, ge=1, le=5)
    final_caption: str
    user: str
    timestamp: str | None = None
    workflow_type: Literal["perfect_precaption", "improved_precaption"] | None = None

    @field_validator("final_caption", "user")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class Review(BaseModel):
    """A reviewer's decision on one (video, task)."""

    model_config = ConfigDict(extra="allow")

    reviewer: str
    review_timestamp: str | None = None
    reviewer_double_check: StrictBool

    @field_validator("reviewer")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be empty")
        return value


class VideoEntry(BaseModel):
    """One line of a ``videos/*.jsonl`` file."""

    model_config = ConfigDict(extra="ignore")

    video_id: str
    video_url: str

    @field_validator("video_id")
    @classmethod
    def _safe_id(cls, value: str) -> str:
        if not VIDEO_ID_PATTERN.fullmatch(value):
            raise ValueError("letters, digits, '.', '_', '-' only (at most 200)")
        return value


def _field_errors(exc: ValidationError) -> str:
    return "; ".join(
        f"field {'.'.join(str(p) for p in error['loc']) or '(document)'}: {error['msg']}"
        for error in exc.errors()
    )


INT64 = (-(2**63), 2**63 - 1)


def _reject_constant(token: str) -> Any:
    raise ValueError(f"{token} is not a JSON number (the document store cannot hold it)")


def _int64(text: str) -> int:
    value = int(text)
    if not INT64[0] <= value <= INT64[1]:
        raise ValueError(f"integer {text[:30]} does not fit in 64 bits")
    return value


def _json_object(name: str, data: bytes | str) -> dict[str, Any]:
    try:
        # utf-8-sig: some Windows tools write a byte-order mark; other encodings are refused.
        value = json.loads(
            data.decode("utf-8-sig") if isinstance(data, bytes) else data,
            parse_constant=_reject_constant,
            parse_int=_int64,
        )
    except UnicodeDecodeError as exc:
        raise InvalidFileError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    except json.JSONDecodeError as exc:
        raise InvalidFileError(
            f"{name}: not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:  # NaN, Infinity, an integer beyond 64 bits
        raise InvalidFileError(f"{name}: {exc}") from exc
    if not isinstance(value, dict):
        raise InvalidFileError(f"{name}: expected a JSON object, got {type(value).__name__}")
    return value


def parse_task_file(name: str, kind: FileKind, data: bytes) -> dict[str, Any]:
    """Validate a feedback/review file; return its JSON object exactly as written."""
    content = _json_object(name, data)
    model: type[BaseModel] = Review if kind == "review" else Feedback
    try:
        model.model_validate(content)
    except ValidationError as exc:
        raise InvalidFileError(f"{name}: {_field_errors(exc)}") from exc
    return content


def parse_video_list(name: str, data: bytes) -> dict[str, str]:
    """``video_id -> video_url`` from a JSON-lines file; any bad line rejects the file."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidFileError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    videos: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{name} line {number}"
        content = _json_object(where, line)
        try:
            entry = VideoEntry.model_validate(content)
        except ValidationError as exc:
            raise InvalidFileError(f"{where}: {_field_errors(exc)}") from exc
        if entry.video_id in videos and videos[entry.video_id] != entry.video_url:
            raise InvalidFileError(
                f"{where}: field video_id: {entry.video_id!r} listed twice with different URLs"
            )
        videos[entry.video_id] = entry.video_url
    return videos


# --- deriving the status --------------------------------------------------------------------


@dataclass(frozen=True)
class Derived:
    """The status of a (video, task) and the edge cases its files show."""

    status: Status
    edge_cases: tuple[tuple[EdgeCase, str], ...] = ()


def derive_status(files: Mapping[str, Mapping[str, Any]]) -> Derived:
    """Status from the valid files present (``kind -> content``), never from event order.

    Whether the task belongs to the config, and whether the video is registered, depend on
    configuration and other files: exports check those (``shared/services/exports.py``).
    """
    feedback = files.get("feedback")
    previous = files.get("feedback_prev")
    review = files.get("review")
    edges: list[tuple[EdgeCase, str]] = []
    if feedback is None:
        if review is not None:
            edges.append((EdgeCase.REVIEW_WITHOUT_FEEDBACK, "a review exists but no feedback"))
        elif previous is not None:
            edges.append(
                (EdgeCase.FEEDBACK_PREV_WITHOUT_FEEDBACK, "feedback_prev exists but no feedback")
            )
        return Derived(Status.NOT_COMPLETED, tuple(edges))
    if review is None:
        if previous is not None:
            edges.append(
                (
                    EdgeCase.FEEDBACK_PREV_WITHOUT_REVIEW,
                    "feedback_prev exists but no review decided the task",
                )
            )
        return Derived(Status.COMPLETED_NOT_REVIEWED, tuple(edges))
    if review.get("reviewer_double_check") is True:
        if previous is not None:
            edges.append(
                (
                    EdgeCase.APPROVED_WITH_FEEDBACK_PREV,
                    "approved by the reviewer but a feedback_prev (rejection copy) exists",
                )
            )
        return Derived(Status.APPROVED, tuple(edges))
    if previous is None:
        edges.append(
            (
                EdgeCase.REJECTED_WITHOUT_FEEDBACK_PREV,
                "rejected but not improved: no feedback_prev with the annotator's version",
            )
        )
    elif previous.get("final_caption") == feedback.get("final_caption"):
        edges.append(
            (
                EdgeCase.FEEDBACK_PREV_IDENTICAL,
                "rejected, but feedback_prev has the same final_caption as feedback",
            )
        )
    return Derived(Status.REJECTED, tuple(edges))

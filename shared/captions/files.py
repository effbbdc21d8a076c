"""The caption workflow: what annotation tools drop, and the status derived from it.

Everything here is pure: object names in, typed files and statuses out. The ingestion service
(``shared/captions/ingest.py``) stores what this module computes.

Drop layout (the contract with annotation tools)::

    <config_type>/videos/<any>.jsonl                      {"video_id", "video_url"} per line
    <config_type>/<task>/<video_id>_feedback.json         annotator's (or reviewer's) workflow
    <config_type>/<task>/<video_id>_feedback_prev.json    annotator's version after a rejection
    <config_type>/<task>/<video_id>_review.json           reviewer's decision
"""

from __future__ import annotations

import re
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

from shared.captions.layout import VIDEO_ID_PATTERN, FileKind, InvalidFileError
from shared.core.jsonio import InvalidJsonError, decode_json

# JSON-lines records end at \n, \r\n or \r only: str.splitlines() would also cut at
# U+2028, U+0085 and others, which JSON allows unescaped inside strings.
_LINE_BREAK = re.compile(r"\r\n?|\n")


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


def _json_object(name: str, data: bytes | str) -> dict[str, Any]:
    """The JSON object of a file (or one line of it), parsed as the exports will read it.

    Anything the document store or an export could not hold (NaN, ``1e400``, a lone
    surrogate, nesting deeper than ``MAX_JSON_DEPTH``, an integer beyond 64 bits) is refused
    here, with the reason, so the file is quarantined on its first delivery.
    """
    try:
        # utf-8-sig: some Windows tools write a byte-order mark; other encodings are refused.
        text = data.decode("utf-8-sig") if isinstance(data, bytes) else data
    except UnicodeDecodeError as exc:
        raise InvalidFileError(f"{name}: not UTF-8 text ({exc.reason})") from exc
    try:
        value = decode_json(text)
    except InvalidJsonError as exc:
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
    for number, line in enumerate(_LINE_BREAK.split(text), start=1):
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

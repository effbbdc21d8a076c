"""Storing clips with their word mappings: the batch-upload contract.

``POST /v3/admin/videos/batch-upload`` and the discovery pipeline's last stage both store
through :func:`store_videos`. Per video, in this order:

1. checks, before anything is written: a known format, base64 that decodes, the declared
   size equal to the bytes', under the size limit, and bytes that open as a video with a
   video stream: a failure is that video's ``failed`` entry with the reason;
2. the bytes go to the discovery bucket (``videos/<id>.<format>``, create-only);
3. the ``videos`` document is created: ``created``, or ``existed`` when that (name, format)
   was stored before (the first upload's bytes and fields stay);
4. each mapping is created unless it exists (``mappings_created`` / ``mappings_skipped``);
   a mapping to a word outside the vocabulary is refused with the reason, and its video's
   other mappings are stored.

Bytes land before the document that points at them, so a crash in between leaves an object
no document names yet, which the retried upload adopts; a reader never sees a document
without its bytes. Uploading the same batch again changes nothing.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.core.errors import AlreadyExistsError, PreconditionFailedError
from shared.core.words import normalise_word
from shared.discovery.settings import DiscoverySettings
from shared.discovery.store import VIDEOS, MappingRecord, create_mapping, video_id
from shared.platform.context import Context
from shared.ports import SERVER_TIMESTAMP

__all__ = [
    "FORMATS",
    "BatchUpload",
    "BatchUploadResult",
    "UploadMapping",
    "UploadVideo",
    "UploadedVideo",
    "VideoFields",
    "store_video",
    "store_videos",
]

FORMATS: Mapping[str, str] = {
    "mp4": "video/mp4",
    "m4v": "video/x-m4v",
    "mov": "video/quicktime",
    "webm": "video/webm",
    "mkv": "video/x-matroska",
}


class UploadMapping(BaseModel):
    """One word the video teaches."""

    model_config = ConfigDict(extra="forbid")

    word: str = Field(min_length=1, max_length=200)
    learning_language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    relevance_score: float = Field(ge=0, le=1)
    transcript_source: Literal["metadata", "audio"] = "metadata"
    timestamp: float | None = Field(None, ge=0, description="When the word is said (s).")


class VideoFields(BaseModel):
    """A video to store, without its bytes."""

    model_config = ConfigDict(extra="forbid")

    slug: str = Field(min_length=1, max_length=300)
    name: str = Field(min_length=1, max_length=300)
    format: str = Field(min_length=1, max_length=10)
    transcript: str = ""
    audio_transcript: str = ""
    verified: bool = False
    whisper_metadata: dict[str, Any] = Field(default_factory=dict)
    metadata: dict[str, Any] = Field(default_factory=dict)
    word_mappings: list[UploadMapping] = Field(default_factory=list)


class UploadVideo(VideoFields):
    """One video of a batch, its bytes in base64."""

    video_base64: str = Field(min_length=1, description="The video's bytes, base64.")
    size: int = Field(ge=1, description="The video's size in bytes, checked against the body.")


class BatchUpload(BaseModel):
    """The body of a batch upload."""

    model_config = ConfigDict(extra="forbid")

    source_id: str = Field(min_length=1, max_length=200)
    videos: list[UploadVideo] = Field(min_length=1, max_length=100)


class RefusedMapping(BaseModel):
    """A mapping that was not stored, and why."""

    word: str
    reason: str


class UploadedVideo(BaseModel):
    """What happened to one video."""

    slug: str
    name: str
    video_id: str | None = None
    status: Literal["created", "existed", "failed"]
    mappings_created: int = 0
    mappings_skipped: int = 0
    mappings_refused: list[RefusedMapping] = Field(default_factory=list)
    error: str | None = None


class BatchUploadResult(BaseModel):
    """What happened to each video of a batch, in its order."""

    source_id: str
    results: list[UploadedVideo]


def store_videos(services: Context[DiscoverySettings], upload: BatchUpload) -> BatchUploadResult:
    """Store each video of ``upload`` and its mappings (see the module docstring)."""
    return BatchUploadResult(
        source_id=upload.source_id,
        results=[_store_one(services, upload.source_id, video) for video in upload.videos],
    )


def _failed(video: UploadVideo, reason: str) -> UploadedVideo:
    return UploadedVideo(slug=video.slug, name=video.name, status="failed", error=reason)


def _decode(services: Context[DiscoverySettings], video: UploadVideo) -> bytes | str:
    """The checked bytes, or why they are refused."""
    fmt = video.format.lower()
    if fmt not in FORMATS:
        return f"format {video.format!r} is not one of {', '.join(FORMATS)}"
    limit = services.settings.max_upload_bytes
    if video.size > limit:
        return f"{video.size} bytes is over the {limit}-byte limit"
    if len(video.video_base64) > (limit + 2) // 3 * 4 + 4:
        return f"the body is over the {limit}-byte limit"
    try:
        data = base64.b64decode(video.video_base64, validate=True)
    except (binascii.Error, ValueError):
        return "video_base64 is not base64"
    if len(data) != video.size:
        return f"size says {video.size} bytes but the body holds {len(data)}"
    # PyAV loads here, when a video is checked, not wherever the upload models are imported.
    from shared.media.decode import VideoDecodeError, open_clip  # noqa: PLC0415

    try:
        with open_clip(io.BytesIO(data), video.slug) as clip:
            _ = clip.info
    except VideoDecodeError as exc:
        return f"not a video: {exc}"
    return data


def _store_one(
    services: Context[DiscoverySettings], source_id: str, video: UploadVideo
) -> UploadedVideo:
    data = _decode(services, video)
    if isinstance(data, str):
        return _failed(video, data)
    return store_video(services, source_id, video, data)


def store_video(
    services: Context[DiscoverySettings], source_id: str, video: VideoFields, data: bytes
) -> UploadedVideo:
    """Store checked bytes and their fields, then the mappings (steps 2-4 above)."""
    fmt = video.format.lower()
    vid = video_id(video.name, fmt)
    bucket = services.settings.discovery_bucket
    name = f"videos/{vid}.{fmt}"
    md5 = hashlib.md5(data, usedforsecurity=False).hexdigest()
    # Stored already by an earlier (or concurrent) upload of the same (name, format): kept.
    with contextlib.suppress(PreconditionFailedError):
        services.blobs.write(bucket, name, data, content_type=FORMATS[fmt], if_generation_match=0)
    status: Literal["created", "existed"] = "created"
    try:
        services.documents.create(
            f"{VIDEOS}/{vid}",
            {
                "name": video.name,
                "slug": video.slug,
                "format": fmt,
                "size": len(data),
                "md5": md5,
                "bucket": bucket,
                "object": name,
                "content_type": FORMATS[fmt],
                "transcript": video.transcript,
                "audio_transcript": video.audio_transcript,
                "whisper": video.whisper_metadata,
                "metadata": video.metadata,
                "verified": video.verified,
                "source_id": source_id,
                "created_at": SERVER_TIMESTAMP,
            },
        )
    except AlreadyExistsError:
        status = "existed"
    result = UploadedVideo(slug=video.slug, name=video.name, video_id=vid, status=status)
    for mapping in video.word_mappings:
        try:
            word = normalise_word(mapping.word)
        except ValueError:
            result.mappings_refused.append(RefusedMapping(word=mapping.word, reason="not a word"))
            continue
        outcome = create_mapping(
            services.documents,
            MappingRecord(
                word=word,
                language=mapping.learning_language,
                video_id=vid,
                relevance_score=mapping.relevance_score,
                transcript_source=mapping.transcript_source,
                timestamp=mapping.timestamp,
                verified=video.verified,
                source_id=source_id,
            ),
        )
        if outcome == "created":
            result.mappings_created += 1
        elif outcome == "skipped":
            result.mappings_skipped += 1
        else:
            result.mappings_refused.append(
                RefusedMapping(
                    word=mapping.word,
                    reason=f"unknown word in {mapping.learning_language!r}: not in the "
                    "vocabulary (discover run or discover bundles load adds words)",
                )
            )
    return result

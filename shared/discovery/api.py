"""What the HTTP API (``/v3/...`` on the web app) asks of discovery: store a batch of clips,
a word's clips by relevance, a stored clip's object, a bundle's coverage.

Light to import (no PyAV until an uploaded video is checked), so the web app loads it with
its pages.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import BaseModel

from shared.core.words import normalise_word
from shared.discovery.bundles import BundleCoverage, coverage
from shared.discovery.settings import DiscoverySettings
from shared.discovery.store import VIDEOS, WORDS, videos_for_word, word_doc_id
from shared.discovery.upload import BatchUpload, BatchUploadResult, store_videos
from shared.platform.context import Context

__all__ = [
    "BatchUpload",
    "BatchUploadResult",
    "BundleCoverage",
    "StoredObject",
    "WordVideo",
    "WordVideos",
    "bundle_coverage",
    "store_videos",
    "stored_object",
    "word_videos",
]


class WordVideo(BaseModel):
    """One clip that teaches the word."""

    video_id: str
    url: str
    name: str
    format: str
    size: int
    relevance_score: float
    transcript_source: str
    timestamp: float | None
    verified: bool
    transcript: str


class WordVideos(BaseModel):
    """A word's clips, most relevant first."""

    word: str
    language: str
    videos: list[WordVideo]


def word_videos(
    services: Context[DiscoverySettings], word: str, language: str, limit: int
) -> WordVideos | None:
    """The word's clips by relevance (two reads: the mappings, then their videos), or None
    for a word that is not in the vocabulary; ValueError for one that is not a word."""
    normal = normalise_word(word)
    documents = services.documents
    if documents.get(f"{WORDS}/{word_doc_id(normal, language)}") is None:
        return None
    mappings = videos_for_word(documents, normal, language, limit)
    videos = documents.get_many([f"{VIDEOS}/{m.data['video_id']}" for m in mappings])
    found = []
    for mapping in mappings:
        video = videos.get(f"{VIDEOS}/{mapping.data['video_id']}")
        if video is None:
            continue
        found.append(
            WordVideo(
                video_id=video.id,
                url=f"/v3/videos/{video.id}",
                name=str(video.data["name"]),
                format=str(video.data["format"]),
                size=int(video.data["size"]),
                relevance_score=float(mapping.data["relevance_score"]),
                transcript_source=str(mapping.data["transcript_source"]),
                timestamp=mapping.data.get("timestamp"),
                verified=bool(video.data.get("verified")),
                transcript=str(video.data.get("transcript") or ""),
            )
        )
    return WordVideos(word=normal, language=language, videos=found)


@dataclass(frozen=True)
class StoredObject:
    """Where a stored clip's bytes are, and what the API says about them."""

    bucket: str
    name: str
    size: int
    md5: str
    content_type: str


def stored_object(services: Context[DiscoverySettings], video_id: str) -> StoredObject | None:
    """The stored clip's object, or None for an unknown id."""
    if not video_id or "/" in video_id:
        return None
    doc = services.documents.get(f"{VIDEOS}/{video_id}")
    if doc is None:
        return None
    data = doc.data
    return StoredObject(
        bucket=str(data["bucket"]),
        name=str(data["object"]),
        size=int(data["size"]),
        md5=str(data["md5"]),
        content_type=str(data.get("content_type") or "video/mp4"),
    )


def bundle_coverage(services: Context[DiscoverySettings], bundle: str) -> BundleCoverage | None:
    """The bundle's coverage, or None for an unknown bundle."""
    return coverage(services.documents, bundle)

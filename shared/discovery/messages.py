"""Messages and topics of word discovery: one message per word, then one per candidate clip
through each later stage.

    word-searches   → discover_search   (the clip source, through the global rate gate)
    clip-candidates → discover_score    (the candidate model maps the clip to words)
    clip-fetches    → discover_fetch    (download, audio, speech to text with word times)
    clip-reviews    → discover_review   (the final model; the clip and its words stored)

A clip's message carries the hit as the source described it, so no stage reads a search
answer again; its download link may have expired by the time it is fetched, which the fetch
stage repairs by searching again.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.topics import Topic
from shared.ports.clips import ClipHit

__all__ = [
    "CANDIDATES",
    "FETCHES",
    "REVIEWS",
    "WORD_SEARCHES",
    "CandidateClip",
    "Hit",
    "Mapped",
    "WordSearch",
]


class Hit(BaseModel):
    """A clip as the source described it (:class:`~shared.ports.clips.ClipHit`)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    clip_id: str
    slug: str
    title: str
    transcript: str
    duration_seconds: float | None = None
    subtitles: Any = None
    download_url: str | None = None
    views: int | None = None
    metadata: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, hit: ClipHit) -> Hit:
        """The message form of a port hit."""
        return cls(
            clip_id=hit.clip_id,
            slug=hit.slug,
            title=hit.title,
            transcript=hit.transcript,
            duration_seconds=hit.duration_seconds,
            subtitles=hit.subtitles,
            download_url=hit.download_url,
            views=hit.views,
            metadata=dict(hit.metadata),
        )

    def port(self) -> ClipHit:
        """The port form, for the source."""
        return ClipHit(
            clip_id=self.clip_id,
            slug=self.slug,
            title=self.title,
            transcript=self.transcript,
            duration_seconds=self.duration_seconds,
            subtitles=self.subtitles,
            download_url=self.download_url,
            views=self.views,
            metadata=self.metadata,
        )


class WordSearch(BaseModel):
    """One ``word-searches`` message: a word of a run."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str
    word: str


class Mapped(BaseModel):
    """A word the candidate analysis kept for a clip."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    word: str
    relevance_score: float
    reason: str = ""


class CandidateClip(BaseModel):
    """A clip of a run on its way through the stages (``clip-candidates``, ``clip-fetches``,
    ``clip-reviews``): the word whose search found it, the hit, when the search ran (the
    link's age), and, after scoring, the words it was mapped to."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str
    word: str
    hit: Hit
    searched_at: float
    mapped: tuple[Mapped, ...] = ()


WORD_SEARCHES = Topic("word-searches", WordSearch)
CANDIDATES = Topic("clip-candidates", CandidateClip)
FETCHES = Topic("clip-fetches", CandidateClip)
REVIEWS = Topic("clip-reviews", CandidateClip)

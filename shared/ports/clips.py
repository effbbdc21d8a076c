"""Clip-source port: search a catalogue of short movie clips by what is said in them, and
download one.

Adapters: ClipCafe's API (``shared/adapters/clipcafe.py``: rate limited per account, download
links valid for minutes) and a local folder in ClipCafe's shape
(``shared/adapters/local/clipfolder.py``: the demo, offline use). Each makes ONE attempt per
call and translates failures into the errors below; the discovery stages decide what to
retry, when to search again for a fresh link and how fast to ask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import IO, Any, Protocol

from shared.core.errors import PermanentError, TransientError

__all__ = [
    "ClipHit",
    "ClipPage",
    "ClipQuery",
    "ClipSource",
    "ClipSourceError",
    "ClipSourceRateLimitedError",
    "ClipSourceUnavailableError",
    "ClipTooLargeError",
    "DownloadExpiredError",
]


@dataclass(frozen=True)
class ClipQuery:
    """Clips in which ``phrase`` is said: in ``language`` (the catalogue's name for it, e.g.
    ``English``), ``min_seconds`` to ``max_seconds`` long, most viewed first, ``size`` from
    the ``offset``-th."""

    phrase: str
    language: str = "English"
    min_seconds: int = 1
    max_seconds: int = 15
    size: int = 100
    offset: int = 0


@dataclass(frozen=True)
class ClipHit:
    """One clip as the catalogue describes it.

    ``download_url`` may be valid for minutes only (ClipCafe: 5): a download that finds it
    expired raises :class:`DownloadExpiredError` and the caller searches again.
    ``subtitles`` are the catalogue's timed lines (SRT/WebVTT text, or a list of cues), kept
    as given. ``metadata`` is everything else the catalogue said (movie, year, views...),
    without the download link.
    """

    clip_id: str
    slug: str
    title: str
    transcript: str
    duration_seconds: float | None = None
    subtitles: Any = None
    download_url: str | None = None
    views: int | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ClipPage:
    """One page of hits and how many there are in all (None when not said)."""

    hits: tuple[ClipHit, ...]
    total: int | None = None


class ClipSource(Protocol):
    """A catalogue of clips. ``name`` is stored with every clip found through it;
    ``requests_per_minute`` is its account-wide search quota (None: unlimited)."""

    name: str
    requests_per_minute: float | None

    def search(self, query: ClipQuery) -> ClipPage:
        """One page of clips matching ``query``."""
        ...

    def download(self, hit: ClipHit, out: IO[bytes], *, max_bytes: int) -> int:
        """Write the clip's bytes into ``out`` (streamed); the number written.
        :class:`ClipTooLargeError` past ``max_bytes``."""
        ...


class ClipSourceError(PermanentError):
    """The request cannot succeed as made (refused key, bad parameters, no such clip)."""


class ClipTooLargeError(ClipSourceError):
    """The clip is larger than the configured limit."""


class ClipSourceUnavailableError(TransientError):
    """5xx, timeouts, connection failures: worth another attempt later."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ClipSourceRateLimitedError(ClipSourceUnavailableError):
    """HTTP 429: the account's quota is spent for now (``retry_after`` when said)."""


class DownloadExpiredError(TransientError):
    """The download link is no longer valid: search again for a fresh one."""

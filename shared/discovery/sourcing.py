"""Asking the clip source: searches through the account-wide rate gate, pages of hits, and
downloads whose short-lived links are refreshed by searching again.

Every search goes through one :class:`~shared.platform.ratelimit.RateGate` named after the
source, so all instances together stay under the source's quota (ClipCafe: 10 a minute). A
429 moves the gate on by what the source asked (every instance waits, not only this one) and
the search is asked again, a bounded number of times. A download link that has expired (by
the search's age, or because the source says so) is replaced by searching again for the
phrase that found the clip: the clip is never lost because its link ran out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import IO, Protocol

from shared.platform.ratelimit import RateGate
from shared.ports import DocumentStore
from shared.ports.clips import (
    ClipHit,
    ClipQuery,
    ClipSource,
    ClipSourceError,
    ClipSourceRateLimitedError,
    DownloadExpiredError,
)

__all__ = ["LinkBook", "SearchOutcome", "Searcher"]

DEFAULT_PUSH_BACK = 60.0  # a 429 that does not say how long: one quota window
RATE_LIMITED_TRIES = 3
REFRESH_PAGES = 3  # pages searched again for a clip whose link expired


class LinkBook(Protocol):
    """Where a word's freshest download links are kept, shared by every delivery: one
    refresh search renews the links of all the clips it lists, so the next clip of that
    word downloads without searching again."""

    def lookup(self, clip_id: str) -> tuple[str, float] | None:
        """The clip's newest known link and when it was issued (epoch seconds)."""
        ...

    def remember(self, hits: Sequence[ClipHit], at: float) -> None:
        """Keep the links of ``hits``, issued at ``at``."""
        ...


@dataclass(frozen=True)
class SearchOutcome:
    """Hits for a phrase (most viewed first, no clip twice) and the requests it took."""

    hits: tuple[ClipHit, ...]
    total: int | None
    requests: int
    searched_at: float


@dataclass
class Searcher:
    """Searches and downloads of one source for one delivery (see the module docstring)."""

    source: ClipSource
    documents: DocumentStore
    max_wait: float
    language: str = "English"
    min_seconds: int = 1
    max_seconds: int = 15
    link_seconds: float = 300.0
    links: LinkBook | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep

    def _gate(self) -> RateGate | None:
        rate = self.source.requests_per_minute
        if rate is None:
            return None
        return RateGate(
            self.documents,
            f"clip-search-{self.source.name}",
            rate,
            clock=self.clock,
            sleep=self.sleep,
        )

    def _page(self, phrase: str, offset: int, size: int) -> tuple[tuple[ClipHit, ...], int | None]:
        query = ClipQuery(
            phrase=phrase,
            language=self.language,
            min_seconds=self.min_seconds,
            max_seconds=self.max_seconds,
            size=size,
            offset=offset,
        )
        gate = self._gate()
        for attempt in range(1, RATE_LIMITED_TRIES + 1):
            if gate is not None:
                gate.acquire(max_wait=self.max_wait)
            try:
                page = self.source.search(query)
            except ClipSourceRateLimitedError as exc:
                if gate is None or attempt == RATE_LIMITED_TRIES:
                    raise
                # Every instance waits what the source asked, not only this one.
                gate.push_back(
                    exc.retry_after if exc.retry_after is not None else DEFAULT_PUSH_BACK
                )
                continue
            return page.hits, page.total
        raise AssertionError("unreachable")  # pragma: no cover

    def search(self, phrase: str, *, limit: int, page_size: int = 100) -> SearchOutcome:
        """Up to ``limit`` hits for ``phrase``, page after page until the source has no more."""
        hits: dict[str, ClipHit] = {}
        total: int | None = None
        requests = 0
        started = self.clock()
        offset = 0
        while len(hits) < limit:
            size = page_size  # what one request costs, however few hits are still wanted
            page, total = self._page(phrase, offset, size)
            requests += 1
            for hit in page:
                hits.setdefault(hit.clip_id, hit)
            offset += len(page)
            if not page or len(page) < size or (total is not None and offset >= total):
                break
        chosen = tuple(list(hits.values())[:limit])
        return SearchOutcome(hits=chosen, total=total, requests=requests, searched_at=started)

    def fresh(self, hit: ClipHit, phrase: str) -> ClipHit:
        """``hit`` with a new download link, found by searching ``phrase`` again (the links
        of every clip the search lists are kept in the link book, for their own fetches)."""
        offset = 0
        for _ in range(REFRESH_PAGES):
            at = self.clock()
            page, total = self._page(phrase, offset, 100)
            if self.links is not None and page:
                self.links.remember(page, at)
            for candidate in page:
                if candidate.clip_id == hit.clip_id:
                    return candidate
            offset += len(page)
            if not page or (total is not None and offset >= total):
                break
        raise ClipSourceError(
            f"clip {hit.clip_id} is no longer found for {phrase!r}: it cannot be downloaded"
        )

    def download(
        self,
        hit: ClipHit,
        phrase: str,
        out: IO[bytes],
        *,
        searched_at: float,
        max_bytes: int,
    ) -> tuple[int, int]:
        """Download ``hit`` into ``out``, refreshing its link by a search when it is older
        than the source's link lifetime or found expired; (bytes, searches made)."""
        searches = 0
        current = hit
        if self.links is not None:
            known = self.links.lookup(hit.clip_id)
            if known is not None and known[1] > searched_at:  # renewed by another fetch
                current, searched_at = replace(hit, download_url=known[0]), known[1]
        if self.source.requests_per_minute is not None and (
            self.clock() - searched_at >= self.link_seconds
        ):
            current, searches = self.fresh(hit, phrase), searches + 1
        start = out.tell()
        for attempt in range(2):
            try:
                return self.source.download(current, out, max_bytes=max_bytes), searches
            except DownloadExpiredError:
                out.seek(start)
                out.truncate()
                if attempt:  # a link just renewed expired too: not worth another turn now
                    break
                current, searches = self.fresh(hit, phrase), searches + 1
        raise DownloadExpiredError(
            f"clip {hit.clip_id}: its fresh link expired too; the delivery is retried"
        )

"""The clip-source port over ClipCafe's API (``https://api.clip.cafe/``).

A search is one GET with the account's key as the ``api_key`` query parameter::

    /?api_key=KEY&transcript=<phrase>&movie_language=English&duration=1-15
      &sort=views&order=desc&size=100&from=0

answered as ``{"hits": {"total": …, "hits": [{"_source": {clip_id, title, slug, transcript,
subtitles, download, duration, views, movie metadata…}}]}}``. The account may send 10
requests a minute (the discovery stages hold that for every instance together); a
``download`` link is valid for 5 minutes.

One attempt per call, vendor failures translated: 429 → :class:`ClipSourceRateLimitedError`
(with ``Retry-After``), 5xx and network failures → :class:`ClipSourceUnavailableError`,
401/403 on a search → a refused key (:class:`ClipSourceError`), 403/404/410 on a download →
:class:`DownloadExpiredError`. The key is a query parameter, so it would sit in every URL an
error or a log shows: every message is redacted, and the key is never logged.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import IO, Any

import httpx2

from shared.adapters.retry_after import retry_after_seconds
from shared.core.text import redact
from shared.ports.clips import (
    ClipHit,
    ClipPage,
    ClipQuery,
    ClipSourceError,
    ClipSourceRateLimitedError,
    ClipSourceUnavailableError,
    ClipTooLargeError,
    DownloadExpiredError,
)

__all__ = ["CLIPCAFE_URL", "ClipCafeSource", "parse_hit"]

CLIPCAFE_URL = "https://api.clip.cafe/"
MAX_PAGE = 100  # ClipCafe answers at most this many hits per request
_CHUNK = 1 << 16


class ClipCafeSource:
    """ClipCafe's catalogue; ``client`` replaces the HTTP client (tests)."""

    name = "clipcafe"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = CLIPCAFE_URL,
        requests_per_minute: float = 10.0,
        timeout_seconds: float = 30.0,
        client: httpx2.Client | None = None,
    ) -> None:
        if not api_key.strip():
            raise ClipSourceError("ClipCafe needs an API key (VIDCURATE_CLIPCAFE_API_KEY)")
        self._key = api_key
        self._base = base_url if base_url.endswith("/") else base_url + "/"
        self.requests_per_minute: float | None = requests_per_minute
        self._client = client or httpx2.Client(timeout=timeout_seconds, follow_redirects=True)

    def search(self, query: ClipQuery) -> ClipPage:
        """One page of hits for ``query`` (at most 100 per request, as ClipCafe allows)."""
        params: dict[str, str | int] = {
            "api_key": self._key,
            "transcript": query.phrase,
            "movie_language": query.language,
            "duration": f"{query.min_seconds}-{query.max_seconds}",
            "sort": "views",
            "order": "desc",
            "size": min(query.size, MAX_PAGE),
            "from": query.offset,
        }
        where = f"ClipCafe search for {query.phrase!r}"
        try:
            response = self._client.get(self._base, params=params)
        except httpx2.TimeoutException as exc:
            raise ClipSourceUnavailableError(f"{where}: no answer in time") from exc
        except httpx2.TransportError as exc:
            raise ClipSourceUnavailableError(
                f"{where}: cannot reach ClipCafe ({self._safe(exc)})"
            ) from exc
        self._check(response, where, searching=True)
        try:
            body = response.json()
        except ValueError as exc:
            raise ClipSourceUnavailableError(f"{where}: the answer is not JSON") from exc
        return parse_page(body, where)

    def download(self, hit: ClipHit, out: IO[bytes], *, max_bytes: int) -> int:
        """Stream the clip from its (short-lived) download link into ``out``."""
        if not hit.download_url:
            raise DownloadExpiredError(f"clip {hit.clip_id}: no download link; search again")
        where = f"download of clip {hit.clip_id}"
        written = 0
        try:
            with self._client.stream("GET", hit.download_url) as response:
                if response.status_code in (403, 404, 410):
                    raise DownloadExpiredError(
                        f"{where}: HTTP {response.status_code}, the link has expired"
                    )
                self._check(response, where, searching=False)
                declared = response.headers.get("content-length")
                if declared and declared.isdigit() and int(declared) > max_bytes:
                    raise ClipTooLargeError(f"{where}: {declared} bytes, over {max_bytes}")
                for chunk in response.iter_bytes(_CHUNK):
                    written += len(chunk)
                    if written > max_bytes:
                        raise ClipTooLargeError(f"{where}: over {max_bytes} bytes")
                    out.write(chunk)
        except httpx2.TimeoutException as exc:
            raise ClipSourceUnavailableError(f"{where}: no answer in time") from exc
        except httpx2.TransportError as exc:
            raise ClipSourceUnavailableError(f"{where}: {self._safe(exc)}") from exc
        return written

    def _check(self, response: httpx2.Response, where: str, *, searching: bool) -> None:
        status = response.status_code
        if status < 400:
            return
        if status == 429:
            raise ClipSourceRateLimitedError(
                f"{where}: rate limited (HTTP 429)",
                retry_after_seconds(response.headers.get("retry-after")),
            )
        if status >= 500 or status == 408:
            raise ClipSourceUnavailableError(
                f"{where}: HTTP {status}", retry_after_seconds(response.headers.get("retry-after"))
            )
        if searching and status in (401, 403):
            raise ClipSourceError(
                f"{where}: HTTP {status}: the API key was refused; check "
                "VIDCURATE_CLIPCAFE_API_KEY (Secret Manager clipcafe-api-key in the cloud)"
            )
        raise ClipSourceError(f"{where}: HTTP {status}: the request was refused")

    def _safe(self, exc: BaseException) -> str:
        return redact(str(exc), self._key)


def parse_page(body: Any, where: str = "ClipCafe") -> ClipPage:
    """A search answer (``hits.total``, ``hits.hits[]._source``) as a page; hits without a
    clip id are left out."""
    if not isinstance(body, Mapping) or not isinstance(body.get("hits"), Mapping):
        raise ClipSourceUnavailableError(f"{where}: the answer has no hits")
    outer = body["hits"]
    total = outer.get("total")
    if isinstance(total, Mapping):  # Elasticsearch 7+: {"value": n, "relation": "eq"}
        total = total.get("value")
    hits = tuple(
        hit
        for hit in (
            parse_hit(item.get("_source") or {})
            for item in outer.get("hits") or []
            if isinstance(item, Mapping)
        )
        if hit is not None
    )
    return ClipPage(hits=hits, total=int(total) if isinstance(total, int | float) else None)


_KNOWN = {"clip_id", "slug", "title", "transcript", "subtitles", "download", "duration", "views"}


def parse_hit(source: Mapping[str, Any]) -> ClipHit | None:
    """One ``_source`` as a hit (None without a clip id)."""
    clip_id = source.get("clip_id")
    if clip_id is None or str(clip_id).strip() == "":
        return None
    slug = str(source.get("slug") or clip_id)
    views = source.get("views")
    return ClipHit(
        clip_id=str(clip_id),
        slug=slug,
        title=str(source.get("title") or slug),
        transcript=str(source.get("transcript") or ""),
        duration_seconds=parse_duration(source.get("duration")),
        subtitles=source.get("subtitles"),
        download_url=str(source["download"]) if source.get("download") else None,
        views=int(views) if isinstance(views, int | float) else None,
        metadata={k: v for k, v in source.items() if k not in _KNOWN},
    )


_CLOCK = re.compile(r"^(?:(\d+):)?(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_duration(value: Any) -> float | None:
    """Seconds from a number or ``[h:]mm:ss[.f]`` text (None when unreadable)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value) if value >= 0 else None
    if isinstance(value, str):
        text = value.strip()
        try:
            return float(text)
        except ValueError:
            match = _CLOCK.match(text)
            if match:
                hours = int(match.group(1) or 0)
                return hours * 3600 + int(match.group(2)) * 60 + float(match.group(3))
    return None

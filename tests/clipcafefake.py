"""A local stand-in for ClipCafe's API, spoken to over real HTTP on 127.0.0.1.

- ``GET /?api_key=…&transcript=…&movie_language=…&duration=a-b&sort=views&order=desc
  &size=N&from=K``: the catalogue's clips whose transcript says the phrase (whole words),
  most viewed first, as ``{"hits": {"total": n, "hits": [{"_source": {...}}]}}``; at most 100
  per page, as ClipCafe. A wrong key answers 401.
- ``GET /download/<clip_id>?expires=<t>``: the clip's bytes until the fake's clock passes
  ``t`` (a link is valid ``link_seconds``, 5 minutes like ClipCafe's), then 410.
- :meth:`FakeClipCafe.limit_rpm`: a quota of searches in any rolling 60 s of the fake's
  clock; over it, 429 with ``Retry-After``.

Every request is kept in :attr:`FakeClipCafe.requests` (path, query, clock, status).
"""

from __future__ import annotations

import json
import math
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, quote, urlsplit

from support import max_in_window, serving

from shared.core.words import occurs_in

CLIPCAFE_KEY = "cc-test-key-8f1e0d"


@dataclass
class Recorded:
    path: str
    query: dict[str, str]
    at: float
    status: int = 0


@dataclass
class FakeClip:
    clip_id: str
    slug: str
    title: str
    transcript: str
    duration: float
    views: int
    data: bytes = b""
    subtitles: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


class FakeClipCafe:
    """The fake's state (see the module docstring)."""

    def __init__(
        self,
        clips: list[FakeClip] | None = None,
        *,
        key: str = CLIPCAFE_KEY,
        clock: Callable[[], float] = time.monotonic,
        link_seconds: float = 300.0,
    ) -> None:
        self.clips = list(clips or [])
        self.key = key
        self.clock = clock
        self.link_seconds = link_seconds
        self.endpoint = ""
        self.requests: list[Recorded] = []
        self.over_limit = 0
        self._rpm: int | None = None
        self._window = 60.0
        self._served: deque[float] = deque()
        self._fail: list[tuple[int, int, str | None]] = []  # (status, times, retry_after)
        self._lock = threading.Lock()

    # -- what tests use ------------------------------------------------------------------

    def limit_rpm(self, n: int | None, *, window: float = 60.0) -> None:
        """At most ``n`` searches in any rolling ``window`` seconds (a minute by default;
        None: no limit)."""
        with self._lock:
            self._rpm = n
            self._window = window
            self._served.clear()

    def fail_next(self, status: int, times: int = 1, retry_after: str | None = None) -> None:
        """Answer the next ``times`` searches with ``status``."""
        with self._lock:
            self._fail.append((status, times, retry_after))

    def searches(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path == "/"]

    def downloads(self) -> list[Recorded]:
        with self._lock:
            return [r for r in self.requests if r.path.startswith("/download/")]

    def max_searches_in_window(self, window: float = 60.0) -> int:
        """The most searches served within any ``window`` seconds."""
        return max_in_window([r.at for r in self.searches() if r.status == 200], window)

    # -- handling ------------------------------------------------------------------------

    def handle(self, raw_path: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw_path)
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        record = Recorded(parts.path, query, self.clock())
        with self._lock:
            self.requests.append(record)
        if parts.path == "/":
            status, headers, body = self._search(query)
        elif parts.path.startswith("/download/"):
            status, headers, body = self._download(parts.path.removeprefix("/download/"), query)
        else:
            status, headers, body = 404, {}, b'{"error": "not found"}'
        record.status = status
        return status, headers, body

    def _search(self, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        if query.get("api_key") != self.key:
            return 401, {}, json.dumps({"error": "invalid api_key"}).encode()
        with self._lock:
            for index, (status, times, retry_after) in enumerate(self._fail):
                if times > 0:
                    self._fail[index] = (status, times - 1, retry_after)
                    headers = {"Retry-After": retry_after} if retry_after else {}
                    return status, headers, b'{"error": "injected"}'
            if self._rpm is not None:
                now = self.clock()
                while self._served and self._served[0] <= now - self._window:
                    self._served.popleft()
                if len(self._served) >= self._rpm:
                    self.over_limit += 1
                    wait = max(1, math.ceil(self._served[0] + self._window - now))
                    return 429, {"Retry-After": str(wait)}, b'{"error": "rate limit"}'
                self._served.append(now)
        phrase = query.get("transcript", "")
        low, _, high = query.get("duration", "0-100000").partition("-")
        size = min(100, int(query.get("size", "10")))
        offset = int(query.get("from", "0"))
        found = [
            clip
            for clip in self.clips
            if occurs_in(phrase, clip.transcript) and float(low) <= clip.duration <= float(high)
        ]
        found.sort(key=lambda c: (-c.views, c.clip_id))
        page = found[offset : offset + size]
        expires = self.clock() + self.link_seconds
        hits = [{"_id": c.clip_id, "_source": self._source(c, expires)} for c in page]
        body = {"took": 3, "hits": {"total": {"value": len(found), "relation": "eq"}, "hits": hits}}
        return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()

    def _source(self, clip: FakeClip, expires: float) -> dict[str, Any]:
        return {
            "clip_id": clip.clip_id,
            "title": clip.title,
            "slug": clip.slug,
            "transcript": clip.transcript,
            "subtitles": clip.subtitles,
            "duration": clip.duration,
            "views": clip.views,
            "movie_title": clip.extra.get("movie_title", "A Film"),
            "movie_year": clip.extra.get("movie_year", 1999),
            "download": f"{self.endpoint}/download/{quote(clip.clip_id)}?expires={expires!r}",
        }

    def _download(self, clip_id: str, query: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        clip = next((c for c in self.clips if c.clip_id == clip_id), None)
        if clip is None:
            return 404, {}, b"no such clip"
        if float(query.get("expires", "0")) <= self.clock():
            return 410, {}, b"link expired"
        return 200, {"Content-Type": "video/mp4"}, clip.data


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        status, headers, body = self.server.fake.handle(self.path)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, fake: FakeClipCafe) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fake = fake


@contextmanager
def run_fake_clipcafe(fake: FakeClipCafe) -> Iterator[FakeClipCafe]:
    """Serve ``fake`` on a free port until the block ends."""
    with serving(_Server(fake), "fake-clipcafe") as url:
        fake.endpoint = url
        yield fake


_WORDS = re.compile(r"\w+")


def catalogue(words: list[str], per_word: int, data: bytes = b"\x00video") -> list[FakeClip]:
    """``per_word`` clips saying each word, views descending."""
    clips = []
    for word in words:
        for n in range(per_word):
            clip_id = f"{word}-{n:03d}"
            clips.append(
                FakeClip(
                    clip_id=clip_id,
                    slug=f"{word}-clip-{n}",
                    title=f"The {word} scene {n}",
                    transcript=f"Listen. {word.capitalize()} is the word here, {word}!",
                    duration=3.0 + n % 10,
                    views=10_000 - n,
                    data=data,
                )
            )
    return clips

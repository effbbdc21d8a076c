"""The clip-source port over a local folder in ClipCafe's shape: the demo and offline use.

Layout::

    <root>/<word>/<slug>_NN.mp4     the clip
    <root>/<word>/<slug>_NN.json    its description, as ClipCafe's ``_source`` (clip_id,
                                    title, slug, transcript, subtitles, duration, views...)

A search looks through every description (not only the word's folder: ClipCafe searches
transcripts too, so a clip filed under one word is found for every word it says), keeps the
clips whose transcript says the phrase as whole words and whose duration is within the
query's range, most viewed first. A description without a ``clip_id`` takes its file's
stem; ``download`` is the clip file itself, which never expires.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path
from typing import IO, Any

from shared.adapters.clipcafe import parse_hit
from shared.core.words import occurs_in
from shared.ports.clips import ClipHit, ClipPage, ClipQuery, ClipSourceError, ClipTooLargeError

__all__ = ["FolderClipSource"]


class FolderClipSource:
    """Clips in a folder (see the module docstring); read once, on the first search."""

    requests_per_minute: float | None = None

    def __init__(self, root: Path) -> None:
        if not root.is_dir():
            raise ClipSourceError(f"{root}: no such folder of clips")
        self.root = root
        self.name = "folder"
        self._hits: list[ClipHit] | None = None
        self._lock = threading.Lock()

    def search(self, query: ClipQuery) -> ClipPage:
        """Clips saying ``query.phrase``, most viewed first, one page of them."""
        matching = [
            hit
            for hit in self._all()
            if occurs_in(query.phrase, hit.transcript)
            and (
                hit.duration_seconds is None
                or query.min_seconds <= hit.duration_seconds <= query.max_seconds
            )
        ]
        matching.sort(key=lambda hit: (-(hit.views or 0), hit.clip_id))
        page = matching[query.offset : query.offset + query.size]
        return ClipPage(hits=tuple(page), total=len(matching))

    def download(self, hit: ClipHit, out: IO[bytes], *, max_bytes: int) -> int:
        """Copy the clip's file into ``out``."""
        path = Path(hit.download_url or "")
        if not hit.download_url or not path.is_file():
            raise ClipSourceError(f"clip {hit.clip_id}: its file {path} is gone")
        size = path.stat().st_size
        if size > max_bytes:
            raise ClipTooLargeError(f"clip {hit.clip_id}: {size} bytes, over {max_bytes}")
        with path.open("rb") as source:
            shutil.copyfileobj(source, out)
        return size

    def _all(self) -> list[ClipHit]:
        with self._lock:
            if self._hits is None:
                self._hits = [
                    hit for hit in map(self._read, sorted(self.root.glob("*/*.json"))) if hit
                ]
            return self._hits

    def _read(self, description: Path) -> ClipHit | None:
        video = description.with_suffix(".mp4")
        if not video.is_file():
            return None
        try:
            source: Any = json.loads(description.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ClipSourceError(
                f"{description}: not a readable clip description ({exc})"
            ) from exc
        if not isinstance(source, dict):
            raise ClipSourceError(f"{description}: a clip description is a JSON object")
        source.setdefault("clip_id", description.stem)
        source.setdefault("slug", description.stem)
        source["download"] = str(video)
        return parse_hit(source)

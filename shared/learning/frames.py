"""The frames annotators label, and every annotator's queue over them.

The frames are those ``extract_frames`` sampled: each ``clips/<id>`` document that is
``done`` lists its frames, and a frame's id is its object name in the frames bucket
(``<video key>/<timestamp ms>.jpg``), so a label says which clip and which moment without
another lookup.
A frame's batch is the window of ``batch_seconds`` (a day by default) its clip document was
created in: the frames of clips registered together (a dataset pull, a day's uploads) are
shuffled among each other, so consecutive frames seldom come from one clip, while a clip
registered in a later window puts its frames after every frame already there, in every queue,
and a clip sampled again (a new generation) keeps its place.

:class:`FrameCatalog` reads the clips once per ``refresh_seconds`` (the web app asks on every
request; a million frames are read in seconds, not per click) and :class:`Queues` keeps each
annotator's queue computed from that index and the active-learning queue until either
changes. Nothing about a queue is written anywhere.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from shared.learning.queues import ActiveQueue, queue_for
from shared.media import CLIPS
from shared.ports import DocumentStore

__all__ = [
    "AnnotatorQueue",
    "FrameCatalog",
    "FrameIndex",
    "Queues",
    "frame_parts",
    "load_active_queue",
    "load_frames",
]

_CLIP_FIELDS = ("status", "frames")
DAY = 86_400.0


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Every sampled frame: frame id -> batch (its clip's registration window)."""

    batches: Mapping[str, int]
    clips: int
    read_at: float = 0.0  # monotonic seconds

    def __len__(self) -> int:
        return len(self.batches)

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in self.batches


def frame_parts(frame_id: str) -> tuple[str, int | None]:
    """``(video key, timestamp in ms)`` of a frame id (None when the name is not ``<ms>.jpg``)."""
    key, _, name = frame_id.rpartition("/")
    stem = name.removesuffix(".jpg")
    return key, int(stem) if stem.isdigit() else None


def load_frames(
    documents: DocumentStore,
    *,
    batch_seconds: float = DAY,
    clock: Callable[[], float] = time.monotonic,
) -> FrameIndex:
    """Read the frames of every sampled clip (one pass over the clips, two fields each)."""
    batches: dict[str, int] = {}
    clips = 0
    for doc in documents.iter_collection(CLIPS, fields=_CLIP_FIELDS):
        if doc.data.get("status") != "done":
            continue
        frames = doc.data.get("frames") or []
        if not frames:
            continue
        clips += 1
        created = doc.create_time
        batch = int(created.timestamp() // batch_seconds) if created is not None else 0
        for frame in frames:
            path = frame.get("path") if isinstance(frame, dict) else None
            if isinstance(path, str) and path:
                batches.setdefault(path, batch)
    return FrameIndex(batches=batches, clips=clips, read_at=clock())


def load_active_queue(documents: DocumentStore, path: str) -> ActiveQueue | None:
    """The active-learning queue the last round wrote at ``path``, or None (none yet, or a
    document that is not one: it is ignored rather than blocking labelling)."""
    doc = documents.get(path)
    if doc is None:
        return None
    version, frame_ids = doc.data.get("version"), doc.data.get("frame_ids")
    if not isinstance(version, str) or not version or not isinstance(frame_ids, list):
        return None
    return ActiveQueue(version=version, frame_ids=tuple(f for f in frame_ids if isinstance(f, str)))


class FrameCatalog:
    """The frame index and the active queue, read again when older than ``refresh_seconds``."""

    def __init__(
        self,
        documents: DocumentStore,
        *,
        queue_document: str,
        refresh_seconds: float,
        batch_seconds: float = DAY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._documents = documents
        self._queue_document = queue_document
        self._refresh = refresh_seconds
        self._batch_seconds = batch_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._index: FrameIndex | None = None
        self._active: ActiveQueue | None = None

    def current(self) -> tuple[FrameIndex, ActiveQueue | None]:
        """The index and the active queue, fresh to within ``refresh_seconds``."""
        with self._lock:
            index = self._index
            if index is None or self._clock() - index.read_at >= self._refresh:
                self._index = index = load_frames(
                    self._documents, batch_seconds=self._batch_seconds, clock=self._clock
                )
                self._active = load_active_queue(self._documents, self._queue_document)
            return index, self._active

    def invalidate(self) -> None:
        """Read the clips again on the next call."""
        with self._lock:
            self._index = None


@dataclass(frozen=True, eq=False)
class AnnotatorQueue:
    """One annotator's queue: frame ids in order, and each frame's position."""

    annotator: str
    frame_ids: list[str]
    version: str
    positions: dict[str, int] = field(repr=False)

    def __len__(self) -> int:
        return len(self.frame_ids)

    def at(self, position: int) -> str | None:
        """The frame at ``position``, or None past either end."""
        if 0 <= position < len(self.frame_ids):
            return self.frame_ids[position]
        return None


def queue_version(salt: str, overlap_share: float, active: ActiveQueue | None) -> str:
    """Names the rule that ordered a queue: the salt, the share and the active queue's version
    (the frames present do not enter it: new clips only append)."""
    text = f"{salt}\0{overlap_share!r}\0{active.version if active else ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Queues:
    """Every annotator's queue over the catalog's frames, kept until the index or the active
    queue is read again (a queue of a million frames takes about a second to compute)."""

    def __init__(self, catalog: FrameCatalog, *, salt: str, overlap_share: float) -> None:
        self._catalog = catalog
        self._salt = salt
        self._share = overlap_share
        self._lock = threading.Lock()
        self._cached: dict[str, tuple[FrameIndex, AnnotatorQueue]] = {}

    @property
    def catalog(self) -> FrameCatalog:
        """Where the frames come from."""
        return self._catalog

    def get(self, annotator: str) -> AnnotatorQueue:
        """The annotator's queue, as of the catalog's current index."""
        index, active = self._catalog.current()
        with self._lock:
            cached = self._cached.get(annotator)
            if cached is not None and cached[0] is index:
                return cached[1]
        frame_ids = queue_for(
            annotator, index.batches, salt=self._salt, overlap_share=self._share, active=active
        )
        queue = AnnotatorQueue(
            annotator=annotator,
            frame_ids=frame_ids,
            version=queue_version(self._salt, self._share, active),
            positions={frame_id: position for position, frame_id in enumerate(frame_ids)},
        )
        with self._lock:
            self._cached[annotator] = (index, queue)
        return queue

"""The frames annotators label, their batches, and every annotator's queue over them.

The frames are those ``extract_frames`` sampled: every ``clips/<id>`` document lists its
frames, and a frame's id is its object name in the frames bucket (``<video key>/<timestamp
ms>.jpg``), so a label says which clip and which moment without another lookup. A clip being
sampled again keeps its frames listed until the new ones replace them.

**Batches are sealed when first served.** Documents::

    label_batches/<number, 10 digits>   number, until_us (the newest clip creation time it
                                        holds, in µs), clips, frames, sealed_at

A clip belongs to the first batch whose ``until_us`` is at or after its document's creation
time. Reading the frames and finding clips newer than the last batch seals a new batch for
them (a create-only write; two readers racing agree on the winner's). A batch therefore never
gains a frame once any queue has shown it: the frames of clips registered together (a
dataset pull, the uploads between two reads) are shuffled among each other, so consecutive
frames seldom come from one clip, and a later batch joins every queue at its end, so nothing
already shown moves.

:class:`FrameCatalog` reads the clips at most once per ``refresh_seconds``, in one request
while the others go on with the index they have; an unchanged read keeps the same index, and
a read that only adds batches extends it, so :class:`Queues` extends each queue it keeps
instead of computing it again. Nothing about a queue is written anywhere.
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime

from shared.core.errors import AlreadyExistsError
from shared.learning.queues import ActiveQueue, queue_for
from shared.media import CLIPS
from shared.ports import DocumentStore

__all__ = [
    "BATCHES",
    "AnnotatorQueue",
    "FrameCatalog",
    "FrameIndex",
    "Queues",
    "frame_parts",
    "load_active_queue",
    "load_frames",
    "queue_version",
]

BATCHES = "label_batches"
_CLIP_FIELDS = ("frames",)
_SEAL_ATTEMPTS = 5
_serials = itertools.count(1)


@dataclass(frozen=True, eq=False)
class FrameIndex:
    """Every sampled frame: frame id -> batch number; ``sealed`` batches so far. ``serial``
    names this index; ``extends``, the serial of the index this one only adds batches to
    (their frames: ``added``)."""

    batches: Mapping[str, int]
    clips: int
    sealed: int
    serial: int = 0
    extends: int | None = None
    added: tuple[str, ...] = ()

    def __len__(self) -> int:
        return len(self.batches)

    def __contains__(self, frame_id: object) -> bool:
        return frame_id in self.batches


def frame_parts(frame_id: str) -> tuple[str, int | None]:
    """``(video key, timestamp in ms)`` of a frame id (None when the name is not ``<ms>.jpg``)."""
    key, _, name = frame_id.rpartition("/")
    stem = name.removesuffix(".jpg")
    return key, int(stem) if stem.isdigit() else None


def _micros(moment: datetime | None) -> int:
    return int(moment.timestamp() * 1_000_000) if moment is not None else 0


def _read_clips(documents: DocumentStore) -> list[tuple[int, list[str]]]:
    clips: list[tuple[int, list[str]]] = []
    for doc in documents.iter_collection(CLIPS, fields=_CLIP_FIELDS):
        frames = doc.data.get("frames")
        if not isinstance(frames, list):
            continue
        paths = [
            f["path"] for f in frames if isinstance(f, dict) and isinstance(f.get("path"), str)
        ]
        if paths:
            clips.append((_micros(doc.create_time), paths))
    return clips


def _read_seals(documents: DocumentStore) -> list[int]:
    """``until_us`` of every sealed batch, in batch order (numbers 0, 1, ...)."""
    return [int(doc.data["until_us"]) for doc in documents.iter_collection(BATCHES)]


def _seal(documents: DocumentStore, number: int, until_us: int, clips: int, frames: int) -> bool:
    """Seal batch ``number``; False when another reader sealed it first."""
    try:
        documents.create(
            f"{BATCHES}/{number:010d}",
            {
                "number": number,
                "until_us": until_us,
                "clips": clips,
                "frames": frames,
                "sealed_at": datetime.now(UTC),
            },
        )
    except AlreadyExistsError:
        return False
    return True


def load_frames(documents: DocumentStore, *, seal: bool = True) -> FrameIndex:
    """Read the frames of every sampled clip (one pass over the clips, one field each) and
    the batches, sealing a new batch for clips newer than the last one (``seal=False``: a
    reader that serves no queue, such as a training round, leaves them unsealed, in a last
    batch of their own)."""
    clips = _read_clips(documents)
    seals = _read_seals(documents)
    for _ in range(_SEAL_ATTEMPTS if seal else 0):
        last = seals[-1] if seals else -1
        newer = [(created, paths) for created, paths in clips if created > last]
        if not newer:
            break
        until = max(created for created, _ in newer)
        frames = sum(len(paths) for _, paths in newer)
        _seal(documents, len(seals), until, len(newer), frames)
        seals = _read_seals(documents)  # ours, or the one that won the race
    batches: dict[str, int] = {}
    for created, paths in clips:
        number = bisect.bisect_left(seals, created)  # past the end: not sealed (a lost race)
        for path in paths:
            batches.setdefault(path, number)
    return FrameIndex(batches, len(clips), len(seals), next(_serials))


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


def _successor(old: FrameIndex, new: FrameIndex) -> FrameIndex:
    """``old`` again when nothing changed; ``new`` marked as extending ``old`` when it only
    adds batches; ``new`` otherwise."""
    if len(new) < len(old) or new.sealed < old.sealed:
        return new
    added: list[str] = []
    for frame_id, batch in new.batches.items():
        before = old.batches.get(frame_id)
        if before is None:
            if batch < old.sealed:
                return new  # a frame joined a batch already served: compute queues again
            added.append(frame_id)
        elif before != batch:
            return new
    if not added and len(new) == len(old):
        return old
    if len(new) - len(added) != len(old):
        return new  # frames left: positions moved
    return FrameIndex(new.batches, new.clips, new.sealed, new.serial, old.serial, tuple(added))


class FrameCatalog:
    """The frame index and the active queue, read again when older than ``refresh_seconds``:
    by one request at a time, while the others keep using the index they have."""

    def __init__(
        self,
        documents: DocumentStore,
        *,
        queue_document: str,
        refresh_seconds: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._documents = documents
        self._queue_document = queue_document
        self._refresh = refresh_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._first = threading.Lock()  # the first read: every request waits for it
        self._refreshing = False
        self._read_at = 0.0
        self._index: FrameIndex | None = None
        self._active: ActiveQueue | None = None

    def current(self) -> tuple[FrameIndex, ActiveQueue | None]:
        """The index and the active queue, fresh to within ``refresh_seconds``."""
        with self._lock:
            index, active = self._index, self._active
            stale = index is not None and self._clock() - self._read_at >= self._refresh
            refresh = stale and not self._refreshing
            if refresh:
                self._refreshing = True
        if index is None:
            with self._first:
                if self._index is None:
                    self._read(None)
            with self._lock:
                assert self._index is not None
                return self._index, self._active
        if refresh:
            try:
                return self._read(index)
            finally:
                with self._lock:
                    self._refreshing = False
        return index, active

    def _read(self, old: FrameIndex | None) -> tuple[FrameIndex, ActiveQueue | None]:
        read_at = self._clock()
        new = load_frames(self._documents)
        active = load_active_queue(self._documents, self._queue_document)
        index = new if old is None else _successor(old, new)
        with self._lock:
            self._index, self._active, self._read_at = index, active, read_at
        return index, active

    def invalidate(self) -> None:
        """Read the clips again on the next call (every request waits for that read)."""
        with self._lock:
            self._index = None


@dataclass(frozen=True, eq=False)
class AnnotatorQueue:
    """One annotator's queue: frame ids in order, and the rule's version."""

    annotator: str
    frame_ids: list[str]
    version: str

    def __len__(self) -> int:
        return len(self.frame_ids)

    def at(self, position: int) -> str | None:
        """The frame at ``position``, or None past either end."""
        if 0 <= position < len(self.frame_ids):
            return self.frame_ids[position]
        return None


def queue_version(salt: str, overlap_share: float, active: ActiveQueue | None) -> str:
    """Names the rule that ordered a queue: the salt, the share and the active queue's version
    (not the frames present: new batches only append)."""
    text = f"{salt}\0{overlap_share!r}\0{active.version if active else ''}"
    return hashlib.sha256(text.encode()).hexdigest()[:12]


class Queues:
    """Every annotator's queue over the catalog's frames, kept while the index and the active
    queue hold, extended when the index only adds batches (a queue of a million frames takes
    a second or two to compute; one annotator's is computed once at a time)."""

    def __init__(self, catalog: FrameCatalog, *, salt: str, overlap_share: float) -> None:
        self._catalog = catalog
        self._salt = salt
        self._share = overlap_share
        self._lock = threading.Lock()
        # annotator -> (the serial of the index it was computed on, the active queue, the queue)
        self._cached: dict[str, tuple[int, ActiveQueue | None, AnnotatorQueue]] = {}
        self._computing: dict[str, threading.Lock] = {}

    @property
    def catalog(self) -> FrameCatalog:
        """Where the frames come from."""
        return self._catalog

    def get(self, annotator: str) -> AnnotatorQueue:
        """The annotator's queue, as of the catalog's current index."""
        index, active = self._catalog.current()
        with self._lock:
            computing = self._computing.setdefault(annotator, threading.Lock())
        with computing:
            with self._lock:
                cached = self._cached.get(annotator)
            if cached is not None and cached[0] == index.serial and cached[1] == active:
                return cached[2]
            queue = self._extended(annotator, cached, index, active)
            if queue is None:
                frame_ids = queue_for(
                    annotator,
                    index.batches,
                    salt=self._salt,
                    overlap_share=self._share,
                    active=active,
                )
                queue = AnnotatorQueue(
                    annotator, frame_ids, queue_version(self._salt, self._share, active)
                )
            with self._lock:
                self._cached[annotator] = (index.serial, active, queue)
            return queue

    def _extended(
        self,
        annotator: str,
        cached: tuple[int, ActiveQueue | None, AnnotatorQueue] | None,
        index: FrameIndex,
        active: ActiveQueue | None,
    ) -> AnnotatorQueue | None:
        """The cached queue with the new batches' frames appended, when the index only added
        batches to the cached one and the active queue is the same."""
        if cached is None or index.extends is None or index.extends != cached[0]:
            return None
        if (cached[1].version if cached[1] else None) != (active.version if active else None):
            return None
        added = {frame_id: index.batches[frame_id] for frame_id in index.added}
        if active is not None and any(frame_id in added for frame_id in active.frame_ids):
            return None  # an active frame among the new ones leads the queue: compute again
        tail = queue_for(annotator, added, salt=self._salt, overlap_share=self._share)
        return AnnotatorQueue(annotator, cached[2].frame_ids + tail, cached[2].version)

"""Labelling's use cases over one context, shared by the CLI and the web app.

:class:`Labelling` holds the frame catalog and the queues (computed, kept in memory until the
frames or the active queue change) and each annotator's labels as last read, so the web app
answers a click from memory and writes one document. Every write is checked against the
annotator's queue first: the frame must be the one at that position of the queue version the
page was showing, the classes must be the schema's; a refused write names what was wrong and
writes nothing.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from shared.core.errors import VidcurateError
from shared.learning.agreement import TaskAgreement, agreement
from shared.learning.annotators import Annotator, get_annotator, list_annotators
from shared.learning.frames import AnnotatorQueue, FrameCatalog, Queues, frame_parts
from shared.learning.labels import (
    LabelConflictError,
    LabelRecord,
    iter_labels,
    labels_of,
    record_label,
)
from shared.learning.queues import resume_position
from shared.learning.schema import Label, validate_label
from shared.learning.settings import LabelSettings
from shared.platform.context import Context

__all__ = [
    "AnnotatorProgress",
    "FrameView",
    "LabelRejectedError",
    "LabelStatus",
    "Labelling",
    "StaleQueueError",
    "export_rows",
    "write_export",
]

ExportFormat = Literal["csv", "jsonl"]


class LabelRejectedError(VidcurateError):
    """A label that cannot be taken: unknown class or task, a frame not in the queue."""


class StaleQueueError(VidcurateError):
    """The page showed another version of the queue, or that position holds another frame."""


@dataclass(frozen=True)
class FrameView:
    """What the labelling page shows at one position of an annotator's queue."""

    position: int
    frame_id: str
    total: int
    labelled: int
    queue_version: str
    record: LabelRecord | None


@dataclass(frozen=True)
class AnnotatorProgress:
    """How far one annotator is."""

    annotator: str
    labelled: int
    total: int
    unusable: int
    changed: int

    @property
    def share(self) -> float:
        """Labelled frames over the frames in the queue (1.0 for an empty queue)."""
        return self.labelled / self.total if self.total else 1.0


@dataclass(frozen=True)
class LabelStatus:
    """Every annotator's progress and the agreement per task."""

    frames: int
    clips: int
    annotators: list[AnnotatorProgress]
    agreement: dict[str, TaskAgreement]

    def to_json(self) -> dict[str, Any]:
        """As plain JSON (pairs as "a|b")."""
        return {
            "frames": self.frames,
            "clips": self.clips,
            "annotators": [
                {
                    "annotator": p.annotator,
                    "labelled": p.labelled,
                    "total": p.total,
                    "share": round(p.share, 6),
                    "unusable": p.unusable,
                    "changed": p.changed,
                }
                for p in self.annotators
            ],
            "agreement": {
                task: {
                    "pairwise": {
                        f"{a}|{b}": kappa.model_dump() for (a, b), kappa in item.pairwise.items()
                    },
                    "fleiss": item.fleiss.model_dump(),
                }
                for task, item in self.agreement.items()
            },
        }


class _Labels:
    """One annotator's labels as last read, kept up to date by this process's writes and by
    what a refused write learns; read again when the annotator opens the page (another
    instance may have written: the cache is advisory, the transaction decides)."""

    def __init__(self, records: dict[str, LabelRecord], read_at: float) -> None:
        self.lock = threading.Lock()
        self.records = records
        self.read_at = read_at
        self.counted: int | None = None  # the serial of the index ``count`` was taken on
        self.count = 0  # of the records, those whose frame is in that index


class Labelling:
    """Queues, labels and status for the context's settings (shared by the web app's request
    threads)."""

    def __init__(
        self, services: Context[LabelSettings], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        settings = services.settings
        self.services = services
        self.schema = settings.label_schema
        self.catalog = FrameCatalog(
            services.documents,
            queue_document=settings.label_queue_document,
            refresh_seconds=settings.label_refresh_seconds,
            clock=clock,
        )
        self.queues = Queues(
            self.catalog, salt=settings.label_salt, overlap_share=settings.label_overlap_share
        )
        self._clock = clock
        self._lock = threading.Lock()
        self._labels: dict[str, _Labels] = {}

    # reading
    def annotator(self, name: str) -> Annotator:
        """The registered annotator ``name`` (UnknownAnnotatorError otherwise)."""
        return get_annotator(self.services.documents, name)

    def queue(self, annotator: str) -> AnnotatorQueue:
        """``annotator``'s queue as of now."""
        return self.queues.get(annotator)

    def _known(self, annotator: str, *, refresh: bool = False) -> _Labels:
        with self._lock:
            known = self._labels.get(annotator)
        if known is None or refresh:
            known = _Labels(labels_of(self.services.documents, annotator), self._clock())
            with self._lock:
                self._labels[annotator] = known
        return known

    def labels(self, annotator: str, *, refresh: bool = False) -> dict[str, LabelRecord]:
        """A copy of ``annotator``'s labels by frame (``refresh``: read from the store)."""
        known = self._known(annotator, refresh=refresh)
        with known.lock:
            return dict(known.records)

    def label(self, annotator: str, frame_id: str) -> LabelRecord | None:
        """``annotator``'s label of ``frame_id``, if any."""
        known = self._known(annotator)
        with known.lock:
            return known.records.get(frame_id)

    def labelled(self, annotator: str) -> int:
        """How many frames of the current index ``annotator`` has labelled."""
        index, _ = self.catalog.current()
        known = self._known(annotator)
        with known.lock:
            if known.counted != index.serial:  # once per index, then kept by ``answer``
                known.count = sum(1 for frame_id in known.records if frame_id in index)
                known.counted = index.serial
            return known.count

    def resume(self, annotator: str) -> int:
        """The first position of the queue the annotator has not labelled."""
        queue = self.queue(annotator)
        known = self._known(annotator)
        with known.lock:
            return resume_position(queue.frame_ids, known.records)

    def view(self, annotator: str, position: int) -> FrameView | None:
        """The frame at ``position`` of the annotator's queue, with their label; None past the
        end (the queue is done) or before the start."""
        queue = self.queue(annotator)
        frame_id = queue.at(position)
        if frame_id is None:
            return None
        return FrameView(
            position=position,
            frame_id=frame_id,
            total=len(queue),
            labelled=self.labelled(annotator),
            queue_version=queue.version,
            record=self.label(annotator, frame_id),
        )

    def image(self, frame_id: str) -> bytes:
        """The frame's JPEG (NotFoundError when the frame is gone from the bucket)."""
        bucket = self.services.settings.frames_bucket
        return self.services.blobs.read(bucket, frame_id)

    # writing
    def answer(
        self,
        annotator: str,
        *,
        position: int,
        frame_id: str,
        queue_version: str,
        revision: int,
        classes: Mapping[str, str],
        unusable: bool = False,
    ) -> LabelRecord:
        """Record the annotator's answer for the frame at ``position`` (see the module
        docstring for what is refused)."""
        queue = self.queue(annotator)
        index, _ = self.catalog.current()
        if frame_id not in index:
            raise LabelRejectedError(f"frame {frame_id!r} is not in {annotator}'s queue")
        if queue_version != queue.version:
            raise StaleQueueError(
                "the queue changed since this page was loaded (a new active-learning round "
                "or new settings): reload to continue"
            )
        if queue.at(position) != frame_id:
            raise StaleQueueError(
                f"position {position} of the queue is not that frame any more: reload to continue"
            )
        try:
            label = validate_label(self.schema, classes, unusable=unusable)
        except ValueError as exc:
            raise LabelRejectedError(str(exc)) from exc
        known = self._known(annotator)
        try:
            record = record_label(
                self.services.documents,
                annotator=annotator,
                frame_id=frame_id,
                label=label,
                revision=revision,
                queue_version=queue.version,
                position=position,
            )
        except LabelConflictError as exc:
            if exc.current is not None:  # what the store has: the next answer starts there
                with known.lock:
                    known.records[frame_id] = exc.current
            raise
        with known.lock:
            if frame_id not in known.records and known.counted == index.serial:
                known.count += 1
            known.records[frame_id] = record
        return record

    # status and export
    def status(self) -> LabelStatus:
        """Every registered annotator's progress (and anyone else with labels), and the
        agreement per task: one pass over the labels, no queue computed."""
        index, _ = self.catalog.current()
        by_annotator: dict[str, dict[str, LabelRecord]] = {
            a.name: {} for a in list_annotators(self.services.documents)
        }
        for record in iter_labels(self.services.documents):
            if record.frame_id in index:
                by_annotator.setdefault(record.annotator, {})[record.frame_id] = record
        progress = [
            AnnotatorProgress(
                annotator=name,
                labelled=len(labels),
                total=len(index),
                unusable=sum(1 for record in labels.values() if record.label.unusable),
                changed=sum(1 for record in labels.values() if record.revision > 1),
            )
            for name, labels in sorted(by_annotator.items())
        ]
        answers: dict[str, dict[str, Label]] = {
            name: {frame: record.label for frame, record in labels.items()}
            for name, labels in by_annotator.items()
        }
        return LabelStatus(
            frames=len(index),
            clips=index.clips,
            annotators=progress,
            agreement=agreement(self.schema, answers),
        )


def export_rows(records: Iterable[LabelRecord], tasks: Iterable[str]) -> Iterator[dict[str, Any]]:
    """One flat row per label, for training: annotator, frame, video key, timestamp (ms),
    a column per task (empty when unusable), unusable, revision, labelled_at, queue version,
    position."""
    names = list(tasks)
    for record in records:
        key, timestamp_ms = frame_parts(record.frame_id)
        row: dict[str, Any] = {
            "annotator": record.annotator,
            "frame": record.frame_id,
            "video_key": key,
            "timestamp_ms": timestamp_ms,
        }
        for task in names:
            row[task] = record.label.classes.get(task)
        row.update(
            unusable=record.label.unusable,
            revision=record.revision,
            labelled_at=record.labelled_at.isoformat() if record.labelled_at else None,
            queue_version=record.queue_version,
            position=record.position,
        )
        yield row


def write_export(labelling: Labelling, out: io.TextIOBase | Any, fmt: ExportFormat) -> int:
    """Write every label to ``out`` as CSV (header first) or JSON lines; how many."""
    tasks = list(labelling.schema.tasks)
    rows = export_rows(iter_labels(labelling.services.documents), tasks)
    count = 0
    if fmt == "csv":
        columns = ["annotator", "frame", "video_key", "timestamp_ms", *tasks]
        columns += ["unusable", "revision", "labelled_at", "queue_version", "position"]
        writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if v is None else v for k, v in row.items()})
            count += 1
        return count
    for row in rows:
        out.write(orjson.dumps(row).decode() + "\n")
        count += 1
    return count

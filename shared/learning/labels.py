"""Label documents: one per (annotator, frame), written in a transaction.

Documents::

    labels/<sha256(annotator NUL frame)[:40]>
        annotator, frame, classes (task -> class), unusable, revision (1 for the first
        answer, +1 per change), labelled_at, queue_version, position, and history: the
        earlier answers, oldest first (classes, unusable, labelled_at, queue_version,
        position, revision), the last 100 kept.

A write names the revision it replaces (0 for a frame not labelled yet). The transaction
reads the document first and writes only when that is still the revision: two tabs of one
annotator that answer the same frame make one label and one refused write (the second tab is
told to reload), never two labels; a replayed request carries a revision already replaced
and is refused the same way. Nothing is written when a write is refused.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shared.core.errors import VidcurateError
from shared.learning.schema import Label
from shared.ports import DocumentStore, Transaction

__all__ = [
    "LABELS",
    "MAX_HISTORY",
    "LabelConflictError",
    "LabelRecord",
    "iter_labels",
    "label_path",
    "labels_of",
    "record_label",
]

LABELS = "labels"
MAX_HISTORY = 100


class LabelConflictError(VidcurateError):
    """The label changed since the writer read it (another tab, or a replayed request)."""

    def __init__(self, message: str, current: LabelRecord | None) -> None:
        super().__init__(message)
        self.current = current


@dataclass(frozen=True)
class LabelRecord:
    """One annotator's current label of one frame."""

    annotator: str
    frame_id: str
    label: Label
    revision: int
    queue_version: str
    position: int
    labelled_at: datetime | None
    history: tuple[Mapping[str, Any], ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The record as plain JSON (times as ISO 8601)."""
        return {
            "annotator": self.annotator,
            "frame": self.frame_id,
            "classes": dict(self.label.classes),
            "unusable": self.label.unusable,
            "revision": self.revision,
            "queue_version": self.queue_version,
            "position": self.position,
            "labelled_at": self.labelled_at.isoformat() if self.labelled_at else None,
            "changes": len(self.history),
        }


def label_path(annotator: str, frame_id: str) -> str:
    """The document of ``annotator``'s label of ``frame_id``."""
    digest = hashlib.sha256(f"{annotator}\0{frame_id}".encode()).hexdigest()
    return f"{LABELS}/{digest[:40]}"


def record_label(
    documents: DocumentStore,
    *,
    annotator: str,
    frame_id: str,
    label: Label,
    revision: int,
    queue_version: str,
    position: int,
    now: datetime | None = None,
) -> LabelRecord:
    """Write ``annotator``'s answer for ``frame_id`` if their label of it is still at
    ``revision`` (0: none yet); the record written. :class:`LabelConflictError` (with the
    current record) when it is not; nothing is written then. The same answer as the current
    one is not a change: the current record is returned and nothing is written."""
    path = label_path(annotator, frame_id)
    written_at = now or datetime.now(UTC)

    def write(tx: Transaction) -> LabelRecord:
        snapshot = tx.get(path)
        current = _record(snapshot.data) if snapshot is not None else None
        seen = current.revision if current is not None else 0
        if seen != revision:
            raise LabelConflictError(
                f"this frame's label is at revision {seen}, not {revision}: it was answered "
                "in another tab or the request was sent twice; reload to see the current label",
                current,
            )
        if current is not None and current.label == label:
            return current
        history = list(current.history) if current is not None else []
        if current is not None:
            history.append(_answer(current))
        record = LabelRecord(
            annotator=annotator,
            frame_id=frame_id,
            label=label,
            revision=seen + 1,
            queue_version=queue_version,
            position=position,
            labelled_at=written_at,
            history=tuple(history[-MAX_HISTORY:]),
        )
        tx.set(path, _document(record))
        return record

    return documents.run_transaction(write)


def labels_of(documents: DocumentStore, annotator: str) -> dict[str, LabelRecord]:
    """Every label of ``annotator``, by frame id (one indexed query)."""
    found = documents.query(LABELS, [("annotator", "==", annotator)])
    records = (_record(doc.data) for doc in found)
    return {record.frame_id: record for record in records}


def iter_labels(documents: DocumentStore) -> Iterator[LabelRecord]:
    """Every label, page by page."""
    for doc in documents.iter_collection(LABELS):
        yield _record(doc.data)


def _answer(record: LabelRecord) -> dict[str, Any]:
    return {
        "classes": dict(record.label.classes),
        "unusable": record.label.unusable,
        "revision": record.revision,
        "labelled_at": record.labelled_at,
        "queue_version": record.queue_version,
        "position": record.position,
    }


def _document(record: LabelRecord) -> dict[str, Any]:
    return {
        "annotator": record.annotator,
        "frame": record.frame_id,
        **_answer(record),
        "history": [dict(item) for item in record.history],
    }


def _record(data: Mapping[str, Any]) -> LabelRecord:
    label = (
        Label(unusable=True)
        if data.get("unusable")
        else Label(classes=dict(data.get("classes") or {}))
    )
    labelled_at = data.get("labelled_at")
    return LabelRecord(
        annotator=str(data["annotator"]),
        frame_id=str(data["frame"]),
        label=label,
        revision=int(data.get("revision") or 0),
        queue_version=str(data.get("queue_version") or ""),
        position=int(data.get("position") or 0),
        labelled_at=labelled_at if isinstance(labelled_at, datetime) else None,
        history=tuple(data.get("history") or ()),
    )

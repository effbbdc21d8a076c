"""Ingest annotation files into per-(video, task) documents and keep their status.

Every object event of the annotations bucket is one fact about one file slot: "generation G
of this name now has this content" (finalized) or "generation G is gone" (deleted/archived).
A slot keeps the newest fact by ``(generation, deleted-after-finalized)``; older or repeated
facts change nothing, so the state depends on which files exist and what they hold, never on
the order events came in. The status is recomputed from the valid slots on every change.

Documents::

    caption_configs/<config>/tasks/<video_id>~<task>     slots, status, edge cases, history
    caption_configs/<config>/video_lists/<file id>       one per videos/*.jsonl object
    caption_configs/<config>/video_sources/<file id>~<video_id>   one per listed video
    quarantine/<file id>                                 files that could not be ingested
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.captions.counts import count_change, start_counting
from shared.captions.files import parse_task_file, parse_video_list
from shared.captions.layout import InvalidFileError, TaskFileName, VideoListName, parse_object_name
from shared.captions.settings import CaptionSettings
from shared.captions.slots import (
    MAX_HISTORY,
    _Fact,
    _history_entry,
    _iso,
    _observe_into,
    _order,
    _remember,
    effective,
    new_slot,
    new_task_document,
    recompute,
)
from shared.captions.store import (
    BATCH_SIZE,
    MAX_ERROR_CHARS,
    QUARANTINE,
    file_id,
    source_doc_id,
    task_doc_id,
    tasks_collection,
    video_lists_collection,
    video_sources_collection,
)
from shared.core.errors import NotFoundError, PermanentError
from shared.platform.context import Context
from shared.platform.events import StorageEvent, StorageObjectData
from shared.ports import SERVER_TIMESTAMP, BlobStore, Document, DocumentStore, Transaction

log = logging.getLogger("vidcurate.captions")


Outcome = Literal["applied", "unchanged", "stale", "quarantined"]


@dataclass(frozen=True)
class IngestResult:
    """What one object event did: ``applied`` (state changed), ``unchanged`` (a duplicate),
    ``stale`` (a newer fact is already known) or ``quarantined``."""

    name: str
    generation: int
    outcome: Outcome
    status: str | None = None
    reason: str | None = None


def ingest_event(services: Context[CaptionSettings], event: StorageEvent) -> IngestResult:
    """Apply one annotations-bucket event (finalized, deleted or archived)."""
    blobs, documents, settings = services.blobs, services.documents, services.settings
    obj = event.object
    if obj.bucket != settings.annotations_bucket:
        raise PermanentError(
            f"gs://{obj.bucket}/{obj.name}: event for a bucket other than the annotations "
            f"bucket ({settings.annotations_bucket})"
        )
    try:
        parsed = parse_object_name(obj.name)
        if parsed.config_type not in settings.task_sets:
            known = ", ".join(sorted(settings.task_sets))
            raise InvalidFileError(
                f"{obj.name}: config type {parsed.config_type!r} is not configured "
                f"(known: {known}; add it to VIDCURATE_TASK_SETS)"
            )
    except InvalidFileError as exc:
        return _quarantine_name(blobs, documents, event, str(exc))
    if event.removed and _superseded(blobs, obj):
        return IngestResult(obj.name, obj.generation, "stale", reason="a newer generation is live")
    fact = _observe(blobs, settings, event, parsed)
    if fact is None:
        return IngestResult(obj.name, obj.generation, "stale", reason="generation not readable")
    if isinstance(parsed, VideoListName):
        return _apply_video_list(documents, parsed, fact)
    return _apply_task_file(documents, parsed, fact)


def _superseded(blobs: BlobStore, obj: StorageObjectData) -> bool:
    """Whether a removal event is only the shadow of an overwrite (a newer generation)."""
    try:
        return blobs.stat(obj.bucket, obj.name).generation > obj.generation
    except NotFoundError:
        return False


def _observe(
    blobs: BlobStore,
    settings: CaptionSettings,
    event: StorageEvent,
    parsed: TaskFileName | VideoListName,
) -> _Fact | None:
    """Read and validate the event's generation; None if that generation cannot be read."""
    obj = event.object
    observation: dict[str, Any] = {
        "generation": obj.generation,
        "size": obj.size,
        "md5_hash": obj.md5_hash,
        "updated": _iso(obj.updated or event.context.time),
    }

    def invalid(error: str) -> _Fact:
        return _Fact({**observation, "state": "invalid", "error": error[:MAX_ERROR_CHARS]})

    if event.removed:
        return _Fact({**observation, "state": "deleted", "updated": _iso(event.context.time)})
    if obj.size == 0:
        # Some upload tools finalize an empty object before the real content: wait for it.
        return _Fact({**observation, "state": "empty"})
    is_list = isinstance(parsed, VideoListName)
    limit = settings.max_video_list_bytes if is_list else settings.max_annotation_bytes
    if obj.size > limit:
        return invalid(f"{obj.name}: {obj.size} bytes is larger than the {limit}-byte limit")
    try:
        data = blobs.read(obj.bucket, obj.name, generation=obj.generation)
    except NotFoundError:
        return None  # gone and not kept: the events of what replaced it bring the facts
    if len(data) > limit:  # the event's size is what GCS said; trust the bytes
        return invalid(f"{obj.name}: {len(data)} bytes is larger than the {limit}-byte limit")
    try:
        if isinstance(parsed, VideoListName):
            videos = parse_video_list(obj.name, data)
            return _Fact({**observation, "state": "valid"}, videos=videos)
        parse_task_file(obj.name, parsed.kind, data)
    except InvalidFileError as exc:
        return invalid(str(exc))
    # Kept as written (key order included): the document store then holds one string,
    # whatever nesting or key names the annotation tool used.
    return _Fact({**observation, "state": "valid"}, text=data.decode("utf-8-sig"))


def _apply_task_file(documents: DocumentStore, parsed: TaskFileName, fact: _Fact) -> IngestResult:
    config = parsed.config_type
    name = f"{config}/{parsed.task}/{parsed.video_id}_{parsed.kind}.json"
    path = f"{tasks_collection(config)}/{task_doc_id(parsed.video_id, parsed.task)}"
    quarantine_path = f"{QUARANTINE}/{file_id(name)}"
    valid = (
        {
            "generation": fact.generation,
            "updated": fact.observation["updated"],
            "md5_hash": fact.observation["md5_hash"],
            "json": fact.text,
        }
        if fact.text is not None
        else None
    )

    def apply(tx: Transaction) -> IngestResult:
        current = tx.get(path)
        quarantined = tx.get(quarantine_path)
        data = (
            current.data
            if current is not None
            else new_task_document(config, parsed.video_id, parsed.task)
        )
        state_before = (data["status"], data["has_edge_cases"]) if current is not None else None
        remembered = _remember(data["history"], _history_entry(name, fact))
        slot = data["files"].get(parsed.kind) or new_slot(name)
        latest_before = slot["latest"]
        if not _observe_into(slot, fact, valid):
            if remembered:
                tx.set(path, {**data, "updated_at": SERVER_TIMESTAMP})
                count_change(tx, config, parsed.video_id, parsed.task, state_before,
                             (data["status"], data["has_edge_cases"]))  # fmt: skip
            duplicate = latest_before is not None and _order(latest_before) == _order(
                fact.observation
            )
            outcome: Outcome = "unchanged" if duplicate else "stale"
            return IngestResult(name, fact.generation, outcome, data["status"])
        before = data["status"]
        data["files"][parsed.kind] = slot
        recompute(data)
        if data["status"] != before:
            data["transitions"].append(
                {
                    "from": before,
                    "to": data["status"],
                    "time": fact.observation["updated"],
                    "cause": f"{name}#{fact.generation}",
                }
            )
            del data["transitions"][:-MAX_HISTORY]
        tx.set(path, {**data, "updated_at": SERVER_TIMESTAMP})
        count_change(tx, config, parsed.video_id, parsed.task, state_before,
                     (data["status"], data["has_edge_cases"]))  # fmt: skip
        _sync_quarantine(tx, quarantine_path, quarantined, name, slot["latest"], config)
        outcome = "quarantined" if fact.state == "invalid" else "applied"
        return IngestResult(
            name, fact.generation, outcome, data["status"], fact.observation.get("error")
        )

    return documents.run_transaction(apply)


def _sync_quarantine(
    tx: Transaction,
    path: str,
    current: Document | None,
    name: str,
    latest: Mapping[str, Any],
    config_type: str | None,
) -> None:
    """Keep ``quarantine/<file id>`` equal to "the newest known generation is invalid"."""
    if current is not None and int(current.data["generation"]) > int(latest["generation"]):
        return
    if latest["state"] == "invalid":
        tx.set(
            path,
            {
                "name": name,
                "generation": latest["generation"],
                "config_type": config_type,
                "error": latest["error"],
                "time": latest["updated"],
                "recorded_at": SERVER_TIMESTAMP,
            },
        )
    elif current is not None:
        tx.delete(path)


def _quarantine_name(
    blobs: BlobStore, documents: DocumentStore, event: StorageEvent, error: str
) -> IngestResult:
    """A name outside the layout (or of an unknown config): keep the file, record why."""
    obj = event.object
    if not event.removed:
        try:
            live: int | None = blobs.stat(obj.bucket, obj.name).generation
        except NotFoundError:
            live = None
        except PermanentError:
            live = obj.generation  # a name this store cannot even hold: quarantine it anyway
        if live != obj.generation:
            return IngestResult(obj.name, obj.generation, "stale", reason="not the live generation")
    latest = {
        "generation": obj.generation,
        "updated": _iso(obj.updated),
        "state": "deleted" if event.removed else "invalid",
        "error": error[:MAX_ERROR_CHARS],
    }
    path = f"{QUARANTINE}/{file_id(obj.name)}"

    def apply(tx: Transaction) -> None:
        _sync_quarantine(tx, path, tx.get(path), obj.name, latest, None)

    documents.run_transaction(apply)
    if event.removed:
        return IngestResult(obj.name, obj.generation, "applied", reason="forgotten")
    log.warning("quarantined %s: %s", obj.name, error)
    return IngestResult(obj.name, obj.generation, "quarantined", reason=error)


def _apply_video_list(documents: DocumentStore, parsed: VideoListName, fact: _Fact) -> IngestResult:
    """Register (or forget) the videos of one list; safe to redo after a crash."""
    config = parsed.config_type
    start_counting(documents, config)  # a campaign's lists usually come first
    name = parsed.name
    list_id = file_id(name)
    list_path = f"{video_lists_collection(config)}/{list_id}"
    quarantine_path = f"{QUARANTINE}/{list_id}"
    valid = (
        {"generation": fact.generation, "videos": len(fact.videos), "complete": False}
        if fact.videos is not None
        else None
    )

    def claim(tx: Transaction) -> tuple[Outcome, bool]:
        current = tx.get(list_path)
        quarantined = tx.get(quarantine_path)
        slot = current.data if current is not None else new_slot(name)
        latest_before = slot["latest"]
        changed = _observe_into(slot, fact, valid)
        mine = slot["valid"] is not None and int(slot["valid"]["generation"]) == fact.generation
        unfinished = mine and fact.videos is not None and not slot["valid"]["complete"]
        if changed:
            tx.set(list_path, {**slot, "updated_at": SERVER_TIMESTAMP})
            _sync_quarantine(tx, quarantine_path, quarantined, name, slot["latest"], config)
            return ("quarantined" if fact.state == "invalid" else "applied"), unfinished
        duplicate = latest_before is not None and _order(latest_before) == _order(fact.observation)
        return ("unchanged" if duplicate else "stale"), unfinished

    outcome, write_entries = documents.run_transaction(claim)
    if write_entries and fact.videos is not None:
        sources = video_sources_collection(config)
        items = sorted(fact.videos.items())
        for start in range(0, len(items), BATCH_SIZE):
            with documents.batch() as batch:
                for video_id, url in items[start : start + BATCH_SIZE]:
                    batch.set(
                        f"{sources}/{source_doc_id(list_id, fact.generation, video_id)}",
                        {
                            "video_id": video_id,
                            "video_url": url,
                            "list_id": list_id,
                            "list_name": name,
                            "generation": fact.generation,
                        },
                    )
    if write_entries or outcome in ("applied", "quarantined"):
        _prune_sources(documents, config, list_id)

    def finish(tx: Transaction) -> None:
        current = tx.get(list_path)
        counted = current.data.get("valid") if current is not None else None
        if counted is not None and int(counted["generation"]) == fact.generation:
            tx.update(list_path, {"valid.complete": True})

    if write_entries:
        documents.run_transaction(finish)
        outcome = "applied" if outcome in ("unchanged", "stale") else outcome
    return IngestResult(name, fact.generation, outcome, reason=fact.observation.get("error"))


def _prune_sources(documents: DocumentStore, config: str, list_id: str) -> None:
    """Delete this list's entries of any generation other than the one that counts.

    Runs after every write of entries, against the list document as it is *now*: a slower
    handler of an older generation therefore cleans up its own late writes.
    """
    current = documents.get(f"{video_lists_collection(config)}/{list_id}")
    counted = effective(current.data) if current is not None else None
    keep = int(counted["generation"]) if counted is not None else None
    stale = [
        doc.path
        for doc in documents.query(
            video_sources_collection(config), where=[("list_id", "==", list_id)]
        )
        if doc.data["generation"] != keep
    ]
    for start in range(0, len(stale), BATCH_SIZE):
        with documents.batch() as batch:
            for path in stale[start : start + BATCH_SIZE]:
                batch.delete(path)

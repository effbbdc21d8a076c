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

import base64
import hashlib
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import orjson

from shared.bootstrap import Services
from shared.config import Settings
from shared.domain.captions import (
    InvalidFileError,
    Status,
    TaskFileName,
    VideoListName,
    derive_status,
    parse_object_name,
    parse_task_file,
    parse_video_list,
)
from shared.errors import ConfigError, NotFoundError, PermanentError
from shared.events import StorageEvent, StorageObjectData
from shared.ports import SERVER_TIMESTAMP, BlobStore, Document, DocumentStore, Transaction

log = logging.getLogger("vidcurate.captions")

CAPTION_CONFIGS = "caption_configs"
QUARANTINE = "quarantine"
MAX_HISTORY = 50
MAX_ERROR_CHARS = 500  # errors are kept in documents: bounded, they cannot crowd them out
BATCH_SIZE = 400  # Firestore commits at most 500 writes

SlotState = Literal["valid", "invalid", "empty", "deleted"]
Outcome = Literal["applied", "unchanged", "stale", "quarantined"]


def tasks_collection(config_type: str) -> str:
    """Where the (video, task) documents of a config live."""
    return f"{CAPTION_CONFIGS}/{config_type}/tasks"


def video_lists_collection(config_type: str) -> str:
    """One document per ``videos/*.jsonl`` object of a config."""
    return f"{CAPTION_CONFIGS}/{config_type}/video_lists"


def video_sources_collection(config_type: str) -> str:
    """One document per (video list, video) of a config: the registered videos."""
    return f"{CAPTION_CONFIGS}/{config_type}/video_sources"


def task_doc_id(video_id: str, task: str) -> str:
    """The document id of a (video, task); both parts are validated names without '~'."""
    return f"{video_id}~{task}"


def file_id(name: str) -> str:
    """A document id for an object name (names may hold '/', ids may not)."""
    return hashlib.sha256(name.encode("utf-8", errors="surrogatepass")).hexdigest()[:32]


@dataclass(frozen=True)
class IngestResult:
    """What one object event did: ``applied`` (state changed), ``unchanged`` (a duplicate),
    ``stale`` (a newer fact is already known) or ``quarantined``."""

    name: str
    generation: int
    outcome: Outcome
    status: str | None = None
    reason: str | None = None


def _iso(moment: datetime | None) -> str:
    moment = moment or datetime.now(UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _order(observation: Mapping[str, Any]) -> tuple[int, int]:
    """Newer generation wins; for the same generation a deletion comes after its content."""
    return int(observation["generation"]), 1 if observation["state"] == "deleted" else 0


@dataclass(frozen=True)
class _Fact:
    """One observation of a file generation, and for a valid one its text or videos."""

    observation: dict[str, Any]
    text: str | None = None  # a valid task file, as written
    videos: Mapping[str, str] | None = None  # a valid video list

    @property
    def state(self) -> SlotState:
        state: SlotState = self.observation["state"]
        return state

    @property
    def generation(self) -> int:
        return int(self.observation["generation"])


def new_slot(name: str) -> dict[str, Any]:
    """What is known about one object name: three maxima, so any delivery order agrees.

    ``latest``: the newest observation (valid, invalid, empty or deleted); ``valid``: the
    newest valid generation; ``deleted``: the newest deleted generation. The file counts
    when its newest valid generation is newer than any deletion: an invalid or empty
    upload is quarantined (or waited out) without changing the status.
    """
    return {"name": name, "latest": None, "valid": None, "deleted": None}


def _observe_into(slot: dict[str, Any], fact: _Fact, valid: dict[str, Any] | None) -> bool:
    """Fold a fact into a slot; whether anything changed."""
    changed = False
    if slot["latest"] is None or _order(fact.observation) > _order(slot["latest"]):
        slot["latest"] = fact.observation
        changed = True
    if valid is not None and (
        slot["valid"] is None or fact.generation > int(slot["valid"]["generation"])
    ):
        slot["valid"] = valid
        changed = True
    if fact.state == "deleted" and (slot["deleted"] is None or fact.generation > slot["deleted"]):
        slot["deleted"] = fact.generation
        changed = True
    return changed


def effective(slot: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The valid generation that counts, or None (never valid, or deleted since)."""
    valid = slot.get("valid")
    if valid is None:
        return None
    deleted = slot.get("deleted")
    return valid if deleted is None or deleted < int(valid["generation"]) else None


def ingest_event(services: Services, event: StorageEvent) -> IngestResult:
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
    settings: Settings,
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


# --- task files -----------------------------------------------------------------------------


def new_task_document(config_type: str, video_id: str, task: str) -> dict[str, Any]:
    """A (video, task) before any file: not completed."""
    return {
        "config_type": config_type,
        "video_id": video_id,
        "task": task,
        "files": {},
        "status": Status.NOT_COMPLETED.value,
        "edge_cases": [],
        "has_edge_cases": False,
        "quarantined_files": [],
        "annotator": None,
        "reviewer": None,
        "history": [],
        "transitions": [],
    }


def task_contents(files: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """``kind -> content`` of the files that count."""
    contents = {}
    for kind, slot in files.items():
        counted = effective(slot)
        if counted is not None:
            contents[kind] = orjson.loads(counted["json"])  # keeps the file's key order
    return contents


def recompute(data: dict[str, Any]) -> None:
    """Derive status, edge cases and people from the slots of a task document, in place."""
    contents = task_contents(data["files"])
    derived = derive_status(contents)
    data["status"] = derived.status.value
    data["edge_cases"] = [
        {"code": code.value, "reason": reason} for code, reason in derived.edge_cases
    ]
    data["has_edge_cases"] = bool(derived.edge_cases)
    data["quarantined_files"] = sorted(
        slot["name"] for slot in data["files"].values() if slot["latest"]["state"] == "invalid"
    )
    feedback = contents.get("feedback")
    previous = contents.get("feedback_prev")
    review = contents.get("review")
    original = previous if derived.status is Status.REJECTED and previous else feedback
    data["annotator"] = original.get("user") if original else None
    data["reviewer"] = review.get("reviewer") if review else None


def _history_entry(name: str, fact: _Fact) -> dict[str, Any]:
    observation = fact.observation
    entry = {
        "name": name,
        "generation": fact.generation,
        "event": "deleted" if fact.state == "deleted" else "finalized",
        "state": fact.state,
        "time": observation["updated"],
    }
    if "error" in observation:
        entry["error"] = observation["error"]
    return entry


def _remember(history: list[dict[str, Any]], entry: dict[str, Any]) -> bool:
    """Add a file observation to the history once; False if it was already there."""
    key = (entry["name"], entry["generation"], entry["event"])
    if any((h["name"], h["generation"], h["event"]) == key for h in history):
        return False
    history.append(entry)
    history.sort(key=lambda h: (h["time"], h["generation"], h["event"], h["name"]))
    del history[:-MAX_HISTORY]
    return True


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
        remembered = _remember(data["history"], _history_entry(name, fact))
        slot = data["files"].get(parsed.kind) or new_slot(name)
        latest_before = slot["latest"]
        if not _observe_into(slot, fact, valid):
            if remembered:
                tx.set(path, {**data, "updated_at": SERVER_TIMESTAMP})
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


# --- video lists ----------------------------------------------------------------------------


def source_doc_id(list_id: str, generation: int, video_id: str) -> str:
    """One registration: the list generation is part of the id, so generations never mix."""
    return f"{list_id}~{generation}~{video_id}"


def _apply_video_list(documents: DocumentStore, parsed: VideoListName, fact: _Fact) -> IngestResult:
    """Register (or forget) the videos of one list; safe to redo after a crash."""
    config = parsed.config_type
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


def counted_lists(documents: DocumentStore, config_type: str) -> dict[str, dict[str, Any]]:
    """``list id -> valid generation record`` of every video list that counts now."""
    counted = {}
    for doc in documents.iter_collection(video_lists_collection(config_type)):
        valid = effective(doc.data)
        if valid is not None:
            counted[doc.id] = dict(valid)
    return counted


# --- uploading a campaign folder ------------------------------------------------------------


@dataclass(frozen=True)
class UploadSummary:
    """What ``upload_folder`` did: new or changed files uploaded, identical ones skipped."""

    uploaded: list[str]
    unchanged: list[str]
    skipped: list[str]  # not regular files (links, sockets...), never uploaded


def _local_md5(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return base64.b64encode(digest.digest()).decode("ascii")


def upload_folder(
    services: Services,
    source: Path,
    config_type: str,
    *,
    force: bool = False,
    on_file: Callable[[str], None] | None = None,
) -> UploadSummary:
    """Upload every file under ``source`` as ``<config_type>/<relative path>``.

    This is what an annotation tool does. A file whose bytes are already the live object's is
    not uploaded again (like ``gsutil rsync``), so running it twice changes nothing; with
    ``force`` every file is uploaded again (new generations, ingested afresh: e.g. after a
    config type or task was added to the configuration).
    """
    if not source.is_dir():
        raise ConfigError(f"{source} is not a folder")
    if config_type not in services.settings.task_sets:
        known = ", ".join(sorted(services.settings.task_sets))
        raise ConfigError(f"unknown config type {config_type!r} (known: {known})")
    bucket = services.settings.annotations_bucket
    live = {info.name: info.md5_hash for info in services.blobs.list(bucket, f"{config_type}/")}
    uploaded: list[str] = []
    unchanged: list[str] = []
    skipped: list[str] = []
    for path in sorted(source.rglob("*")):
        if path.is_dir():
            continue
        relative = path.relative_to(source).as_posix()
        if path.is_symlink() or not path.is_file():
            skipped.append(relative)
            continue
        name = f"{config_type}/{relative}"
        if not force and live.get(name) == _local_md5(path):
            unchanged.append(name)
        else:
            content_type = "application/x-ndjson" if name.endswith(".jsonl") else "application/json"
            services.blobs.write(bucket, name, path.read_bytes(), content_type=content_type)
            uploaded.append(name)
        if on_file is not None:
            on_file(name)
    return UploadSummary(uploaded, unchanged, skipped)


@dataclass(frozen=True)
class CaptionProgress:
    """Per task status counts of one config, counted by the store (no hot counters)."""

    config_type: str
    registered_videos: int
    tasks: dict[str, dict[str, int]]
    edge_case_tasks: int
    quarantined_files: int


def caption_progress(documents: DocumentStore, settings: Settings) -> list[CaptionProgress]:
    """Counts for ``vidcurate status``; not_completed = registered videos minus the rest.

    ``registered_videos`` adds up the lists, so a video listed in two files counts twice
    here, and tasks of unregistered videos count too (exports deduplicate and leave those
    out): this is a progress view, the export is the record.
    """
    report = []
    for config_type, tasks in settings.task_sets.items():
        collection = tasks_collection(config_type)
        registered = sum(int(v["videos"]) for v in counted_lists(documents, config_type).values())
        per_task: dict[str, dict[str, int]] = {}
        for task in tasks:
            counts = {
                status.value: documents.count(
                    collection, [("task", "==", task), ("status", "==", status.value)]
                )
                for status in Status
                if status is not Status.NOT_COMPLETED
            }
            counts = {
                Status.NOT_COMPLETED.value: max(registered - sum(counts.values()), 0),
                **counts,
            }
            per_task[task] = counts
        report.append(
            CaptionProgress(
                config_type=config_type,
                registered_videos=registered,
                tasks=per_task,
                edge_case_tasks=documents.count(collection, [("has_edge_cases", "==", True)]),
                quarantined_files=documents.count(QUARANTINE, [("config_type", "==", config_type)]),
            )
        )
    return report

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
MAX_HISTORY = 100
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


def _order(slot: Mapping[str, Any]) -> tuple[int, int]:
    """Newer generation wins; for the same generation a deletion comes after its content."""
    return int(slot["generation"]), 1 if slot["state"] == "deleted" else 0


@dataclass(frozen=True)
class _Fact:
    """One observed fact about a file: its slot as it will be stored."""

    slot: dict[str, Any]
    content: Any = None  # the validated JSON (task file) or {video_id: url} (video list)

    @property
    def state(self) -> SlotState:
        state: SlotState = self.slot["state"]
        return state


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
        return IngestResult(obj.name, obj.generation, "stale", reason="generation no longer live")
    if isinstance(parsed, VideoListName):
        return _apply_video_list(documents, parsed, obj, fact)
    return _apply_task_file(documents, settings, parsed, fact)


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
    """Read and validate the event's generation; None if that generation is gone already."""
    obj = event.object
    slot: dict[str, Any] = {
        "name": obj.name,
        "generation": obj.generation,
        "size": obj.size,
        "md5_hash": obj.md5_hash,
        "updated": _iso(obj.updated or event.context.time),
    }
    if event.removed:
        return _Fact({**slot, "state": "deleted", "updated": _iso(event.context.time)})
    if obj.size == 0:
        # Some upload tools finalize an empty object before the real content: wait for it.
        return _Fact({**slot, "state": "empty"})
    limit = (
        settings.max_video_list_bytes
        if isinstance(parsed, VideoListName)
        else settings.max_annotation_bytes
    )
    if obj.size > limit:
        error = f"{obj.name}: {obj.size} bytes is larger than the {limit}-byte limit"
        return _Fact({**slot, "state": "invalid", "error": error})
    try:
        data = blobs.read(obj.bucket, obj.name, generation=obj.generation)
    except NotFoundError:
        return None  # replaced or deleted since: that event brings the newer fact
    if len(data) > limit:  # the event's size is what GCS said; trust the bytes
        error = f"{obj.name}: {len(data)} bytes is larger than the {limit}-byte limit"
        return _Fact({**slot, "state": "invalid", "error": error})
    try:
        if isinstance(parsed, VideoListName):
            videos = parse_video_list(obj.name, data)
            return _Fact({**slot, "state": "valid", "videos": len(videos)}, videos)
        content = parse_task_file(obj.name, parsed.kind, data)
    except InvalidFileError as exc:
        return _Fact({**slot, "state": "invalid", "error": str(exc)})
    return _Fact({**slot, "state": "valid", "content": content}, content)


# --- task files -----------------------------------------------------------------------------


def new_task_document(config_type: str, video_id: str, task: str, *, known: bool) -> dict[str, Any]:
    """A (video, task) before any file: not completed."""
    return {
        "config_type": config_type,
        "video_id": video_id,
        "task": task,
        "task_known": known,
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


def _valid_contents(files: Mapping[str, Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    return {kind: slot["content"] for kind, slot in files.items() if slot["state"] == "valid"}


def recompute(data: dict[str, Any]) -> None:
    """Derive status, edge cases and people from the slots of a task document, in place."""
    contents = _valid_contents(data["files"])
    derived = derive_status(contents, task_known=data["task_known"])
    data["status"] = derived.status.value
    data["edge_cases"] = [
        {"code": code.value, "reason": reason} for code, reason in derived.edge_cases
    ]
    data["has_edge_cases"] = bool(derived.edge_cases)
    data["quarantined_files"] = sorted(
        slot["name"] for slot in data["files"].values() if slot["state"] == "invalid"
    )
    feedback = contents.get("feedback")
    previous = contents.get("feedback_prev")
    review = contents.get("review")
    original = previous if derived.status is Status.REJECTED and previous else feedback
    data["annotator"] = original.get("user") if original else None
    data["reviewer"] = review.get("reviewer") if review else None


def _history_entry(fact: _Fact) -> dict[str, Any]:
    slot = fact.slot
    entry = {
        "name": slot["name"],
        "generation": slot["generation"],
        "event": "deleted" if fact.state == "deleted" else "finalized",
        "state": fact.state,
        "time": slot["updated"],
    }
    if "error" in slot:
        entry["error"] = slot["error"]
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


def _apply_task_file(
    documents: DocumentStore, settings: Settings, parsed: TaskFileName, fact: _Fact
) -> IngestResult:
    config = parsed.config_type
    path = f"{tasks_collection(config)}/{task_doc_id(parsed.video_id, parsed.task)}"
    quarantine_path = f"{QUARANTINE}/{file_id(fact.slot['name'])}"
    known = parsed.task in settings.task_sets[config]

    def apply(tx: Transaction) -> IngestResult:
        current = tx.get(path)
        quarantined = tx.get(quarantine_path)
        data = (
            current.data
            if current is not None
            else new_task_document(config, parsed.video_id, parsed.task, known=known)
        )
        remembered = _remember(data["history"], _history_entry(fact))
        old = data["files"].get(parsed.kind)
        if old is not None and _order(old) >= _order(fact.slot):
            outcome: Outcome = "unchanged" if _order(old) == _order(fact.slot) else "stale"
            if remembered:
                tx.set(path, {**data, "updated_at": SERVER_TIMESTAMP})
            return IngestResult(fact.slot["name"], fact.slot["generation"], outcome, data["status"])
        before = data["status"]
        data["files"][parsed.kind] = fact.slot
        recompute(data)
        if data["status"] != before:
            data["transitions"].append(
                {
                    "from": before,
                    "to": data["status"],
                    "time": fact.slot["updated"],
                    "cause": f"{fact.slot['name']}#{fact.slot['generation']}",
                }
            )
            del data["transitions"][:-MAX_HISTORY]
        tx.set(path, {**data, "updated_at": SERVER_TIMESTAMP})
        _sync_quarantine(tx, quarantine_path, quarantined, fact, config)
        outcome = "quarantined" if fact.state == "invalid" else "applied"
        return IngestResult(
            fact.slot["name"],
            fact.slot["generation"],
            outcome,
            data["status"],
            fact.slot.get("error"),
        )

    return documents.run_transaction(apply)


def _sync_quarantine(
    tx: Transaction,
    path: str,
    current: Document | None,
    fact: _Fact,
    config_type: str | None,
) -> None:
    """Keep ``quarantine/<file id>`` equal to "the newest known generation is invalid"."""
    if current is not None and int(current.data["generation"]) > fact.slot["generation"]:
        return
    if fact.state == "invalid":
        tx.set(
            path,
            {
                "name": fact.slot["name"],
                "generation": fact.slot["generation"],
                "config_type": config_type,
                "error": fact.slot["error"],
                "time": fact.slot["updated"],
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
    state: SlotState = "deleted" if event.removed else "invalid"
    slot = {"name": obj.name, "generation": obj.generation, "updated": _iso(obj.updated),
            "state": state, "error": error}  # fmt: skip
    fact = _Fact(slot)
    path = f"{QUARANTINE}/{file_id(obj.name)}"

    def apply(tx: Transaction) -> None:
        _sync_quarantine(tx, path, tx.get(path), fact, None)

    documents.run_transaction(apply)
    if event.removed:
        return IngestResult(obj.name, obj.generation, "applied", reason="forgotten")
    log.warning("quarantined %s: %s", obj.name, error)
    return IngestResult(obj.name, obj.generation, "quarantined", reason=error)


# --- video lists ----------------------------------------------------------------------------


def _apply_video_list(
    documents: DocumentStore, parsed: VideoListName, obj: StorageObjectData, fact: _Fact
) -> IngestResult:
    """Register (or forget) the videos of one list; safe to redo after a crash."""
    config = parsed.config_type
    list_id = file_id(obj.name)
    list_path = f"{video_lists_collection(config)}/{list_id}"
    quarantine_path = f"{QUARANTINE}/{list_id}"

    def claim(tx: Transaction) -> Outcome:
        current = tx.get(list_path)
        quarantined = tx.get(quarantine_path)
        if current is not None:
            if _order(current.data) > _order(fact.slot):
                return "stale"
            if _order(current.data) == _order(fact.slot) and current.data.get("complete"):
                return "unchanged"
        tx.set(list_path, {**fact.slot, "complete": False, "updated_at": SERVER_TIMESTAMP})
        _sync_quarantine(tx, quarantine_path, quarantined, fact, config)
        return "quarantined" if fact.state == "invalid" else "applied"

    outcome = documents.run_transaction(claim)
    if outcome in ("stale", "unchanged"):
        return IngestResult(obj.name, obj.generation, outcome)
    sources = video_sources_collection(config)
    videos: Mapping[str, str] = fact.content if fact.state == "valid" else {}
    items = sorted(videos.items())
    for start in range(0, len(items), BATCH_SIZE):
        with documents.batch() as batch:
            for video_id, url in items[start : start + BATCH_SIZE]:
                batch.set(
                    f"{sources}/{list_id}~{video_id}",
                    {
                        "video_id": video_id,
                        "video_url": url,
                        "list_id": list_id,
                        "list_name": obj.name,
                        "generation": obj.generation,
                    },
                )
    _prune_sources(documents, config, list_id)

    def finish(tx: Transaction) -> None:
        current = tx.get(list_path)
        if current is not None and _order(current.data) == _order(fact.slot):
            tx.update(list_path, {"complete": True})

    documents.run_transaction(finish)
    return IngestResult(obj.name, obj.generation, outcome, reason=fact.slot.get("error"))


def _prune_sources(documents: DocumentStore, config: str, list_id: str) -> None:
    """Delete this list's entries that its newest known generation does not hold.

    Runs after every write of entries, against the list document as it is *now*: a slower
    handler of an older generation therefore cleans up its own late writes.
    """
    current = documents.get(f"{video_lists_collection(config)}/{list_id}")
    keep = (
        int(current.data["generation"])
        if current is not None and current.data["state"] == "valid"
        else None
    )
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
    on_file: Callable[[str], None] | None = None,
) -> UploadSummary:
    """Upload every file under ``source`` as ``<config_type>/<relative path>``.

    This is what an annotation tool does. A file whose bytes are already the live object's is
    not uploaded again (like ``gsutil rsync``), so running it twice changes nothing.
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
        if live.get(name) == _local_md5(path):
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

    ``registered_videos`` counts list entries, so a video listed in two files counts twice
    here (exports deduplicate).
    """
    report = []
    for config_type, tasks in settings.task_sets.items():
        collection = tasks_collection(config_type)
        registered = documents.count(video_sources_collection(config_type))
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

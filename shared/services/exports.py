"""Snapshot the caption dataset into the export files users know, with statistics.

An export is a folder ``export_YYYYMMDD_HHMM/`` holding::

    all_videos_with_captions_<ts>.json     videos with any completed task
    reviewed_videos_<ts>.json              videos with any approved or rejected task
    not_completed_videos_<ts>.json         videos with no annotation work begun
    comprehensive_statistics_<ts>.json     per task, per person, edge cases, totals

It always goes to the exports bucket (where ``hub_upload`` reads it) and, from the CLI, to a
local folder too. Folders are claimed with a create-only document: an export never replaces
an earlier one, and a redelivered request finishes its own folder.
"""

from __future__ import annotations

import gc
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bootstrap import Services
from shared.config import NAME_PATTERN, Settings
from shared.domain.captions import REVIEWED, STATUSES, EdgeCase, Status
from shared.errors import AlreadyExistsError, PermanentError, PreconditionFailedError
from shared.ports import SERVER_TIMESTAMP, DocumentStore
from shared.services.captions import (
    QUARANTINE,
    counted_lists,
    effective,
    task_contents,
    tasks_collection,
    video_sources_collection,
)
from shared.services.hub import check_repo_id

log = logging.getLogger("vidcurate.exports")

EXPORTS = "exports"
MAX_FOLDERS_PER_MINUTE = 50
MAX_LISTED_PROBLEMS = 50
HUB_UPLOADS_TOPIC = "hub-uploads"
EXPORT_REQUESTS_TOPIC = "export-requests"
RATING_FIELDS = ("initial_caption_rating_score", "feedback_rating_score", "caption_rating_score")


class ExportRequest(BaseModel):
    """What to export: the CLI flags, and the body of an ``export-requests`` message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    config_type: str = "default"
    only_reviewed: bool = False
    ignore_errors: bool = False
    with_history: bool = False
    hf_dataset: str | None = None
    publish: bool = Field(
        False, description="Publish to the Hub (to hf_dataset, or the configured default)."
    )

    @field_validator("config_type")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME_PATTERN.fullmatch(value):
            raise ValueError(f"invalid config type {value!r}")
        return value

    @field_validator("hf_dataset")
    @classmethod
    def _repo(cls, value: str | None) -> str | None:
        return None if value is None else check_repo_id(value)


class ExportBlockedError(PermanentError):
    """Edge cases or quarantined files stop a strict export; the message lists them."""


class ExportRequestError(PermanentError):
    """The request cannot be served as asked (unknown config type, no repo to publish to)."""


class ExportExistsError(PermanentError):
    """The export folder exists already; exports are never overwritten."""


@dataclass
class Snapshot:
    """The dataset at one moment: entries per video plus everything statistics need."""

    config_type: str
    tasks: dict[str, str]
    entries: dict[str, dict[str, Any]]  # video_id -> export entry, in video_id order
    statuses: dict[str, dict[str, str]]  # video_id -> task -> status
    task_docs: list[dict[str, Any]]
    edge_cases: list[dict[str, Any]]
    quarantined: list[dict[str, Any]]
    begun: set[str] = field(default_factory=set)  # videos with any file, valid or not

    def videos_where(self, keep: set[Status] | frozenset[Status]) -> Iterator[str]:
        """Video ids with at least one task in one of ``keep``."""
        for video_id, by_task in self.statuses.items():
            if any(Status(s) in keep for s in by_task.values()):
                yield video_id

    def not_started(self) -> Iterator[str]:
        """Video ids with no annotation work begun: no file of any task, valid or not."""
        for video_id, by_task in self.statuses.items():
            if video_id not in self.begun and all(
                s == Status.NOT_COMPLETED for s in by_task.values()
            ):
                yield video_id


@dataclass(frozen=True)
class ExportResult:
    """Where an export went and what it held."""

    folder: str
    timestamp: str
    files: dict[str, int]  # file name -> bytes
    bucket: str
    local_dir: Path | None
    statistics: dict[str, Any]
    hub_message_id: str | None = None
    warnings: list[str] = field(default_factory=list)


# --- reading the state ----------------------------------------------------------------------


def registered_videos(documents: DocumentStore, config_type: str) -> dict[str, str]:
    """``video_id -> video_url`` of every registered video (the first list by name wins).

    Only entries of the generation of each list that counts now are read as registered.
    """
    counted = {
        list_id: int(valid["generation"])
        for list_id, valid in counted_lists(documents, config_type).items()
    }
    chosen: dict[str, tuple[str, str]] = {}
    for doc in documents.iter_collection(video_sources_collection(config_type)):
        data = doc.data
        if counted.get(data["list_id"]) != data["generation"]:
            continue  # an older or newer generation still being written or pruned
        candidate = (data["list_name"], data["video_url"])
        current = chosen.get(data["video_id"])
        if current is None or candidate < current:
            chosen[data["video_id"]] = candidate
    return {video_id: chosen[video_id][1] for video_id in sorted(chosen)}


def _caption_entry(doc: Mapping[str, Any], *, with_history: bool) -> dict[str, Any]:
    """One task of a video in the export shape: status, caption_data, negative_example."""
    status = doc["status"]
    entry: dict[str, Any] = {"status": status}
    contents = task_contents(doc["files"])  # each file as written, key order included
    feedback = contents.get("feedback")
    if status != Status.NOT_COMPLETED and feedback is not None:
        caption_data = feedback
        review = contents.get("review")
        if review is not None and status in REVIEWED:
            caption_data["reviewer"] = review.get("reviewer")
            caption_data["review_timestamp"] = review.get("review_timestamp")
            caption_data["reviewer_double_check"] = review.get("reviewer_double_check")
        previous = contents.get("feedback_prev")
        if status == Status.REJECTED and previous is not None:
            caption_data["original_annotator"] = previous.get("user")
        entry["caption_data"] = caption_data
        if status == Status.REJECTED and previous is not None:
            entry["negative_example"] = previous
    if with_history:
        entry["history"] = {
            "files": [
                {k: h[k] for k in ("name", "generation", "time", "event", "state") if k in h}
                for h in doc.get("history", [])
            ],
            "transitions": list(doc.get("transitions", [])),
        }
    return entry


def _names(files: Mapping[str, Mapping[str, Any]]) -> list[str]:
    return sorted(slot["name"] for slot in files.values() if slot["latest"]["state"] != "deleted")


def _begun(files: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether any file of the task exists (valid, invalid or still empty)."""
    return any(slot["latest"]["state"] != "deleted" for slot in files.values())


def take_snapshot(
    documents: DocumentStore, settings: Settings, config_type: str, *, with_history: bool = False
) -> Snapshot:
    """Read the registered videos, every (video, task) document and the quarantine."""
    if config_type not in settings.task_sets:
        known = ", ".join(sorted(settings.task_sets))
        raise ExportRequestError(f"unknown config type {config_type!r} (known: {known})")
    tasks = settings.task_sets[config_type]
    videos = registered_videos(documents, config_type)
    captions: dict[str, dict[str, dict[str, Any]]] = {video_id: {} for video_id in videos}
    task_docs: list[dict[str, Any]] = []
    edge_cases: list[dict[str, Any]] = []
    unregistered: dict[str, list[str]] = defaultdict(list)
    begun: set[str] = set()
    for doc in documents.iter_collection(tasks_collection(config_type)):
        data = doc.data
        task_docs.append(data)
        video_id, task = data["video_id"], data["task"]
        files = data["files"]
        for edge in data["edge_cases"]:
            edge_cases.append({**edge, "video_id": video_id, "task": task, "files": _names(files)})
        counted = any(effective(slot) is not None for slot in files.values())
        if task not in tasks and counted:
            # Judged against today's configuration, not the one the files arrived under.
            edge_cases.append(
                {
                    "code": EdgeCase.TASK_NOT_IN_CONFIG.value,
                    "reason": f"task {task!r} is not in config {config_type!r}",
                    "video_id": video_id,
                    "task": task,
                    "files": _names(files),
                }
            )
        if video_id not in videos:
            if counted:
                unregistered[video_id].extend(_names(files))
            continue
        if _begun(files):
            begun.add(video_id)
        if task in tasks:
            captions[video_id][task] = _caption_entry(data, with_history=with_history)
    for video_id, names in sorted(unregistered.items()):
        edge_cases.append(
            {
                "code": EdgeCase.VIDEO_NOT_REGISTERED.value,
                "reason": "annotation files for a video_id that no videos/*.jsonl lists",
                "video_id": video_id,
                "task": None,
                "files": sorted(names),
            }
        )
    edge_cases.sort(key=lambda e: (e["code"], e["video_id"], e["task"] or ""))
    entries: dict[str, dict[str, Any]] = {}
    statuses: dict[str, dict[str, str]] = {}
    not_completed = {"status": Status.NOT_COMPLETED.value}
    for video_id, url in videos.items():
        by_task = captions[video_id]
        ordered = {task: by_task.get(task, not_completed) for task in tasks}
        entries[video_id] = {"video_id": video_id, "video_url": url, "captions": ordered}
        statuses[video_id] = {task: entry["status"] for task, entry in ordered.items()}
    quarantined = sorted(
        (
            {k: doc.data.get(k) for k in ("name", "generation", "error", "time")}
            for doc in documents.iter_collection(QUARANTINE)
            if _concerns(doc.data["name"], config_type, settings)
        ),
        key=lambda q: str(q["name"]),
    )
    return Snapshot(
        config_type, dict(tasks), entries, statuses, task_docs, edge_cases, quarantined, begun
    )


def _concerns(name: str, config_type: str, settings: Settings) -> bool:
    """Whether a quarantined file belongs to this config (or to no configured one)."""
    first = name.split("/", 1)[0]
    return first == config_type or first not in settings.task_sets


# --- statistics -----------------------------------------------------------------------------


def _rate(numerator: int, denominator: int) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def compute_statistics(snapshot: Snapshot, timestamp: str, generated_at: str) -> dict[str, Any]:
    """Counts and rates per task, per annotator and reviewer; edge cases; totals."""
    tasks = snapshot.tasks
    total_videos = len(snapshot.entries)
    counts: dict[str, Counter[str]] = {task: Counter() for task in tasks}
    for by_task in snapshot.statuses.values():
        for task, status in by_task.items():
            counts[task][status] += 1
    ratings: dict[str, dict[str, Counter[str]]] = {
        task: {name: Counter() for name in RATING_FIELDS} for task in tasks
    }
    workflows: dict[str, Counter[str]] = {task: Counter() for task in tasks}
    annotators: dict[str, Counter[str]] = defaultdict(Counter)
    reviewers: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in snapshot.entries.values():
        for task, caption in entry["captions"].items():
            data = caption.get("caption_data")
            if data is None:
                continue
            for name in RATING_FIELDS:
                if data.get(name) is not None:
                    ratings[task][name][str(data[name])] += 1
            workflows[task][str(data.get("workflow_type"))] += 1
            status = caption["status"]
            annotator = data.get("original_annotator") or data.get("user")
            annotators[str(annotator)]["tasks"] += 1
            if status == Status.COMPLETED_NOT_REVIEWED:
                annotators[str(annotator)]["pending_review"] += 1
            else:
                annotators[str(annotator)][status] += 1
                reviewer = str(data.get("reviewer"))
                reviewers[reviewer]["reviews"] += 1
                reviewers[reviewer][status] += 1
    per_task: dict[str, Any] = {}
    for task, long_name in tasks.items():
        c = counts[task]
        completed = total_videos - c[Status.NOT_COMPLETED]
        reviewed = c[Status.APPROVED] + c[Status.REJECTED]
        per_task[task] = {
            "long_name": long_name,
            "status_counts": {status.value: c[status] for status in STATUSES},
            "completed": completed,
            "reviewed": reviewed,
            "completion_rate": _rate(completed, total_videos),
            "review_rate": _rate(reviewed, completed),
            "approval_rate": _rate(c[Status.APPROVED], reviewed),
            "rating_distributions": {
                name: dict(sorted(dist.items())) for name, dist in ratings[task].items()
            },
            "workflow_types": dict(sorted(workflows[task].items())),
        }

    def people(table: Mapping[str, Counter[str]], total_key: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for person in sorted(table):
            row = table[person]
            decided = row[Status.APPROVED] + row[Status.REJECTED]
            out[person] = {
                total_key: row[total_key],
                "approved": row[Status.APPROVED],
                "rejected": row[Status.REJECTED],
                **({"pending_review": row["pending_review"]} if total_key == "tasks" else {}),
                "approval_rate": _rate(row[Status.APPROVED], decided),
            }
        return out

    status_totals = {s.value: sum(counts[t][s] for t in tasks) for s in STATUSES}
    return {
        "export_timestamp": timestamp,
        "generated_at": generated_at,
        "config_type": snapshot.config_type,
        "tasks": list(tasks),
        "totals": {
            "videos": total_videos,
            "videos_with_any_completed_task": sum(
                1 for _ in snapshot.videos_where(set(STATUSES) - {Status.NOT_COMPLETED})
            ),
            "videos_with_any_reviewed_task": sum(1 for _ in snapshot.videos_where(REVIEWED)),
            "videos_not_started": sum(1 for _ in snapshot.not_started()),
            "tasks_total": total_videos * len(tasks),
            "status_counts": status_totals,
            "edge_cases": len(snapshot.edge_cases),
            "quarantined_files": len(snapshot.quarantined),
        },
        "per_task": per_task,
        "annotators": people(annotators, "tasks"),
        "reviewers": people(reviewers, "reviews"),
        "edge_case_counts": dict(sorted(Counter(e["code"] for e in snapshot.edge_cases).items())),
        "edge_cases": snapshot.edge_cases,
        "quarantined": snapshot.quarantined,
    }


# --- writing --------------------------------------------------------------------------------


def export_timestamp(moment: datetime) -> str:
    """``YYYYMMDD_HHMM`` in UTC, the folder and file suffix of an export."""
    return moment.astimezone(UTC).strftime("%Y%m%d_%H%M")


def encode_json(value: Any) -> bytes:
    """JSON with two-space indents, as the original export script wrote (json.dump(indent=2),
    UTF-8); orjson writes the same text several times faster, which large exports need."""
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def render_export(
    snapshot: Snapshot, request: ExportRequest, timestamp: str, generated_at: str
) -> dict[str, bytes]:
    """File name -> bytes of an export, in the shapes of the original export script."""
    statistics = compute_statistics(snapshot, timestamp, generated_at)
    reviewed = set(snapshot.videos_where(REVIEWED))
    completed = set(snapshot.videos_where(set(STATUSES) - {Status.NOT_COMPLETED}))
    entries = snapshot.entries
    files: dict[str, bytes] = {}
    if not request.only_reviewed:
        files[f"all_videos_with_captions_{timestamp}.json"] = encode_json(
            [entry for video_id, entry in entries.items() if video_id in completed]
        )
    files[f"reviewed_videos_{timestamp}.json"] = encode_json(
        [entry for video_id, entry in entries.items() if video_id in reviewed]
    )
    if not request.only_reviewed:
        files[f"not_completed_videos_{timestamp}.json"] = encode_json(
            [entries[video_id] for video_id in snapshot.not_started()]
        )
    files[f"comprehensive_statistics_{timestamp}.json"] = encode_json(statistics)
    return files


def blocking_problems(snapshot: Snapshot) -> list[str]:
    """Edge cases and quarantined files, one line each, as a strict export reports them."""
    lines = [
        f"{e['code']}: video {e['video_id']}"
        + (f" task {e['task']}" if e["task"] else "")
        + f" — {e['reason']} ({', '.join(e['files'])})"
        for e in snapshot.edge_cases
    ]
    lines += [f"quarantined: {q['name']} — {q['error']}" for q in snapshot.quarantined]
    return lines


@contextmanager
def gc_paused() -> Iterator[None]:
    """Build a large acyclic structure without the cyclic GC rescanning it again and again.

    A snapshot of 10,000 videos allocates millions of dicts and lists; every generation-0
    threshold crossed would traverse them, which nearly doubles the time. Nothing created
    here forms cycles, and collection resumes (and catches up) when the block ends.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def run_export(
    services: Services,
    request: ExportRequest,
    *,
    request_id: str,
    now: datetime | None = None,
    export_dir: Path | None = None,
) -> ExportResult:
    """Snapshot, check, write to the exports bucket (and ``export_dir``), ask for publishing.

    ``request_id`` identifies the request (a message id, or a fresh id from the CLI): a
    redelivery of the same request completes the same folder, or if it was finished,
    returns it unchanged. Another export in the same minute gets ``export_..._2``: an
    export never replaces an earlier one.
    """
    settings, documents = services.settings, services.documents
    moment = now or datetime.now(UTC)
    with gc_paused():
        snapshot = take_snapshot(
            documents, settings, request.config_type, with_history=request.with_history
        )
    problems = blocking_problems(snapshot)
    if problems and not request.ignore_errors:
        shown = "\n  ".join(problems[:MAX_LISTED_PROBLEMS])
        more = len(problems) - MAX_LISTED_PROBLEMS
        raise ExportBlockedError(
            f"export of config {request.config_type!r} stopped: {len(problems)} edge case(s) "
            f"or quarantined file(s); fix them or pass --ignore-errors:\n  {shown}"
            + (f"\n  ... and {more} more" if more > 0 else "")
        )
    repo_id = request.hf_dataset or (settings.hf_dataset if request.publish else None)
    if (request.publish or request.hf_dataset) and repo_id is None:
        raise ExportRequestError("publishing needs --hf-dataset OWNER/NAME or VIDCURATE_HF_DATASET")
    generated_at = moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    claim = _claim_folder(
        documents, f"export_{export_timestamp(moment)}", request, request_id, generated_at,
        export_dir,
    )  # fmt: skip
    folder = claim["folder"]
    timestamp = folder.removeprefix("export_")
    bucket = settings.exports_bucket
    local = export_dir / folder if export_dir is not None else None
    if claim.get("state") == "written":
        # A redelivery of a request that finished: the folder is final, never rewritten.
        files = {
            info.name.removeprefix(f"{folder}/"): services.blobs.read(bucket, info.name)
            for info in services.blobs.list(bucket, f"{folder}/")
        }
    else:
        with gc_paused():
            files = render_export(snapshot, request, timestamp, claim["generated_at"])
        for name, data in files.items():
            _write_once(services, bucket, f"{folder}/{name}", data, request_id, claim)
    if local is not None and not local.exists():
        local.mkdir(parents=True)
        for name, data in files.items():
            (local / name).write_bytes(data)
    statistics = json.loads(files[f"comprehensive_statistics_{timestamp}.json"])
    hub_message_id = None
    if repo_id is not None:
        # hub_upload makes one commit per (repo, folder) however often this is published.
        body = json.dumps({"folder": folder, "repo_id": repo_id}).encode()
        hub_message_id = services.bus.publish(HUB_UPLOADS_TOPIC, body, {"folder": folder})
    documents.update(
        f"{EXPORTS}/{folder}",
        {
            "state": "written",
            "config_type": request.config_type,
            "files": {name: len(data) for name, data in files.items()},
            "totals": statistics["totals"],
            "hf_dataset": repo_id,
            "written_at": SERVER_TIMESTAMP,
        },
    )
    log.info("export %s written to gs://%s/%s/", folder, bucket, folder)
    return ExportResult(
        folder=folder,
        timestamp=timestamp,
        files={name: len(data) for name, data in files.items()},
        bucket=bucket,
        local_dir=local,
        statistics=statistics,
        hub_message_id=hub_message_id,
        warnings=problems,
    )


def _claim_folder(
    documents: DocumentStore,
    base: str,
    request: ExportRequest,
    request_id: str,
    generated_at: str,
    export_dir: Path | None,
) -> dict[str, Any]:
    """Claim ``base`` (or ``base_2``, ``base_3``...) for this request with a create-only
    document; the same request finds and resumes its own claim."""
    for attempt in range(1, MAX_FOLDERS_PER_MINUTE + 1):
        folder = base if attempt == 1 else f"{base}_{attempt}"
        path = f"{EXPORTS}/{folder}"
        existing = documents.get(path)
        if existing is not None:
            if existing.data.get("request_id") == request_id:
                return existing.data
            continue
        if export_dir is not None and (export_dir / folder).exists():
            continue  # made by another vidcurate home: leave it alone
        record = {
            "folder": folder,
            "request_id": request_id,
            "request": request.model_dump(),
            "config_type": request.config_type,
            "generated_at": generated_at,
            "state": "writing",
            "created_at": SERVER_TIMESTAMP,
        }
        try:
            documents.create(path, record)
        except AlreadyExistsError:
            continue  # claimed meanwhile by a concurrent request
        return record
    raise ExportExistsError(
        f"{base}: {MAX_FOLDERS_PER_MINUTE} exports already made this minute; try again later"
    )


def _write_once(
    services: Services,
    bucket: str,
    name: str,
    data: bytes,
    request_id: str,
    claim: Mapping[str, Any],
) -> None:
    """Create the object; a retry of the same request may replace its own earlier write."""

    def put(if_generation_match: int) -> None:
        services.blobs.write(
            bucket,
            name,
            data,
            content_type="application/json",
            metadata={"vidcurate-export-request": request_id},
            if_generation_match=if_generation_match,
        )

    try:
        put(0)
    except PreconditionFailedError:
        existing = services.blobs.stat(bucket, name)
        if existing.metadata.get("vidcurate-export-request") != claim["request_id"]:
            raise ExportExistsError(
                f"gs://{bucket}/{name} already exists: exports are never overwritten"
            ) from None
        put(existing.generation)


def list_exports(documents: DocumentStore, limit: int = 20) -> list[dict[str, Any]]:
    """The newest exports with their state, for ``vidcurate status``."""
    docs = documents.query(EXPORTS, order_by=[("folder", "desc")], limit=limit)
    return [doc.data for doc in docs]

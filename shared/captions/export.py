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

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.captions.messages import ExportRequest, ExportRequestError
from shared.captions.settings import CaptionSettings
from shared.captions.snapshot import MAX_LISTED_PROBLEMS, Snapshot, blocking_problems, take_snapshot
from shared.captions.statistics import compute_statistics, export_timestamp
from shared.captions.status import REVIEWED, STATUSES, Status
from shared.captions.store import EXPORTS
from shared.core.errors import AlreadyExistsError, PermanentError, PreconditionFailedError
from shared.core.jsonio import encode_json, gc_paused
from shared.core.text import utc_iso
from shared.platform.context import Context
from shared.ports import SERVER_TIMESTAMP, DocumentStore
from shared.publishing import HUB_UPLOAD_REQUESTS, HubUploadRequest

log = logging.getLogger("vidcurate.exports")


MAX_FOLDERS_PER_MINUTE = 50


class ExportBlockedError(PermanentError):
    """Edge cases or quarantined files stop a strict export; the message lists them."""


class ExportExistsError(PermanentError):
    """The export folder exists already; exports are never overwritten."""


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


def run_export(
    services: Context[CaptionSettings],
    request: ExportRequest,
    *,
    request_id: str,
    now: datetime | None = None,
    export_dir: Path | None = None,
    refuse_empty: bool = False,
) -> ExportResult:
    """Snapshot, check, write to the exports bucket (and ``export_dir``), ask for publishing.

    ``request_id`` identifies the request (a message id, or a fresh id from the CLI): a
    redelivery of the same request completes the same folder, or if it was finished,
    returns it unchanged. Another export in the same minute gets ``export_..._2``: an
    export never replaces an earlier one. ``refuse_empty``: a config with no video at all is
    an error (a person asked), not an empty export (a schedule asked).
    """
    settings, documents = services.settings, services.documents
    if export_dir is not None and export_dir.exists() and not export_dir.is_dir():
        raise ExportRequestError(f"{export_dir}: not a folder (--export-dir)")
    moment = now or datetime.now(UTC)
    with gc_paused():
        snapshot = take_snapshot(
            documents, settings, request.config_type, with_history=request.with_history
        )
    if refuse_empty and not snapshot.entries:
        raise ExportRequestError(
            f"nothing to export: no video is registered or annotated under config type "
            f"{request.config_type!r} (ingest a campaign folder first: vidcurate ingest FOLDER "
            f"--config-type {request.config_type})"
        )
    problems = blocking_problems(snapshot)
    if problems and not request.ignore_errors:
        raise _blocked(request, problems, len(snapshot.edge_cases), len(snapshot.quarantined))
    repo_id = _hub_repo(settings, request)
    claim = _claim_folder(
        documents,
        f"export_{export_timestamp(moment)}",
        request,
        request_id,
        utc_iso(moment, "seconds"),
        export_dir,
    )
    folder = claim["folder"]
    timestamp = folder.removeprefix("export_")
    bucket = settings.exports_bucket
    local = export_dir / folder if export_dir is not None else None
    files = _bucket_files(services, snapshot, request, request_id, claim)
    if local is not None and not local.exists():
        _write_local(local, files)
    statistics = json.loads(files[f"comprehensive_statistics_{timestamp}.json"])
    hub_message_id = None
    if repo_id is not None:
        # hub_upload makes one commit per (repo, folder) however often this is published.
        upload = HubUploadRequest(folder=folder, repo_id=repo_id)
        hub_message_id = HUB_UPLOAD_REQUESTS.publish(services.bus, upload, {"folder": folder})
    _record_written(documents, folder, request, files, statistics, repo_id)
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


def _blocked(
    request: ExportRequest, problems: list[str], edge_cases: int, quarantined: int
) -> ExportBlockedError:
    """The error that stops a strict export, listing the first problems."""
    shown = "\n  ".join(problems[:MAX_LISTED_PROBLEMS])
    more = len(problems) - MAX_LISTED_PROBLEMS
    return ExportBlockedError(
        f"export of config {request.config_type!r} stopped: {edge_cases} edge case(s) and "
        f"{quarantined} quarantined file(s); fix them or pass --ignore-errors:\n  {shown}"
        + (f"\n  ... and {more} more" if more > 0 else "")
    )


def _hub_repo(settings: CaptionSettings, request: ExportRequest) -> str | None:
    """The dataset repo to publish to, or None; refused before any folder is claimed."""
    repo_id = request.hf_dataset or (settings.hf_dataset if request.publish else None)
    if (request.publish or request.hf_dataset) and repo_id is None:
        raise ExportRequestError("publishing needs --hf-dataset OWNER/NAME or VIDCURATE_HF_DATASET")
    return repo_id


def _bucket_files(
    services: Context[CaptionSettings],
    snapshot: Snapshot,
    request: ExportRequest,
    request_id: str,
    claim: Mapping[str, Any],
) -> dict[str, bytes]:
    """The export's files in the bucket: written now, or read back if the claim finished."""
    folder = claim["folder"]
    bucket = services.settings.exports_bucket
    if claim.get("state") == "written":
        # A redelivery of a request that finished: the folder is final, never rewritten.
        return {
            info.name.removeprefix(f"{folder}/"): services.blobs.read(bucket, info.name)
            for info in services.blobs.list(bucket, f"{folder}/")
        }
    with gc_paused():
        files = render_export(
            snapshot, request, folder.removeprefix("export_"), claim["generated_at"]
        )
    for name, data in files.items():
        _write_once(services, bucket, f"{folder}/{name}", data, request_id, claim)
    return files


def _write_local(local: Path, files: Mapping[str, bytes]) -> None:
    """Copy the export into a new local folder."""
    local.mkdir(parents=True)
    for name, data in files.items():
        (local / name).write_bytes(data)


def _record_written(
    documents: DocumentStore,
    folder: str,
    request: ExportRequest,
    files: Mapping[str, bytes],
    statistics: Mapping[str, Any],
    repo_id: str | None,
) -> None:
    """Mark the claimed folder final, with what it holds."""
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
    services: Context[CaptionSettings],
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

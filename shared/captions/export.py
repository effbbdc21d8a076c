"""Snapshot the caption dataset into the export files users know, with statistics.

An export is a folder ``export_YYYYMMDD_HHMM/`` holding::

    all_videos_with_captions_<ts>.json     videos with any completed task
    reviewed_videos_<ts>.json              videos with any approved or rejected task
    not_completed_videos_<ts>.json         videos with no annotation work begun
    comprehensive_statistics_<ts>.json     per task, per person, edge cases, totals

It always goes to the exports bucket (where ``hub_upload`` reads it) and, from the CLI, to a
local folder too. An export counts only once it is complete:

- In the bucket (Cloud Storage has no folder rename), the folder is claimed by a document
  ``exports/<folder>``: ``writing``, under a lease its writer renews before each file, then
  ``written`` once every file is there. Readers (critiques, Hub uploads, ``vidcurate
  status``) refuse or leave out a folder whose document is not ``written``.
- Locally, the files are written into a hidden ``.export_..._partial-<pid>`` beside the
  folder, each flushed to disk, and the folder is renamed into place once the bucket's
  copy is ``written``.

A claim whose lease ran out (its writer was killed) is taken over by the next export: its
objects are deleted and it is marked ``abandoned``; staged local folders whose process is
gone are removed. An export that fails while writing (a full disk) removes what it wrote the
same way before it reports. An export never replaces an earlier one, and a redelivered
request finishes its own folder.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from shared.captions.messages import (
    ABANDONED,
    EXPORT_LEASE,
    EXPORTS,
    WRITING,
    WRITTEN,
    ExportRequest,
    ExportRequestError,
    export_path,
)
from shared.captions.settings import CaptionSettings
from shared.captions.snapshot import MAX_LISTED_PROBLEMS, Snapshot, blocking_problems, take_snapshot
from shared.captions.statistics import compute_statistics, export_timestamp
from shared.captions.status import REVIEWED, STATUSES, Status
from shared.core.errors import (
    BusyError,
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    StorageError,
    TransientError,
    VidcurateError,
)
from shared.core.files import StagedFolder, remove_abandoned_folders
from shared.core.jsonio import encode_json, gc_paused
from shared.core.text import utc_iso
from shared.platform.context import Context
from shared.platform.leases import Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP
from shared.publishing import HUB_UPLOAD_REQUESTS, HubUploadRequest

log = logging.getLogger("vidcurate.exports")


MAX_FOLDERS_PER_MINUTE = 50


STATISTICS_PREFIX = "comprehensive_statistics_"


REQUEST_METADATA = "vidcurate-export-request"  # on each object: the request that wrote it


class ExportBlockedError(PermanentError):
    """Edge cases or quarantined files stop a strict export; the message lists them."""


class ExportExistsError(PermanentError):
    """The export folder exists already; exports are never overwritten."""


class ExportWriteError(PermanentError):
    """The export could not be written (a full disk); what it had written is removed."""


class ExportTakenOverError(TransientError):
    """This export's claim ran out and another export took it over: it stops writing."""


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
) -> Iterator[tuple[str, bytes]]:
    """File name and bytes of each file of an export, one at a time (the statistics last),
    in the shapes of the original export script."""
    statistics = compute_statistics(snapshot, timestamp, generated_at)
    entries = snapshot.entries
    if not request.only_reviewed:
        completed = set(snapshot.videos_where(set(STATUSES) - {Status.NOT_COMPLETED}))
        with gc_paused():
            data = encode_json([entry for key, entry in entries.items() if key in completed])
        yield f"all_videos_with_captions_{timestamp}.json", data
    reviewed = set(snapshot.videos_where(REVIEWED))
    with gc_paused():
        data = encode_json([entry for key, entry in entries.items() if key in reviewed])
    yield f"reviewed_videos_{timestamp}.json", data
    if not request.only_reviewed:
        with gc_paused():
            data = encode_json([entries[video_id] for video_id in snapshot.not_started()])
        yield f"not_completed_videos_{timestamp}.json", data
    yield f"{STATISTICS_PREFIX}{timestamp}.json", encode_json(statistics)


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
    settings = services.settings
    if export_dir is not None and export_dir.exists() and not export_dir.is_dir():
        raise ExportRequestError(f"{export_dir}: not a folder (--export-dir)")
    moment = now or datetime.now(UTC)
    with gc_paused():
        snapshot = take_snapshot(
            services.documents, settings, request.config_type, with_history=request.with_history
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
    if export_dir is not None:
        remove_abandoned_folders(export_dir, "export_")
    take_over_abandoned(services, request_id)
    lease, claim = _claim_folder(
        services,
        f"export_{export_timestamp(moment)}",
        request,
        request_id,
        utc_iso(moment, "seconds"),
        export_dir,
    )
    folder = claim["folder"]
    local = export_dir / folder if export_dir is not None else None
    if claim.get("state") == WRITTEN:
        # A redelivery of a request that finished: the folder is final, never rewritten.
        files, statistics = _read_back(services, claim, local)
    else:
        files, statistics = _write_export(services, snapshot, request, lease, claim, local, repo_id)
    hub_message_id = None
    if repo_id is not None:
        # hub_upload makes one commit per (repo, folder) however often this is published.
        upload = HubUploadRequest(folder=folder, repo_id=repo_id)
        hub_message_id = HUB_UPLOAD_REQUESTS.publish(services.bus, upload, {"folder": folder})
    log.info("export %s written to gs://%s/%s/", folder, settings.exports_bucket, folder)
    return ExportResult(
        folder=folder,
        timestamp=folder.removeprefix("export_"),
        files=files,
        bucket=settings.exports_bucket,
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


def _lease(services: Context[CaptionSettings], folder: str, holder: str) -> Lease:
    """``holder``'s lease on the claim of ``folder``."""
    return Lease(
        services.documents,
        export_path(folder),
        holder,
        seconds=services.settings.export_lease_seconds,
        fields=EXPORT_LEASE,
    )


def _write_export(
    services: Context[CaptionSettings],
    snapshot: Snapshot,
    request: ExportRequest,
    lease: Lease,
    claim: Mapping[str, Any],
    local: Path | None,
    repo_id: str | None,
) -> tuple[dict[str, int], dict[str, Any]]:
    """Write every file to the bucket (and a staged local folder), mark the claim written,
    then put the local folder in place; on any failure before that, remove what was written.
    ``(file name -> bytes, statistics)``."""
    folder = claim["folder"]
    bucket = services.settings.exports_bucket
    files: dict[str, int] = {}
    statistics: dict[str, Any] = {}
    written = False
    try:
        with _staged(local) as staged:
            rendered = render_export(
                snapshot, request, folder.removeprefix("export_"), claim["generated_at"]
            )
            for name, data in rendered:
                _keep_claim(lease, folder)
                _write_once(services, bucket, f"{folder}/{name}", data, claim)
                if staged is not None:
                    staged.write(name, data)
                files[name] = len(data)
                if name.startswith(STATISTICS_PREFIX):
                    statistics = json.loads(data)
            _record_written(lease, folder, request, files, statistics, repo_id)
            written = True
            if staged is not None:
                staged.commit()
    except BaseException as exc:
        if written or isinstance(exc, ExportTakenOverError):
            raise  # the bucket's export stands, or it is another export's to clear
        if isinstance(exc, TransientError) and not isinstance(exc, StorageError):
            # A 503 or a lock: the redelivery resumes this folder (it may replace its own
            # objects) instead of abandoning it and writing everything under a new name.
            with contextlib.suppress(VidcurateError):
                lease.release()
            raise
        why = f"{type(exc).__name__}: {exc}"
        _abandon_quietly(services, lease, folder, claim["request_id"], why)
        if isinstance(exc, OSError):
            raise ExportWriteError(
                f"gs://{bucket}/{folder}/: cannot write the export ({exc.strerror or exc}); "
                "what it had written is removed"
            ) from exc
        raise
    return files, statistics


@contextlib.contextmanager
def _staged(local: Path | None) -> Iterator[StagedFolder | None]:
    """The local folder to stage the files in, or None (no ``--export-dir``, or there
    already: a redelivered request keeps what it wrote)."""
    if local is None or local.exists():
        yield None
        return
    with StagedFolder(local) as staged:
        yield staged


def _keep_claim(lease: Lease, folder: str) -> None:
    """Renew the claim before a file is written; stop if another export took it over."""
    if not lease.renew():
        raise _taken_over(folder)


def _taken_over(folder: str) -> ExportTakenOverError:
    return ExportTakenOverError(
        f"{folder}: another export took this one's place while it was writing (it went "
        "longer than VIDCURATE_EXPORT_LEASE_SECONDS without a sign of life); run "
        "`vidcurate export` again"
    )


def _read_back(
    services: Context[CaptionSettings], claim: Mapping[str, Any], local: Path | None
) -> tuple[dict[str, int], dict[str, Any]]:
    """The files of a finished export, read back from the bucket (and copied to ``local``
    if it is missing)."""
    folder = claim["folder"]
    bucket = services.settings.exports_bucket
    contents = {
        name: services.blobs.read(bucket, f"{folder}/{name}") for name in claim.get("files", {})
    }
    with _staged(local) as staged:
        if staged is not None:
            for name, data in contents.items():
                staged.write(name, data)
            staged.commit()
    statistics = next(
        json.loads(data) for name, data in contents.items() if name.startswith(STATISTICS_PREFIX)
    )
    return {name: len(data) for name, data in contents.items()}, statistics


def _record_written(
    lease: Lease,
    folder: str,
    request: ExportRequest,
    files: Mapping[str, int],
    statistics: Mapping[str, Any],
    repo_id: str | None,
) -> None:
    """Mark the claimed folder final, with what it holds: from now on it is an export."""
    done = lease.finish(
        {
            "state": WRITTEN,
            "config_type": request.config_type,
            "files": dict(files),
            "totals": statistics["totals"],
            "hf_dataset": repo_id,
            "written_at": SERVER_TIMESTAMP,
        }
    )
    if not done:
        raise _taken_over(folder)


def _claim_folder(
    services: Context[CaptionSettings],
    base: str,
    request: ExportRequest,
    request_id: str,
    generated_at: str,
    export_dir: Path | None,
) -> tuple[Lease, dict[str, Any]]:
    """Claim ``base`` (or ``base_2``, ``base_3``...) for this request, under a lease; the
    same request finds and resumes its own claim."""
    for attempt in range(1, MAX_FOLDERS_PER_MINUTE + 1):
        folder = base if attempt == 1 else f"{base}_{attempt}"
        record = {
            "folder": folder,
            "request_id": request_id,
            "request": request.model_dump(),
            "config_type": request.config_type,
            "generated_at": generated_at,
            "state": WRITING,
            "created_at": SERVER_TIMESTAMP,
        }
        # A local folder of that name made by another vidcurate home: left alone.
        local_taken = export_dir is not None and (export_dir / folder).exists()
        # The holder is this delivery, not the request: two deliveries of one request
        # must not both write the folder.
        lease = _lease(services, folder, f"{request_id}/{uuid.uuid4().hex[:12]}")
        claim = lease.claim(partial(_decide_claim, record=record, local_taken=local_taken))
        if claim is not None:
            return lease, claim
    raise ExportExistsError(
        f"{base}: {MAX_FOLDERS_PER_MINUTE} exports already made this minute; try again later"
    )


_Claim = dict[str, Any] | None  # the claim to write or resume; None: try the next name


def _decide_claim(
    view: View, *, record: dict[str, Any], local_taken: bool
) -> Take[_Claim] | Keep[_Claim]:
    """A free name is claimed; this request's own claim is resumed (or, finished, returned);
    anything else (another export's, an abandoned one) moves on to the next name."""
    if not view.exists:
        return Keep(None) if local_taken else Take(record, record)
    state = view.data.get("state")
    if view.data.get("request_id") != record["request_id"]:
        return Keep(None)
    if state == WRITTEN:
        return Keep(view.data)
    if state == WRITING and view.held:
        # Another delivery of this request is writing it: wait for it (a retry), rather
        # than write a second export of the same request.
        folder = view.data["folder"]
        raise BusyError(f"{folder}: another delivery of this export is writing it")
    if state == WRITING:
        return Take(view.data, write="update")  # a redelivery finishes its own folder
    return Keep(None)


def take_over_abandoned(services: Context[CaptionSettings], request_id: str) -> list[str]:
    """Take over the claims whose writer stopped (their lease ran out): delete what they
    wrote and mark them ``abandoned``. The folders cleared."""
    cleared = []
    for doc in services.documents.query(EXPORTS, where=[("state", "==", WRITING)]):
        folder = doc.id
        if EXPORT_LEASE.live(doc.data) or doc.data.get("request_id") == request_id:
            continue  # being written, or this request's own, which it resumes
        lease = _lease(services, folder, f"takeover-{request_id}")
        writer = str(doc.data.get("request_id"))
        try:  # another export's leftovers never fail this one: the next export tries again
            if lease.claim(_stale) and _abandon(services, lease, folder, writer, "stopped"):
                log.warning("export %s was left incomplete by its writer: cleared", folder)
                cleared.append(folder)
        except VidcurateError:
            log.exception("export %s was left incomplete; clearing it failed for now", folder)
    return cleared


def _stale(view: View) -> Take[bool] | Keep[bool]:
    """Take over a claim still being written whose lease ran out."""
    if view.data.get("state") == WRITING and not view.live:
        return Take(True, write="update")
    return Keep(False)


def _abandon(
    services: Context[CaptionSettings], lease: Lease, folder: str, request_id: str, why: str
) -> bool:
    """Delete the objects request ``request_id`` wrote in the folder, then mark its claim
    ``abandoned`` if ``lease`` still holds it; whether it did. Stopped halfway, the claim
    stays ``writing``, to be cleared again once this lease runs out."""
    bucket = services.settings.exports_bucket
    for info in services.blobs.list(bucket, f"{folder}/"):
        if info.metadata.get(REQUEST_METADATA) == request_id:
            with contextlib.suppress(NotFoundError):
                services.blobs.delete(bucket, info.name)
    return lease.finish(
        {"state": ABANDONED, "abandoned_because": why[:500], "abandoned_at": SERVER_TIMESTAMP}
    )


def _abandon_quietly(
    services: Context[CaptionSettings], lease: Lease, folder: str, request_id: str, why: str
) -> None:
    """:func:`_abandon` after a failure: its own error is logged, the failure reported."""
    try:
        _abandon(services, lease, folder, request_id, why)
    except Exception:
        log.exception("export %s failed and could not be cleared yet", folder)


def _write_once(
    services: Context[CaptionSettings],
    bucket: str,
    name: str,
    data: bytes,
    claim: Mapping[str, Any],
) -> None:
    """Create the object; a retry of the same request may replace its own earlier write."""
    request_id = claim["request_id"]

    def put(if_generation_match: int) -> None:
        services.blobs.write(
            bucket,
            name,
            data,
            content_type="application/json",
            metadata={REQUEST_METADATA: request_id},
            if_generation_match=if_generation_match,
        )

    try:
        put(0)
    except PreconditionFailedError:
        existing = services.blobs.stat(bucket, name)
        if existing.metadata.get(REQUEST_METADATA) != request_id:
            raise ExportExistsError(
                f"gs://{bucket}/{name} already exists: exports are never overwritten"
            ) from None
        put(existing.generation)

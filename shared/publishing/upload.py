"""Publish a finished export folder to a Hugging Face dataset repo, in one commit.

A ``hub-uploads`` message names an export folder (``export_YYYYMMDD_HHMM``). The folder
stays in the exports bucket whatever happens; this service copies it to the dataset repo
under the same folder name, together with a README.md dataset card built from the export's
statistics, as ONE commit.

Exactly one commit per (repo, folder), under at-least-once delivery: a status document
``hub_uploads/<id>`` records the upload. A delivery that finds it ``done`` returns at once;
one that finds the folder already on the Hub (the function crashed after the commit, before
recording it) records it without committing again; a concurrent delivery of another message
waits for the first one's lease. The adapter commits on top of the branch head it read, so
even two racing commits cannot both land.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from datetime import timedelta
from typing import Any

from shared.core.errors import BusyError, NotFoundError, PermanentError
from shared.core.repo_ids import check_repo_id
from shared.core.text import redact
from shared.platform.context import Context
from shared.platform.leases import REQUEST, Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP, DocumentStore, HubPublisher
from shared.publishing.card import README, render_dataset_card
from shared.publishing.messages import HubUploadRequest
from shared.publishing.settings import PublishingSettings
from shared.publishing.store import hub_upload_path

log = logging.getLogger("vidcurate.hub")


STATISTICS_PREFIX = "comprehensive_statistics_"


UPLOAD_LEASE = timedelta(minutes=10)
"""How long an upload in progress keeps other deliveries out. Longer than an event-driven
function may run (540 s), so a live upload never loses it and a killed one frees it soon."""


MAX_ERROR_CHARS = 2000


_Recorded = dict[str, Any] | None  # the document of an upload done already, or None


def upload_export(
    services: Context[PublishingSettings],
    publisher: HubPublisher,
    request: HubUploadRequest,
    *,
    request_id: str,
) -> dict[str, Any]:
    """Publish ``request.folder`` from the exports bucket to the dataset repo, once.

    Returns the outcome (``committed``, ``already_done`` or ``found_on_hub``) with the commit.
    Bad input (no repo configured, no such folder, no statistics, a token or rights problem)
    raises PermanentError; anything else propagates so that the platform retries. Either
    way the status document records ``failed`` and the error first.
    """
    settings = services.settings
    repo_id = _resolve_repo(request, settings)
    folder = request.folder
    path = hub_upload_path(repo_id, folder, request.files, request.version)
    labels = {"repo_id": repo_id, "folder": folder, "request_id": request_id}

    claimed = _claim(services.documents, path, repo_id, request, request_id)
    if claimed is not None:
        log.info("export already published", extra={"labels": labels})
        return _result(claimed, "already_done")
    try:
        result = _publish(services, publisher, repo_id, folder, path, request.files)
    except Exception as exc:
        _mark_failed(services.documents, path, exc, settings)
        raise
    log.info(
        "export published",
        extra={"labels": labels, "outcome": result["outcome"], "commit_oid": result["commit_oid"]},
    )
    return result


def _resolve_repo(request: HubUploadRequest, settings: PublishingSettings) -> str:
    repo_id = request.repo_id or settings.hf_dataset
    if not repo_id:
        raise PermanentError(
            f"no dataset repo to publish {request.folder} to: give repo_id in the message or "
            "set VIDCURATE_HF_DATASET (OWNER/NAME)"
        )
    try:
        return check_repo_id(repo_id)
    except ValueError as exc:
        raise PermanentError(f"VIDCURATE_HF_DATASET: {exc}") from exc


def _claim(
    documents: DocumentStore,
    path: str,
    repo_id: str,
    request: HubUploadRequest,
    request_id: str,
) -> dict[str, Any] | None:
    """Start an attempt; return the document's data instead when the upload is done.

    Another message's live attempt holds a lease: this delivery raises TransientError and
    the platform brings it back later, when the upload is done or the lease has expired (its
    function was killed). A redelivery of the same message takes over at once: Pub/Sub
    redelivers a message after its previous delivery failed or timed out.
    """

    def decide(view: View) -> Take[_Recorded] | Keep[_Recorded]:
        state = view.data.get("state")
        if state == "done":
            return Keep(view.data)
        # Not view.held: a live lease without a request_id sends this one back too.
        if state == "uploading" and view.live and not view.mine:
            raise BusyError(
                f"{request.folder} -> {repo_id}: message {view.holder} is publishing it (lease "
                f"until {view.data['lease_until']}); retry later"
            )
        # A "set" without the data read: the document is replaced (an earlier outcome goes).
        return Take(
            None,
            {
                "folder": request.folder,
                "repo_id": repo_id,
                "state": "uploading",
                "attempts": int(view.data.get("attempts") or 0) + 1,
                "last_error": view.data.get("last_error"),
                "commit_oid": None,
                "commit_url": None,
                "files": [],
                "requested_by": request.requested_by,
                "updated_at": SERVER_TIMESTAMP,
            },
        )

    seconds = UPLOAD_LEASE.total_seconds()
    return Lease(documents, path, request_id, seconds=seconds, fields=REQUEST).claim(decide)


EXPORTS = "exports"
"""The export folders' documents (``exports/<folder>``, written by captions, a layer above
this one): a folder whose document is not ``written`` is unfinished and never published."""


def _publish(
    services: Context[PublishingSettings],
    publisher: HubPublisher,
    repo_id: str,
    folder: str,
    path: str,
    only: tuple[str, ...] | None = None,
) -> dict[str, Any]:
    _refuse_unfinished(services.documents, folder)
    available = _export_names(services, folder)
    statistics_name = _statistics_name(available, folder, services.settings.exports_bucket)
    missing = sorted(set(only or ()) - set(available))
    if missing:
        raise PermanentError(f"export folder {folder} has no {', '.join(missing)}")
    names = list(only) if only else available
    paths = [f"{folder}/{name}" for name in names]
    bucket = services.settings.exports_bucket
    files = {name: services.blobs.read(bucket, f"{folder}/{name}") for name in names}
    landed = (
        # Files written again (a new consolidation) replace their older version on the Hub.
        all(publisher.read_file(repo_id, f"{folder}/{n}") == files[n] for n in names)
        if only
        else publisher.folder_exists(repo_id, folder)
    )
    if landed:
        # The commit landed but was never recorded (a crash in between): record, don't redo.
        return _mark_done(services.documents, path, None, paths, "found_on_hub")

    statistics = _statistics(services.blobs.read(bucket, f"{folder}/{statistics_name}"), folder)
    existing = publisher.read_file(repo_id, README)
    card = render_dataset_card(
        statistics,
        repo_id=repo_id,
        folder=folder,
        existing=existing.decode("utf-8", errors="replace") if existing is not None else None,
    )
    commit = publisher.commit_folder(
        repo_id,
        folder,
        files,
        card,
        private=services.settings.hf_private,
        message=f"Add {folder} (vidcurate export)",
    )
    return _mark_done(
        services.documents, path, {"oid": commit.oid, "url": commit.url}, paths, "committed"
    )


def _refuse_unfinished(documents: DocumentStore, folder: str) -> None:
    """PermanentError when ``vidcurate export`` has not finished the folder."""
    doc = documents.get(f"{EXPORTS}/{folder}")
    if doc is not None and doc.data.get("state") != "written":
        raise PermanentError(
            f"{folder} is incomplete (its writer stopped before finishing, or is still "
            "writing it); run `vidcurate export` again"
        )


def _export_names(services: Context[PublishingSettings], folder: str) -> list[str]:
    bucket = services.settings.exports_bucket
    prefix = f"{folder}/"
    try:
        names = [info.name[len(prefix) :] for info in services.blobs.list(bucket, prefix)]
    except NotFoundError as exc:
        raise PermanentError(
            f"exports bucket {bucket} does not exist (looking for {folder})"
        ) from exc
    names = [name for name in names if name]
    if not names:
        raise PermanentError(f"export folder {folder} not found in bucket {bucket}")
    return names


def _statistics_name(names: Iterable[str], folder: str, bucket: str) -> str:
    for name in sorted(names):
        if "/" not in name and name.startswith(STATISTICS_PREFIX) and name.endswith(".json"):
            return name
    raise PermanentError(
        f"export folder {folder} in bucket {bucket} has no {STATISTICS_PREFIX}*.json; "
        "an export is published only once its statistics are written"
    )


def _statistics(raw: bytes, folder: str) -> dict[str, Any]:
    try:
        statistics = json.loads(raw)
    except ValueError as exc:
        raise PermanentError(f"export folder {folder}: the statistics file is not JSON") from exc
    if not isinstance(statistics, dict):
        raise PermanentError(f"export folder {folder}: the statistics file is not a JSON object")
    return statistics


def _mark_done(
    documents: DocumentStore,
    path: str,
    commit: Mapping[str, str] | None,
    paths: list[str],
    outcome: str,
) -> dict[str, Any]:
    data: dict[str, Any] = {
        "state": "done",
        "outcome": outcome,
        "commit_oid": commit["oid"] if commit else None,
        "commit_url": commit["url"] if commit else None,
        "files": paths,
        "last_error": None,
        **REQUEST.freed_fields(),  # not guarded: whoever holds it now, the upload is done
        "updated_at": SERVER_TIMESTAMP,
    }
    documents.set(path, data, merge=True)
    stored = documents.get(path)
    return _result(stored.data if stored is not None else data, outcome)


def _mark_failed(
    documents: DocumentStore, path: str, exc: Exception, settings: PublishingSettings
) -> None:
    text = _redact(f"{type(exc).__name__}: {exc}", settings)[:MAX_ERROR_CHARS]
    try:
        documents.set(
            path,
            {
                "state": "failed",
                "last_error": text,
                **REQUEST.freed_fields(),
                "updated_at": SERVER_TIMESTAMP,
            },
            merge=True,
        )
    except Exception:
        # The original error matters more (it decides retry or not): log this one, keep that.
        log.exception("could not record the failed upload", extra={"labels": {"path": path}})


def _redact(text: str, settings: PublishingSettings) -> str:
    return redact(text, settings.hub_token())


def _result(data: Mapping[str, Any], outcome: str) -> dict[str, Any]:
    return {
        "repo_id": data.get("repo_id"),
        "folder": data.get("folder"),
        "state": data.get("state"),
        "outcome": outcome,
        "commit_oid": data.get("commit_oid"),
        "commit_url": data.get("commit_url"),
        "files": list(data.get("files") or []),
    }

"""critique_consolidate: write a finished run's consolidated file once."""

from __future__ import annotations

import logging
import uuid
from pathlib import Path
from typing import Literal

from shared.core.errors import TransientError
from shared.core.jsonio import encode_json, gc_paused
from shared.critiques import prompts as critique_prompts  # noqa: F401 (registers the prompts)
from shared.critiques.messages import CONSOLIDATIONS, ConsolidationRequest
from shared.critiques.settings import CritiqueSettings
from shared.critiques.store import (
    CONSOLIDATED,
    OPEN_STATUSES,
    OUTPUTS,
    consolidated_name,
    items_collection,
    load_export,
    run_complete,
    runs_path,
)
from shared.platform.blobcopy import CopyResult, mirror_prefixes
from shared.platform.context import Context
from shared.platform.fanout import FanIn
from shared.publishing import HUB_UPLOAD_REQUESTS, HubUploadRequest

log = logging.getLogger("vidcurate.critiques")


CONSOLIDATION_LEASE_SECONDS = 600.0  # longer than a function may run (540 s)


CONSOLIDATION = FanIn(
    topic=CONSOLIDATIONS,
    run_path=runs_path,
    items_path=items_collection,
    open_statuses=OPEN_STATUSES,
    request=lambda run, plan_id: ConsolidationRequest(run=run, plan_id=plan_id),
    lease_seconds=CONSOLIDATION_LEASE_SECONDS,
    complete=run_complete,
)
"""An export's fan-in: critique_runs/<folder>, its items, consolidations/<plan id>; complete
when all seven types are done for every reviewed caption, whatever runs planned them."""


def request_consolidation(services: Context[CritiqueSettings], folder: str) -> bool:
    """If every item is success or skipped and the plan is not consolidated yet, publish a
    ``critique-consolidations`` message; whether this did. Several workers finishing at
    once may each publish one: the consolidation claims its plan, so one of them works."""
    return CONSOLIDATION.ask(services.documents, services.bus, folder)


def consolidate_run(
    services: Context[CritiqueSettings],
    request: ConsolidationRequest,
    *,
    delivery: str | None = None,
) -> Literal["consolidated", "done", "stale", "open", "waiting"]:
    """Consolidate the request's plan once: what happened.

    ``stale``: the run was planned again since (the new plan asks for itself); ``open``: an
    item is open again (a re-run's plan); ``waiting``: a critique type is not done for every
    caption yet (its run asks when it is); ``done``: consolidated already. One consolidation
    of a run at a time (a lease on the run): another live one sends this message back
    (TransientError), so it finds the plan done, or takes over if that delivery died. A
    plan is marked consolidated, and its Hub upload queued, only if it is still the run's
    plan once its file is written; otherwise the newer plan's consolidation, which waited
    for the lease, writes the file after it.
    """
    folder = request.run
    if CONSOLIDATION.is_open(services.documents, folder):
        return "open"
    run = services.documents.get(runs_path(folder))
    if run is not None and not run_complete(services.documents, folder, run.data):
        return "waiting"
    claim = CONSOLIDATION.claim_path(folder, request.plan_id)
    holder = delivery or f"caller-{uuid.uuid4().hex[:8]}"
    state = _begin_consolidation(services, request, holder)
    if state == "held":
        raise TransientError(f"{folder}: another delivery is consolidating this run")
    if state == "done":
        _queue_hub_upload(services, folder, claim, holder)  # if this one crashed before
        return "done"
    if state == "stale":
        return "stale"
    try:
        name = consolidate(services, folder, state)
    except Exception:
        _end_consolidation(services, request, holder, name=None)
        raise
    if not _end_consolidation(services, request, holder, name=name):
        request_consolidation(services, folder)  # the newer plan, if it is complete
        return "stale"
    _queue_hub_upload(services, folder, claim, holder)
    log.info("critiques consolidated", extra={"labels": {"run": folder}, "file": name})
    return "consolidated"


def _begin_consolidation(
    services: Context[CritiqueSettings], request: ConsolidationRequest, holder: str
) -> str:
    """Take the run's consolidation lease for this plan: the export's timestamp when taken,
    or ``done`` / ``stale`` / ``held``."""
    state = CONSOLIDATION.begin(services.documents, request.run, request.plan_id, holder)
    return state if isinstance(state, str) else str(state["timestamp"])


def _end_consolidation(
    services: Context[CritiqueSettings],
    request: ConsolidationRequest,
    holder: str,
    name: str | None,
) -> bool:
    """Release the lease; with the file ``name`` written, mark the plan consolidated (and its
    Hub upload owed) if it is still the run's plan. Whether it was marked."""
    owed = bool(services.settings.hf_dataset)
    return CONSOLIDATION.end(
        services.documents,
        request.run,
        request.plan_id,
        holder,
        result=None if name is None else {"consolidated_file": name},
        claim_fields={"file": name, "hub_owed": owed},
    )


def _queue_hub_upload(
    services: Context[CritiqueSettings], folder: str, claim: str, holder: str
) -> None:
    """Publish the Hub upload a consolidation owes, then mark it paid: only by the delivery
    that consolidated (or its redelivery, after a crash), so that duplicates of the message
    finding the plan done do not send it again. A crash between the two sends it twice,
    which hub_upload publishes once (one commit per folder, files and version)."""
    current = services.documents.get(claim)
    if current is None or not current.data.get("hub_owed"):
        return
    if current.data.get("holder") != holder:
        return
    name = str(current.data["file"])
    # Only the new file: the folder itself may have been published already.
    files = (name.rsplit("/", 1)[-1],)
    upload = HubUploadRequest(folder=folder, files=files, version=current.data["plan_id"])
    HUB_UPLOAD_REQUESTS.publish(services.bus, upload, {"folder": folder, "reason": "critiques"})
    services.documents.update(claim, {"hub_owed": False})


RECORD_FIELDS = ("video_id", "task", "critique_type", "record")


PLAN_FIELDS = ("key", "status", "critique_step", "lease_until")


def consolidate(services: Context[CritiqueSettings], folder: str, timestamp: str) -> str:
    """Add each item's record to its caption entry; write the consolidated file.

    Items are read in id order (video~task~type) with only the fields needed, straight
    into their caption entries: the export and the records are held once, nothing more.
    """
    _ts, entries = load_export(services, folder)
    with gc_paused():
        captions = {
            (entry["video_id"], task): caption
            for entry in entries
            for task, caption in entry.get("captions", {}).items()
        }
        items = services.documents.iter_collection(
            items_collection(folder), page_size=1000, fields=RECORD_FIELDS
        )
        for doc in items:
            data = doc.data
            caption = captions.get((data.get("video_id"), data.get("task")))
            if caption is not None and data.get("record") is not None:
                caption.setdefault(data["critique_type"], data["record"])  # originals kept
        body = encode_json(entries)
    name = consolidated_name(folder, timestamp)
    services.blobs.write(
        services.settings.exports_bucket, name, body, content_type="application/json"
    )
    return name


def copy_outputs(services: Context[CritiqueSettings], folder: str, local: Path) -> CopyResult:
    """Bring the local export folder ``local`` up to date with the run's outputs in the
    bucket: ``output_critiques/`` and the consolidated file, once there is one."""
    return mirror_prefixes(
        services.blobs,
        services.settings.exports_bucket,
        folder,
        (f"{OUTPUTS}/", CONSOLIDATED),
        local,
    )

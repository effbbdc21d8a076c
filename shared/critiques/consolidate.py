"""critique_consolidate: write a finished run's consolidated file once."""

from __future__ import annotations

import json
import logging
import uuid
from typing import Literal

from shared.core.errors import TransientError
from shared.core.jsonio import encode_json, gc_paused
from shared.critiques import prompts as critique_prompts  # noqa: F401 (registers the prompts)
from shared.critiques.messages import CONSOLIDATIONS_TOPIC, ConsolidationRequest
from shared.critiques.settings import CritiqueSettings
from shared.critiques.store import RUNS, _open_items, items_collection, load_export, runs_path
from shared.platform.context import Context
from shared.platform.leases import Keep, Lease, Take, View, in_map
from shared.ports import SERVER_TIMESTAMP, Transaction
from shared.publishing import HUB_UPLOADS_TOPIC

log = logging.getLogger("vidcurate.critiques")


CONSOLIDATION_LEASE_SECONDS = 600.0  # longer than a function may run (540 s)


CONSOLIDATING = in_map("consolidating")  # critique_runs/<folder>: {holder, plan_id, until}


def request_consolidation(services: Context[CritiqueSettings], folder: str) -> bool:
    """If every item is success or skipped and the plan is not consolidated yet, publish a
    ``critique-consolidations`` message; whether this did. Several workers finishing at
    once may each publish one: the consolidation claims its plan, so one of them works."""
    if _open_items(services, folder):
        return False
    run = services.documents.get(runs_path(folder))
    if run is None or run.data.get("consolidated_plan") == run.data["plan_id"]:
        return False
    body = ConsolidationRequest(run=folder, plan_id=run.data["plan_id"]).model_dump_json()
    services.bus.publish(CONSOLIDATIONS_TOPIC, body.encode(), {"run": folder})
    return True


def consolidate_run(
    services: Context[CritiqueSettings],
    request: ConsolidationRequest,
    *,
    delivery: str | None = None,
) -> Literal["consolidated", "done", "stale", "open"]:
    """Consolidate the request's plan once: what happened.

    ``stale``: the run was planned again since (the new plan asks for itself); ``open``: an
    item is open again (a re-run's plan); ``done``: consolidated already. One consolidation
    of a run at a time (a lease on the run): another live one sends this message back
    (TransientError), so it finds the plan done, or takes over if that delivery died. A
    plan is marked consolidated, and its Hub upload queued, only if it is still the run's
    plan once its file is written; otherwise the newer plan's consolidation, which waited
    for the lease, writes the file after it.
    """
    folder = request.run
    if _open_items(services, folder):
        return "open"
    claim = f"{RUNS}/{folder}/consolidations/{request.plan_id}"
    holder = delivery or f"caller-{uuid.uuid4().hex[:8]}"
    state = _begin_consolidation(services, request, claim, holder)
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
        _end_consolidation(services, request, claim, holder, name=None)
        raise
    if not _end_consolidation(services, request, claim, holder, name=name):
        request_consolidation(services, folder)  # the newer plan, if it is complete
        return "stale"
    _queue_hub_upload(services, folder, claim, holder)
    log.info("critiques consolidated", extra={"labels": {"run": folder}, "file": name})
    return "consolidated"


def _consolidation_lease(
    services: Context[CritiqueSettings], request: ConsolidationRequest, holder: str
) -> Lease:
    return Lease(services.documents, runs_path(request.run), holder,
                 seconds=CONSOLIDATION_LEASE_SECONDS, fields=CONSOLIDATING)  # fmt: skip


def _begin_consolidation(
    services: Context[CritiqueSettings], request: ConsolidationRequest, claim: str, holder: str
) -> str:
    """Take the run's consolidation lease for this plan: the export's timestamp when taken,
    or ``done`` / ``stale`` / ``held``."""

    def decide(view: View) -> Take[str] | Keep[str]:
        current = view.others[claim]
        if not view.exists or view.data.get("plan_id") != request.plan_id:
            return Keep("stale")
        if current is not None and current.data.get("done_at") is not None:
            return Keep("done")
        if view.held:
            return Keep("held")  # the caller raises, outside the transaction
        # The claim document is replaced: an earlier attempt's file and hub_owed go.
        claimed = {"plan_id": request.plan_id, "holder": holder, "claimed_at": view.now,
                   "done_at": None}  # fmt: skip
        return Take(str(view.data["timestamp"]), write="update",
                    lease_extra={"plan_id": request.plan_id},
                    also=[("set", claim, claimed)])  # fmt: skip

    return _consolidation_lease(services, request, holder).claim(decide, also_read=[claim])


def _end_consolidation(
    services: Context[CritiqueSettings],
    request: ConsolidationRequest,
    claim: str,
    holder: str,
    name: str | None,
) -> bool:
    """Release the lease; with the file ``name`` written, mark the plan consolidated (and its
    Hub upload owed) if it is still the run's plan. Whether it was marked."""
    lease = _consolidation_lease(services, request, holder)
    owed = bool(services.settings.hf_dataset)

    def apply(tx: Transaction) -> bool:
        view = lease.view(tx)
        if not view.exists:
            return False
        release = lease.freed() if view.mine else {}
        if name is None or view.data.get("plan_id") != request.plan_id:
            if release:  # update needs a field to write
                tx.update(lease.path, release)
            return False
        # Marked by the plan, not by the lease: the file written is this plan's either way.
        tx.update(lease.path, {**release, "consolidated_plan": request.plan_id,
                               "consolidated_file": name})  # fmt: skip
        tx.update(claim, {"file": name, "done_at": SERVER_TIMESTAMP, "hub_owed": owed})
        return True

    marked: bool = services.documents.run_transaction(apply)
    return marked


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
    files = [name.rsplit("/", 1)[-1]]
    body = json.dumps({"folder": folder, "files": files, "version": current.data["plan_id"]})
    services.bus.publish(
        HUB_UPLOADS_TOPIC, body.encode(), {"folder": folder, "reason": "critiques"}
    )
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
    name = f"{folder}/all_videos_with_captions_and_critiques_{timestamp}.json"
    services.blobs.write(
        services.settings.exports_bucket, name, body, content_type="application/json"
    )
    return name

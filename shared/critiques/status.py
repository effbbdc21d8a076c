"""Where a critique run stands."""

from __future__ import annotations

from collections import Counter
from typing import Any

from shared.captions.messages import check_export
from shared.core.errors import NotFoundError
from shared.critiques import prompts as critique_prompts  # noqa: F401 (registers the prompts)
from shared.critiques.messages import REQUESTS, CritiqueRequest
from shared.critiques.settings import CritiqueSettings
from shared.critiques.store import items_collection, run_counts, runs_path, waiting_for
from shared.platform.context import Context


def status_report(services: Context[CritiqueSettings], folder: str) -> dict[str, Any]:
    """Counts per type and status, what keeps the export from consolidating (all seven
    types, whatever runs planned them), and whether it is consolidated. An unfinished export
    is refused."""
    check_export(services.documents, folder)
    run = services.documents.get(runs_path(folder))
    if run is None:
        raise NotFoundError(
            f"no critique run for {folder} yet (start one: vidcurate critiques run "
            f"--export-folder {folder})"
        )
    counts = run_counts(services, folder)
    totals = Counter[str]()
    for row in counts.values():
        totals.update(row)
    return {
        "export_folder": folder,
        "items": services.documents.count(items_collection(folder)),
        "by_type": counts,
        "totals": dict(totals),
        "waiting_for": waiting_for(services.documents, folder, int(run.data.get("captions", 0))),
        "consolidated_file": run.data.get("consolidated_file")
        if run.data.get("consolidated_plan") == run.data.get("plan_id")
        else None,
    }


def request_rerun(services: Context[CritiqueSettings], folder: str) -> str:
    """Ask the critique functions to plan the export's run again with its defaults, as
    `vidcurate critiques run --export-folder` does (what is done is kept, failed items are
    retried); the request's message id. An export without a run is refused."""
    if services.documents.get(runs_path(folder)) is None:
        raise NotFoundError(f"no critique run for {folder}")
    return REQUESTS.publish(services.bus, CritiqueRequest(export_folder=folder))

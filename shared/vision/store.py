"""Frame analysis documents and reports."""

from __future__ import annotations

import json
from typing import Any

from shared.platform.context import Context
from shared.vision.settings import VisionSettings

ANALYSES = "frame_analyses"


def analysis_report(
    services: Context[VisionSettings], names: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every analysis (or those of ``names``): clip, metadata, status, frames and cost."""
    rows = [doc.data for doc in services.documents.iter_collection(ANALYSES)]
    if names is not None:
        wanted = set(names)
        rows = [row for row in rows if row.get("clip") in wanted]
    return sorted(rows, key=lambda row: (str(row.get("clip")), str(row.get("prompt"))))


def export_json(rows: list[dict[str, Any]]) -> str:
    """The per-clip results as JSON (metadata kept, leases and bookkeeping left out)."""
    keep = (
        "clip",
        "generation",
        "metadata",
        "prompt",
        "model",
        "provider",
        "status",
        "error",
        "cost_usd",
        "frames",
    )
    return json.dumps([{k: row.get(k) for k in keep} for row in rows], indent=2, default=str)

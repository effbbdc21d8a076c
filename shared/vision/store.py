"""Frame analysis documents, reports and the results file."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from shared.core.text import utc_now_iso
from shared.platform.context import Context
from shared.vision.settings import VisionSettings

ANALYSES = "frame_analyses"


def analysis_report(
    services: Context[VisionSettings], paths: Sequence[str]
) -> list[dict[str, Any]]:
    """The analyses at ``paths`` (``frame_analyses/<id>``), by clip: clip, metadata, status,
    frames and cost. Read by id, never by scanning the collection."""
    found = services.documents.get_many(list(paths))
    rows = [doc.data for doc in found.values()]
    return sorted(rows, key=lambda row: (str(row.get("clip")), str(row.get("prompt"))))


CLIP_FIELDS = (
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
"""What the results file keeps of an analysis (leases and bookkeeping left out)."""


FRAME_FIELDS = ("timestamp", "path", "description", "model", "input_tokens", "output_tokens",
                "cost_usd")  # fmt: skip


def cost_report(frames: int, input_tokens: int, output_tokens: int, cost: float) -> dict[str, Any]:
    """A run's cost block: frames described, tokens in and out, cost and cost per frame."""
    return {
        "frames": frames,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cost_usd": round(cost, 8),
        "cost_per_frame_usd": round(cost / frames, 10) if frames else 0.0,
    }


def results_json(
    rows: Sequence[Mapping[str, Any]], *, run: Mapping[str, Any], costs: Mapping[str, Any]
) -> str:
    """The results file: what the run was, per clip its metadata (with the sidecar's JSON
    types) and frame descriptions, and the run's cost report."""
    clips = [
        {
            **{key: row.get(key) for key in CLIP_FIELDS if key != "frames"},
            "frames": [
                {key: frame.get(key) for key in FRAME_FIELDS} for frame in row.get("frames") or []
            ],
        }
        for row in rows
    ]
    document = {
        "generated_at": utc_now_iso(),
        "run": dict(run),
        "clips": clips,
        "cost_report": dict(costs),
    }
    return json.dumps(document, indent=2, ensure_ascii=False, default=str) + "\n"

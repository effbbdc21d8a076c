"""What the web app's clip explorer asks of frame analyses: how far the analyses of a page of
clips are (one ``in`` query for the page), and each analysis of one clip with its frames'
descriptions, tokens and cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from shared.platform.context import Context
from shared.vision.settings import VisionSettings
from shared.vision.store import ANALYSES

__all__ = ["AnalysisView", "DescribedFrame", "analyses_of", "analysis_summaries"]

IN_LIMIT = 30  # values one Firestore "in" filter takes


class DescribedFrame(BaseModel):
    """One frame's description and what it cost."""

    timestamp: float
    description: str
    model: str | None
    input_tokens: int
    output_tokens: int
    cost_usd: float


class AnalysisView(BaseModel):
    """One analysis of a clip (a prompt, a model, a generation of the clip)."""

    id: str
    generation: int
    prompt: str
    model: str
    provider: str
    status: str
    error: str | None
    cost_usd: float
    frames: list[DescribedFrame]

    @property
    def tokens(self) -> int:
        """Input and output tokens of every frame described."""
        return sum(f.input_tokens + f.output_tokens for f in self.frames)


def _view(doc_id: str, data: dict[str, Any]) -> AnalysisView:
    frames = [
        DescribedFrame(
            timestamp=float(f["timestamp"]),
            description=str(f.get("description") or ""),
            model=f.get("model"),
            input_tokens=int(f.get("input_tokens") or 0),
            output_tokens=int(f.get("output_tokens") or 0),
            cost_usd=float(f.get("cost_usd") or 0.0),
        )
        for f in data.get("frames") or []
        if f.get("description")
    ]
    return AnalysisView(
        id=doc_id,
        generation=int(data.get("generation") or 0),
        prompt=str(data.get("prompt") or ""),
        model=str(data.get("model") or ""),
        provider=str(data.get("provider") or ""),
        status=str(data.get("status") or "unknown"),
        error=data.get("error"),
        cost_usd=round(sum(f.cost_usd for f in frames), 8),
        frames=sorted(frames, key=lambda f: f.timestamp),
    )


def analyses_of(services: Context[VisionSettings], clip_name: str) -> list[AnalysisView]:
    """Every analysis of the clip, newest generation first (one indexed query)."""
    docs = services.documents.query(ANALYSES, where=[("clip", "==", clip_name)])
    views = [_view(doc.id, doc.data) for doc in docs]
    return sorted(views, key=lambda v: (-v.generation, v.prompt, v.model))


def analysis_summaries(
    services: Context[VisionSettings], clip_names: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """Per clip name: analyses, frames described, their cost and the analyses' statuses; one
    query per 30 names."""
    summary: dict[str, dict[str, Any]] = {}
    names = list(dict.fromkeys(clip_names))
    for start in range(0, len(names), IN_LIMIT):
        chunk = names[start : start + IN_LIMIT]
        for doc in services.documents.query(ANALYSES, where=[("clip", "in", chunk)]):
            view = _view(doc.id, doc.data)
            row = summary.setdefault(
                str(doc.data.get("clip")),
                {"analyses": 0, "described": 0, "cost_usd": 0.0, "statuses": []},
            )
            row["analyses"] += 1
            row["described"] += len(view.frames)
            row["cost_usd"] = round(row["cost_usd"] + view.cost_usd, 8)
            row["statuses"].append(view.status)
    return summary

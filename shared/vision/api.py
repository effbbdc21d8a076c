"""What the web app's clip explorer asks of frame analyses: how far the analyses of a page of
clips are (one ``in`` query for the page), and each analysis of one clip with its frames'
descriptions, tokens and cost."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel

from shared.core.errors import ConfigError
from shared.llm.client import model_client
from shared.media import CLIPS
from shared.platform.context import Context
from shared.vision.messages import FRAME_ANALYSIS, AnalysisJob
from shared.vision.plan import analysis_id, frame_cost
from shared.vision.prompts import FRAME_PROMPTS
from shared.vision.settings import VisionSettings
from shared.vision.store import ANALYSES

__all__ = [
    "AnalysisJob",
    "AnalysisView",
    "ClipEstimate",
    "DescribedFrame",
    "analyses_of",
    "analysis_summaries",
    "analyze_now",
    "estimate_clip",
    "prompts",
    "request_analysis",
]

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


class ClipEstimate(BaseModel):
    """What describing one clip's frames not yet described would cost, before it is asked."""

    clip: str
    prompt: str
    model: str
    provider: str
    frames: int
    estimated_cost_usd: float
    list_price_usd: float
    offline: bool


def prompts() -> list[str]:
    """The frame prompts one may choose."""
    return list(FRAME_PROMPTS)


def estimate_clip(
    services: Context[VisionSettings], clip_id: str, *, prompt: str, model: str | None
) -> tuple[ClipEstimate, AnalysisJob] | None:
    """The estimate of describing the clip (its document id) with ``prompt`` and ``model``
    (default: the configured vision model), and the job that would do it; None for a clip
    that is not sampled. ConfigError for an unpriced model, KeyError for an unknown prompt."""
    settings = services.settings
    chosen = model or settings.vision_model
    problem = settings.unpriced_message(chosen, "model")
    if problem:
        raise ConfigError(problem)
    template = FRAME_PROMPTS[prompt]
    doc = services.documents.get(f"{CLIPS}/{clip_id}")
    if doc is None or doc.data.get("status") != "done" or not doc.data.get("frames"):
        return None
    client = model_client(services)
    provider = client.provider_for(chosen).name
    generation = int(doc.data["generation"])
    analysis = services.documents.get(
        f"{ANALYSES}/{analysis_id(doc.id, generation, template.key, chosen, provider)}"
    )
    described = {
        f["timestamp"] for f in (analysis.data.get("frames") or []) if f.get("description")
    } if analysis is not None else set()  # fmt: skip
    todo = [f for f in doc.data["frames"] if f["timestamp"] not in described]
    listed = round(sum(frame_cost(services, chosen, doc.data, f) for f in todo), 6)
    offline = client.is_offline(chosen)
    estimate = ClipEstimate(
        clip=str(doc.data["name"]),
        prompt=template.key,
        model=chosen,
        provider=provider,
        frames=len(todo),
        estimated_cost_usd=0.0 if offline else listed,
        list_price_usd=listed,
        offline=offline,
    )
    job = AnalysisJob(clip=doc.id, generation=generation, prompt=prompt, model=chosen)
    return estimate, job


def request_analysis(services: Context[VisionSettings], job: AnalysisJob) -> str:
    """Queue the job for ``analyze_frames`` (the message id)."""
    return FRAME_ANALYSIS.publish(services.bus, job, {"clip": job.clip})


def analyze_now(services: Context[VisionSettings], job: AnalysisJob) -> str:
    """Describe the job's frames in this process (what ``analyze_frames`` does with its
    message): for the embedded default, where no function is listening."""
    from shared.vision.worker import analyze_clip  # noqa: PLC0415

    return analyze_clip(services, job)

"""Plan a frame analysis: which clips, what it costs, one job per clip."""

from __future__ import annotations

import hashlib
import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from shared.core.errors import ConfigError
from shared.llm.client import model_client
from shared.llm.ledger import cost_usd
from shared.llm.prompts import get_prompt
from shared.media import CLIPS, dataset_prefix
from shared.platform.context import Context
from shared.ports import Document, OutgoingMessage
from shared.vision.messages import FRAME_ANALYSIS, AnalysisJob, AnalysisRequest
from shared.vision.settings import VisionSettings
from shared.vision.store import ANALYSES


@dataclass
class AnalysisPlan:
    """What ``plan_analysis`` found (and, unless a dry run, published)."""

    model: str
    provider: str
    prompt: str
    clips: int = 0
    frames: int = 0
    done_before: int = 0  # clips whose frames were all described by an earlier run
    deferred: int = 0  # clips over --max-cost-usd, left for a later run
    estimated_cost_usd: float = 0.0
    list_price_usd: float = 0.0  # the same at list prices (offline answers are free)
    published: int = 0
    clip_names: list[str] = field(default_factory=list)  # the clips this run describes
    run: str = field(default_factory=lambda: uuid.uuid4().hex)  # labels its model calls
    analyses: list[str] = field(default_factory=list)  # this run's and earlier ones, in order


def image_tokens(model: str, width: int, height: int) -> int:
    """Input tokens a picture of this size is billed as (the providers' published rules:
    Gemini 258 per 768 px tile; OpenAI 512 px tiles after fitting 2048 and 768 px)."""
    if model.startswith("gemini"):
        if width <= 384 and height <= 384:
            return 258
        return 258 * math.ceil(width / 768) * math.ceil(height / 768)
    scale = min(1.0, 2048 / max(width, height))
    width, height = int(width * scale), int(height * scale)
    scale = min(1.0, 768 / min(width, height))
    tiles = math.ceil(width * scale / 512) * math.ceil(height * scale / 512)
    base, per_tile = (2833, 5667) if "mini" in model else (85, 170)
    return base + per_tile * tiles


def analysis_id(clip: str, generation: int, prompt_key: str, model: str, provider: str) -> str:
    """Which analysis a clip's frames belong to: a new prompt version or model is another."""
    material = f"{clip}#{generation}|{prompt_key}|{model}|{provider}"
    return hashlib.sha256(material.encode()).hexdigest()[:32]


def _under(docs: list[Document], prefix: str | None) -> list[Document]:
    """The sampled clips under an object prefix, with frames, by name."""
    start = f"{prefix.strip('/')}/" if prefix else ""
    chosen = [
        doc
        for doc in docs
        if str(doc.data.get("name", "")).startswith(start) and doc.data.get("frames")
    ]
    return sorted(chosen, key=lambda doc: str(doc.data["name"]))


def _context(clip: Mapping[str, Any], frame: Mapping[str, Any]) -> str:
    metadata = ", ".join(f"{k}={v}" for k, v in sorted((clip.get("metadata") or {}).items()))
    return f"clip: {clip['name']}; at {frame['timestamp']:.3f} s" + (
        f"; metadata: {metadata}" if metadata else ""
    )


def frame_cost(
    services: Context[VisionSettings], model: str, clip: Mapping[str, Any], frame: Any
) -> float:
    """The list price of describing one frame of ``clip`` with ``model`` (its picture's
    tokens, the prompt's and the longest answer)."""
    prompt_tokens = 150 + len(_context(clip, frame)) // 4
    tokens = image_tokens(model, int(frame["width"]), int(frame["height"])) + prompt_tokens
    return cost_usd(services.settings, model, tokens, services.settings.vision_max_output_tokens)


def plan_analysis(services: Context[VisionSettings], request: AnalysisRequest) -> AnalysisPlan:
    """Pick the sampled clips, estimate, and (unless a dry run) publish one job per clip."""
    settings = services.settings
    model = request.model or settings.vision_model
    problem = settings.unpriced_message(model, "model")
    if problem:
        raise ConfigError(problem)
    client = model_client(services)
    provider = client.provider_for(model).name
    prompt = get_prompt(request.prompt)
    offline = client.is_offline(model)
    plan = AnalysisPlan(
        model=model,
        provider=provider,
        prompt=prompt.key,
    )
    sampled = services.documents.query(CLIPS, where=[("status", "==", "done")])
    clips = _under(sampled, request.dataset)
    if not clips and request.dataset and "/" in request.dataset:
        # A Hub dataset's name (OWNER/NAME): `videos pull` stores it under OWNER--NAME/.
        clips = _under(sampled, dataset_prefix(request.dataset))
    ids = {
        doc.id: analysis_id(doc.id, int(doc.data["generation"]), prompt.key, model, provider)
        for doc in clips
    }
    before = services.documents.get_many([f"{ANALYSES}/{aid}" for aid in ids.values()])
    jobs: list[OutgoingMessage] = []
    for doc in clips:
        frames = doc.data["frames"]
        earlier = before.get(f"{ANALYSES}/{ids[doc.id]}")
        described = (
            {f["timestamp"] for f in (earlier.data.get("frames") or []) if f.get("description")}
            if earlier is not None
            else set()
        )
        todo = [f for f in frames if f["timestamp"] not in described]
        if not todo:
            plan.done_before += 1
            plan.analyses.append(f"{ANALYSES}/{ids[doc.id]}")
            continue
        if request.max_clips is not None and plan.clips + plan.deferred >= request.max_clips:
            break  # (clips described before do not count: a re-run moves on)
        listed = sum(frame_cost(services, model, doc.data, f) for f in todo)
        cost = 0.0 if offline else listed
        if (
            request.max_cost_usd is not None
            and plan.estimated_cost_usd + cost > request.max_cost_usd
        ):
            plan.deferred += 1
            continue
        plan.clips += 1
        plan.frames += len(todo)
        plan.estimated_cost_usd = round(plan.estimated_cost_usd + cost, 6)
        plan.list_price_usd = round(plan.list_price_usd + listed, 6)
        plan.clip_names.append(str(doc.data["name"]))
        plan.analyses.append(f"{ANALYSES}/{ids[doc.id]}")
        job = AnalysisJob(
            clip=doc.id,
            generation=int(doc.data["generation"]),
            prompt=request.prompt,
            model=model,
            run=plan.run,
        )
        jobs.append(FRAME_ANALYSIS.message(job, {"clip": doc.id}))
    if not request.dry_run and jobs:
        FRAME_ANALYSIS.publish_all(services.bus, jobs)
        plan.published = len(jobs)
    return plan

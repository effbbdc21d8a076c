"""Frames analysed by a vision model: one ``frame-analysis`` message per clip, each frame
described once, every call priced in the ledger.

Documents::

    frame_analyses/<analysis id>   one per (clip generation, prompt version, model, provider):
                                   the clip's metadata (factory_id, worker_id, ...), and per
                                   frame its timestamp, description, tokens and cost

A frame already described is never asked again (a redelivery, a re-run, a crash half-way
through a clip resume where they stopped); ``--max-cost-usd`` leaves the clips that would
cross the cap for a later run, before any call is made.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bootstrap import Services, build_model_client
from shared.errors import TransientError
from shared.ports import SERVER_TIMESTAMP, Document, OutgoingMessage
from shared.ports.models import MediaPart, ModelRequestError
from shared.prompts import get_prompt
from shared.services.datasets import dataset_prefix
from shared.services.leases import lease_live
from shared.services.models import ModelCallFailedError, cost_usd
from shared.services.videos import CLIPS
from shared.services.vision_prompts import FRAME_PROMPTS, FrameDescription

ANALYSES = "frame_analyses"
ANALYSIS_TOPIC = "frame-analysis"
LEASE_MARGIN_SECONDS = 60.0


class AnalysisRequest(BaseModel):
    """The flags of ``vidcurate frames analyze``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str | None = Field(None, description="Only clips under this object prefix.")
    max_clips: int | None = Field(None, ge=1)
    prompt: str = "describe_frame"
    model: str | None = None  # default: settings.vision_model
    max_cost_usd: float | None = Field(None, gt=0)
    dry_run: bool = False

    @field_validator("prompt")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in FRAME_PROMPTS:
            raise ValueError(f"unknown prompt {value!r} (known: {', '.join(FRAME_PROMPTS)})")
        return value


class AnalysisJob(BaseModel):
    """One ``frame-analysis`` message: a clip's frames, with a prompt and a model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    clip: str  # the clips/<id> document
    generation: int
    prompt: str
    model: str


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
    unpriced: bool = False
    clip_names: list[str] = field(default_factory=list)


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
        doc for doc in docs
        if str(doc.data.get("name", "")).startswith(start) and doc.data.get("frames")
    ]  # fmt: skip
    return sorted(chosen, key=lambda doc: str(doc.data["name"]))


def _context(clip: Mapping[str, Any], frame: Mapping[str, Any]) -> str:
    metadata = ", ".join(f"{k}={v}" for k, v in sorted((clip.get("metadata") or {}).items()))
    return f"clip: {clip['name']}; at {frame['timestamp']:.3f} s" + (
        f"; metadata: {metadata}" if metadata else ""
    )


def _frame_cost(services: Services, model: str, clip: Mapping[str, Any], frame: Any) -> float:
    prompt_tokens = 150 + len(_context(clip, frame)) // 4
    tokens = image_tokens(model, int(frame["width"]), int(frame["height"])) + prompt_tokens
    return cost_usd(services.settings, model, tokens, services.settings.vision_max_output_tokens)


def plan_analysis(services: Services, request: AnalysisRequest) -> AnalysisPlan:
    """Pick the sampled clips, estimate, and (unless a dry run) publish one job per clip."""
    settings = services.settings
    model = request.model or settings.vision_model
    client = build_model_client(services)
    provider = client.provider_for(model).name
    prompt = get_prompt(request.prompt)
    offline = client.is_offline(model)
    plan = AnalysisPlan(model=model, provider=provider, prompt=prompt.key,
                        unpriced=not offline and model not in settings.model_prices)  # fmt: skip
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
        described = {
            f["timestamp"] for f in (earlier.data.get("frames") or []) if f.get("description")
        } if earlier is not None else set()  # fmt: skip
        todo = [f for f in frames if f["timestamp"] not in described]
        if not todo:
            plan.done_before += 1
            continue
        if request.max_clips is not None and plan.clips + plan.deferred >= request.max_clips:
            break  # (clips described before do not count: a re-run moves on)
        listed = sum(_frame_cost(services, model, doc.data, f) for f in todo)
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
        job = AnalysisJob(clip=doc.id, generation=int(doc.data["generation"]),
                          prompt=request.prompt, model=model)  # fmt: skip
        jobs.append(OutgoingMessage(job.model_dump_json().encode(), {"clip": doc.id}))
    if not request.dry_run and jobs:
        services.bus.publish_many(ANALYSIS_TOPIC, jobs)
        plan.published = len(jobs)
    return plan


Outcome = Literal["done", "failed", "stale", "already_done"]


def analyze_clip(services: Services, job: AnalysisJob, *, delivery: str = "") -> Outcome:
    """Describe every frame of the job's clip not described yet; what happened."""
    settings = services.settings
    clip_doc = services.documents.get(f"{CLIPS}/{job.clip}")
    if clip_doc is None or int(clip_doc.data.get("generation") or 0) != job.generation:
        return "stale"  # replaced since: its new frames get their own job
    clip = clip_doc.data
    client = build_model_client(services)
    provider = client.provider_for(job.model).name
    prompt = get_prompt(job.prompt)
    path = f"{ANALYSES}/{analysis_id(job.clip, job.generation, prompt.key, job.model, provider)}"
    holder = delivery or uuid.uuid4().hex
    results = _claim(services, path, holder, clip, job, prompt.key, provider)
    if results is None:
        return "already_done"
    deadline = time.monotonic() + settings.job_deadline_seconds
    done = {f["timestamp"] for f in results if f.get("description")}
    for frame in clip.get("frames") or []:
        if frame["timestamp"] in done:
            continue
        try:
            picture = services.blobs.read(settings.frames_bucket, frame["path"])
            answer = client.generate(
                prompt,
                model=job.model,
                schema=FrameDescription,
                data={"context": _context(clip, frame)},
                media=[MediaPart(mime_type="image/jpeg", data=picture)],
                labels={"kind": "vision", "clip": str(clip["name"]),
                        "timestamp": f"{frame['timestamp']:.3f}"},
                max_output_tokens=settings.vision_max_output_tokens,
                deadline=deadline,
            )  # fmt: skip
        except (ModelCallFailedError, ModelRequestError) as exc:
            _finish(services, path, holder, results, error=f"{frame['path']}: {exc}"[:1000])
            return "failed"
        except BaseException:
            _finish(services, path, holder, results, error=None, release_only=True)
            raise
        results = [r for r in results if r["timestamp"] != frame["timestamp"]] + [{
            "timestamp": frame["timestamp"],
            "path": frame["path"],
            "description": answer.parsed.description,
            "model": answer.model,
            "input_tokens": answer.input_tokens,
            "output_tokens": answer.output_tokens,
            "cost_usd": answer.cost_usd,
        }]  # fmt: skip
        # Saved frame by frame: a crash later in the clip never pays for this one again.
        services.documents.update(path, {"frames": sorted(results, key=lambda r: r["timestamp"])})
    _finish(services, path, holder, results, error=None)
    return "done"


def _claim(
    services: Services,
    path: str,
    holder: str,
    clip: Mapping[str, Any],
    job: AnalysisJob,
    prompt_key: str,
    provider: str,
) -> list[dict[str, Any]] | None:
    """Take the analysis for this delivery: its frames so far, or None when it is done."""
    lease = timedelta(seconds=services.settings.job_deadline_seconds + LEASE_MARGIN_SECONDS)
    wanted = {f["timestamp"] for f in clip.get("frames") or []}

    def apply(tx: Any) -> list[dict[str, Any]] | None:
        current = tx.get(path)
        data = current.data if current is not None else {}
        frames: list[dict[str, Any]] = list(data.get("frames") or [])
        if wanted <= {f["timestamp"] for f in frames if f.get("description")}:
            if current is not None and data.get("status") != "done":
                # Every frame was described by a delivery that died before saying so.
                spent = round(sum(float(f.get("cost_usd") or 0) for f in frames), 8)
                tx.update(path, {"status": "done", "error": None, "holder": None,
                                 "lease_until": None, "cost_usd": spent})  # fmt: skip
            return None
        now = datetime.now(UTC)
        if data.get("holder") not in (None, holder) and lease_live(data.get("lease_until"), now):
            raise TransientError(f"{clip['name']}: its frames are being analysed")
        tx.set(path, {
            **data,
            "clip": clip["name"], "bucket": clip.get("bucket"), "generation": job.generation,
            "metadata": clip.get("metadata") or {}, "prompt": prompt_key, "model": job.model,
            "provider": provider, "status": "running", "holder": holder,
            "lease_until": now + lease, "frames": frames, "updated_at": SERVER_TIMESTAMP,
        })  # fmt: skip
        return frames

    result: list[dict[str, Any]] | None = services.documents.run_transaction(apply)
    return result


def _finish(
    services: Services,
    path: str,
    holder: str,
    results: list[dict[str, Any]],
    *,
    error: str | None,
    release_only: bool = False,
) -> None:
    def apply(tx: Any) -> None:
        current = tx.get(path)
        if current is None or current.data.get("holder") != holder:
            return
        fields: dict[str, Any] = {"holder": None, "lease_until": None}
        if not release_only:
            fields.update(
                status="failed" if error else "done",
                error=error,
                frames=sorted(results, key=lambda r: r["timestamp"]),
                cost_usd=round(sum(float(r.get("cost_usd") or 0) for r in results), 8),
                updated_at=SERVER_TIMESTAMP,
            )
        tx.update(path, fields)

    services.documents.run_transaction(apply)


def analysis_report(services: Services, names: list[str] | None = None) -> list[dict[str, Any]]:
    """Every analysis (or those of ``names``): clip, metadata, status, frames and cost."""
    rows = [doc.data for doc in services.documents.iter_collection(ANALYSES)]
    if names is not None:
        wanted = set(names)
        rows = [row for row in rows if row.get("clip") in wanted]
    return sorted(rows, key=lambda row: (str(row.get("clip")), str(row.get("prompt"))))


def export_json(rows: list[dict[str, Any]]) -> str:
    """The per-clip results as JSON (metadata kept, leases and bookkeeping left out)."""
    keep = ("clip", "generation", "metadata", "prompt", "model", "provider", "status",
            "error", "cost_usd", "frames")  # fmt: skip
    return json.dumps([{k: row.get(k) for k in keep} for row in rows], indent=2, default=str)

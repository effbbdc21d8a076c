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

import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

from shared.core.errors import BusyError
from shared.llm.client import ModelCallFailedError, model_client
from shared.llm.prompts import get_prompt
from shared.media import CLIPS
from shared.platform.context import Context
from shared.platform.leases import Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP
from shared.ports.models import MediaPart, ModelRequestError
from shared.vision.messages import AnalysisJob
from shared.vision.plan import _context, analysis_id
from shared.vision.prompts import FrameDescription
from shared.vision.settings import VisionSettings
from shared.vision.store import ANALYSES

LEASE_MARGIN_SECONDS = 60.0


Outcome = Literal["done", "failed", "stale", "already_done"]


def analyze_clip(
    services: Context[VisionSettings], job: AnalysisJob, *, delivery: str = ""
) -> Outcome:
    """Describe every frame of the job's clip not described yet; what happened."""
    settings = services.settings
    clip_doc = services.documents.get(f"{CLIPS}/{job.clip}")
    if clip_doc is None or int(clip_doc.data.get("generation") or 0) != job.generation:
        return "stale"  # replaced since: its new frames get their own job
    clip = clip_doc.data
    client = model_client(services)
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
                labels={
                    "kind": "vision",
                    "clip": str(clip["name"]),
                    "timestamp": f"{frame['timestamp']:.3f}",
                    **({"run": job.run} if job.run else {}),
                },
                max_output_tokens=settings.vision_max_output_tokens,
                deadline=deadline,
            )
        except (ModelCallFailedError, ModelRequestError) as exc:
            _finish(services, path, holder, results, error=f"{frame['path']}: {exc}"[:1000])
            return "failed"
        except BaseException:
            _finish(services, path, holder, results, error=None, release_only=True)
            raise
        results = [r for r in results if r["timestamp"] != frame["timestamp"]] + [
            {
                "timestamp": frame["timestamp"],
                "path": frame["path"],
                "description": answer.parsed.description,
                "model": answer.model,
                "input_tokens": answer.input_tokens,
                "output_tokens": answer.output_tokens,
                "cost_usd": answer.cost_usd,
            }
        ]
        # Saved frame by frame: a crash later in the clip never pays for this one again.
        services.documents.update(path, {"frames": sorted(results, key=lambda r: r["timestamp"])})
    _finish(services, path, holder, results, error=None)
    return "done"


def _lease(services: Context[VisionSettings], path: str, holder: str) -> Lease:
    # Outlasts the job's deadline (every call and retry of the clip's frames): never renewed.
    seconds = services.settings.job_deadline_seconds + LEASE_MARGIN_SECONDS
    return Lease(services.documents, path, holder, seconds=seconds)


_Frames = list[dict[str, Any]]  # per frame: timestamp, path, description, tokens, cost


def _claim(
    services: Context[VisionSettings],
    path: str,
    holder: str,
    clip: Mapping[str, Any],
    job: AnalysisJob,
    prompt_key: str,
    provider: str,
) -> _Frames | None:
    """Take the analysis for this delivery: its frames so far, or None when it is done."""
    wanted = {f["timestamp"] for f in clip.get("frames") or []}
    lease = _lease(services, path, holder)

    def decide(view: View) -> Take[_Frames | None] | Keep[_Frames | None]:
        frames: _Frames = list(view.data.get("frames") or [])
        # Done is judged by the frames, not the status: a delivery may die after the last one.
        if wanted <= {f["timestamp"] for f in frames if f.get("description")}:
            if view.exists and view.data.get("status") != "done":
                # Every frame was described by a delivery that died before saying so.
                spent = round(sum(float(f.get("cost_usd") or 0) for f in frames), 8)
                return Keep(
                    None, {"status": "done", "error": None, **lease.freed(), "cost_usd": spent}
                )
            return Keep(None)
        if view.held:
            raise BusyError(f"{clip['name']}: its frames are being analysed")
        return Take(
            frames,
            {
                **view.data,
                "clip": clip["name"],
                "bucket": clip.get("bucket"),
                "generation": job.generation,
                "metadata": clip.get("metadata") or {},
                "prompt": prompt_key,
                "model": job.model,
                "provider": provider,
                "status": "running",
                "frames": frames,
                "updated_at": SERVER_TIMESTAMP,
            },
        )

    return lease.claim(decide)


def _finish(
    services: Context[VisionSettings],
    path: str,
    holder: str,
    results: _Frames,
    *,
    error: str | None,
    release_only: bool = False,
) -> None:
    lease = _lease(services, path, holder)
    if release_only:
        # Status stays "running": the next delivery resumes after the frames saved so far.
        lease.release()
        return
    lease.finish(
        {
            "status": "failed" if error else "done",
            "error": error,
            "frames": sorted(results, key=lambda r: r["timestamp"]),
            "cost_usd": round(sum(float(r.get("cost_usd") or 0) for r in results), 8),
            "updated_at": SERVER_TIMESTAMP,
        }
    )

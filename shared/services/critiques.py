"""Critique runs over an export: plan, fan out per item, generate, consolidate exactly once.

Documents (one run per export folder; a re-run plans it again)::

    critique_runs/<folder>                         the run: request, plan id, totals
    critique_runs/<folder>/items/<video~task~type> one item: key, status, record
    critique_runs/<folder>/consolidations/<plan>   claimed once per completed plan

Items are keyed by a hash of their inputs (``shared/domain/critiques.py``): a re-run skips
items whose stored result has the same key, regenerates the changed ones, and retries the
failed ones. Progress is counted by queries over the items, never by a shared counter; the
worker that finds nothing left pending claims the consolidation with a create-only write.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.bootstrap import Services, build_model_client
from shared.domain.critiques import (
    CRITIQUE_TYPES,
    REVISION_MODEL,
    REVISION_PROMPT,
    CaptionRef,
    CritiqueAnswer,
    CritiqueType,
    RevisionAnswer,
    WorstCaptionAnswer,
    item_id,
    item_key,
    reviewed_captions,
    skip_reason,
)
from shared.errors import NotFoundError, PermanentError, TransientError
from shared.ports import SERVER_TIMESTAMP, OutgoingMessage
from shared.ports.models import MediaPart, ModelRequestError
from shared.prompts import get_prompt
from shared.services import critique_prompts  # noqa: F401 (registers the prompts)
from shared.services.exports import HUB_UPLOADS_TOPIC
from shared.services.models import ModelCallFailedError, ModelClient, cost_usd

log = logging.getLogger("vidcurate.critiques")

RUNS = "critique_runs"
OPEN_STATUSES = ("pending", "running", "deferred", "failed")  # block the consolidation
CONSOLIDATION_LEASE_SECONDS = 600.0  # longer than a function may run (540 s)
JOBS_TOPIC = "critique-jobs"
REQUESTS_TOPIC = "critique-requests"
PUBLISH_BATCH = 500
EST_OUTPUT_TOKENS = 250
_ALL_VIDEOS = re.compile(r"all_videos_with_captions_(?P<ts>\d{8}_\d{4}(?:_\d+)?)\.json")


class CritiqueRequest(BaseModel):
    """The CLI flags, and the body of a ``critique-requests`` message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    export_folder: str = Field(pattern=r"^export_\d{8}_\d{4}(_\d+)?$")
    critique_types: tuple[str, ...] = tuple(CRITIQUE_TYPES)
    dry_run: bool = False
    force_regenerate: bool = False
    new_only: bool = False
    max_retries: int | None = Field(None, ge=0, le=10)
    max_cost_usd: float | None = Field(None, gt=0)

    @field_validator("critique_types")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in CRITIQUE_TYPES]
        if unknown:
            raise ValueError(
                f"unknown critique type(s) {', '.join(unknown)} (known: "
                f"{', '.join(CRITIQUE_TYPES)})"
            )
        return value


class CritiqueJob(BaseModel):
    """One ``critique-jobs`` message: an item of a run, at the key it was planned with."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str
    item: str
    key: str
    max_retries: int | None = None


@dataclass
class TypeCounts:
    """What a plan does for one critique type."""

    generate: int = 0
    skipped: int = 0
    unchanged: int = 0
    failed_before: int = 0
    deferred: int = 0  # over the --max-cost-usd budget: left pending for a re-run
    estimated_cost_usd: float = 0.0


@dataclass
class Plan:
    """The outcome of planning a run (and, unless a dry run, of fanning it out)."""

    run: str
    plan_id: str
    items: int
    by_type: dict[str, TypeCounts] = field(default_factory=dict)
    published: int = 0
    offline_models: list[str] = field(default_factory=list)


def runs_path(folder: str) -> str:
    """The run document of an export folder."""
    return f"{RUNS}/{folder}"


def items_collection(folder: str) -> str:
    """The items of a run."""
    return f"{RUNS}/{folder}/items"


# --- reading the export ---------------------------------------------------------------------


def load_export(services: Services, folder: str) -> tuple[str, list[Mapping[str, Any]]]:
    """``(timestamp, entries)`` of the export's all_videos_with_captions file."""
    bucket = services.settings.exports_bucket
    names = [info.name for info in services.blobs.list(bucket, f"{folder}/")]
    for name in names:
        match = _ALL_VIDEOS.fullmatch(name.rsplit("/", 1)[-1])
        if match:
            entries = json.loads(services.blobs.read(bucket, name))
            return match["ts"], entries
    if not names:
        raise PermanentError(f"no export folder gs://{bucket}/{folder}/ (run vidcurate export)")
    raise PermanentError(
        f"gs://{bucket}/{folder}/ has no all_videos_with_captions_<ts>.json "
        "(an --only-reviewed export cannot be critiqued)"
    )


def _long_names(services: Services, folder: str, timestamp: str) -> dict[str, str]:
    """Task long names of the export's config (its statistics say which config)."""
    name = f"{folder}/comprehensive_statistics_{timestamp}.json"
    try:
        statistics = json.loads(services.blobs.read(services.settings.exports_bucket, name))
    except NotFoundError:
        return {}
    return {
        task: str(info.get("long_name", task))
        for task, info in (statistics.get("per_task") or {}).items()
    }


def _models(services: Services, critique: CritiqueType) -> tuple[str, str]:
    models = services.settings.critique_models
    return models.get(critique.name, critique.default_model), models.get("revision", REVISION_MODEL)


def _inputs(caption: CaptionRef) -> dict[str, str]:
    return {
        "task": caption.task,
        "caption": str(caption.caption_data.get("final_caption", "")),
        "feedback": caption.original_feedback,
    }


def _estimate_cost(services: Services, critique: CritiqueType, caption: CaptionRef) -> float:
    model, revision_model = _models(services, critique)
    prompt = get_prompt(critique.prompt)
    text = prompt.instructions + "".join(_inputs(caption).values())
    tokens = len(text) // 4 + 50
    total = cost_usd(services.settings, model, tokens, EST_OUTPUT_TOKENS)
    if critique.revised:
        total += cost_usd(services.settings, revision_model, tokens, EST_OUTPUT_TOKENS)
    return total


# --- planning and fan-out -------------------------------------------------------------------


@dataclass(frozen=True)
class _Planned:
    caption: CaptionRef
    critique: CritiqueType
    item: str
    key: str


def _planned_items(
    services: Services, entries: list[Mapping[str, Any]], types: Sequence[str]
) -> Iterator[_Planned]:
    for caption in reviewed_captions(entries):
        for name in types:
            critique = CRITIQUE_TYPES[name]
            model, revision_model = _models(services, critique)
            key = item_key(
                caption,
                critique,
                model=model,
                prompt_version=get_prompt(critique.prompt).version,
                revision_model=revision_model,
                revision_prompt_version=get_prompt(REVISION_PROMPT).version,
            )
            yield _Planned(caption, critique, item_id(caption.video_id, caption.task, name), key)


def _classify(
    item: _Planned, before: Mapping[str, Any] | None, request: CritiqueRequest
) -> Literal["skip", "unchanged", "retry", "generate"]:
    """What a (re-)run does with one item, from its stored state and the flags."""
    if skip_reason(item.caption, item.critique) is not None:
        return "skip"
    if before is None:
        return "generate"
    if request.new_only:
        return "unchanged"  # only items never generated
    same = before.get("key") == item.key
    if same and before.get("status") == "success" and not request.force_regenerate:
        return "unchanged"
    if same and before.get("status") == "failed":
        return "retry"
    return "generate"


def plan_run(services: Services, request: CritiqueRequest) -> Plan:
    """Classify every item; unless ``dry_run``, write them and publish the jobs."""
    folder = request.export_folder
    timestamp, entries = load_export(services, folder)
    documents = services.documents
    existing = {doc.id: doc.data for doc in documents.iter_collection(items_collection(folder))}
    long_names = _long_names(services, folder, timestamp)
    planned = list(_planned_items(services, entries, request.critique_types))
    digest = hashlib.sha256()
    for item in sorted(planned, key=lambda p: p.item):
        digest.update(f"{item.item}={item.key};".encode())
    plan = Plan(run=folder, plan_id=digest.hexdigest()[:24], items=len(planned))
    client = build_model_client(services)
    plan.offline_models = sorted(
        {m for item in planned for m in _models(services, item.critique) if client.is_offline(m)}
    )
    writes: list[tuple[str, dict[str, Any]]] = []
    jobs: list[OutgoingMessage] = []
    committed = 0.0
    for item in planned:
        counts = plan.by_type.setdefault(item.critique.name, TypeCounts())
        before = existing.get(item.item)
        base = {
            "video_id": item.caption.video_id,
            "task": item.caption.task,
            "task_long_name": long_names.get(item.caption.task, item.caption.task),
            "critique_type": item.critique.name,
            "key": item.key,
            "caption_status": item.caption.status,
            # What the worker needs, so that it never reads the whole export per item.
            "inputs": _inputs(item.caption),
            "video_url": item.caption.video_url,
        }
        action = _classify(item, before, request)
        if action == "skip":
            counts.skipped += 1
            if before is None or before.get("key") != item.key:
                reason = skip_reason(item.caption, item.critique) or ""
                record = _skipped_record(item.critique, reason)
                writes.append((item.item, {**base, "status": "skipped", "record": record}))
            continue
        if action == "unchanged":
            counts.unchanged += 1
            continue
        if action == "retry":
            counts.failed_before += 1
        estimate = _estimate_cost(services, item.critique, item.caption)
        if request.max_cost_usd is not None and committed + estimate > request.max_cost_usd:
            # Recorded as open work: the run is not complete, and a re-run continues it.
            counts.deferred += 1
            writes.append((item.item, {**base, "status": "deferred", "record": None}))
            continue
        committed += estimate
        counts.generate += 1
        counts.estimated_cost_usd = round(counts.estimated_cost_usd + estimate, 6)
        writes.append((item.item, {**base, "status": "pending", "record": None}))
        body: dict[str, Any] = {"run": folder, "item": item.item, "key": item.key}
        if request.max_retries is not None:
            body["max_retries"] = request.max_retries
        jobs.append(OutgoingMessage(json.dumps(body).encode(), {"run": folder}))
    if not request.dry_run:
        _fan_out(services, request, plan, timestamp, writes, jobs)
    return plan


def _fan_out(
    services: Services,
    request: CritiqueRequest,
    plan: Plan,
    timestamp: str,
    writes: Sequence[tuple[str, dict[str, Any]]],
    jobs: Sequence[OutgoingMessage],
) -> None:
    """Record the run and its items, then publish the jobs (items first: a job always
    finds its item)."""
    documents, folder = services.documents, plan.run
    documents.set(
        runs_path(folder),
        {
            "folder": folder,
            "timestamp": timestamp,
            "plan_id": plan.plan_id,
            "items": plan.items,
            "request": request.model_dump(mode="json"),
            "planned_at": SERVER_TIMESTAMP,
        },
        merge=True,
    )
    for start in range(0, len(writes), 400):
        with documents.batch() as batch:
            for doc_id, data in writes[start : start + 400]:
                path = f"{items_collection(folder)}/{doc_id}"
                batch.set(path, {**data, "updated_at": SERVER_TIMESTAMP})
    for start in range(0, len(jobs), PUBLISH_BATCH):
        services.bus.publish_many(JOBS_TOPIC, jobs[start : start + PUBLISH_BATCH])
    plan.published = len(jobs)
    maybe_consolidate(services, folder)  # nothing to generate: done already


def _skipped_record(critique: CritiqueType, reason: str) -> dict[str, Any]:
    return {
        "status": "skipped",
        "model": None,
        "prompt_name": critique.prompt,
        "mode": critique.mode,
        "generated_critique": None,
        "revised_caption_by_generated_critique": None,
        "skip_reason": reason,
        "timestamp": _now(),
    }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


# --- the worker -----------------------------------------------------------------------------


def _claim_item(
    services: Services, path: str, job: CritiqueJob, delivery: str
) -> dict[str, Any] | str:
    """Take the item for this delivery (the data), or say why not (a status).

    A lease stops a duplicate delivery from paying for the same item concurrently: it is
    sent back (TransientError) and finds the item done when it returns. A redelivery of the
    same message (its earlier attempt crashed or timed out) takes over at once; any other
    after the lease, which outlasts a whole call with its retries.
    """
    settings = services.settings
    lease = timedelta(seconds=settings.model_max_retry_seconds + 2 * settings.model_timeout_seconds)

    def apply(tx: Any) -> dict[str, Any] | str:
        doc = tx.get(path)
        if doc is None or doc.data.get("key") != job.key:
            return "stale"  # re-planned since: the newer job carries the newer key
        data: dict[str, Any] = doc.data
        status = data.get("status")
        now = datetime.now(UTC)
        if status == "running":
            held_by, until = data.get("delivery"), data.get("lease_until")
            if isinstance(until, datetime) and until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if held_by != delivery and isinstance(until, datetime) and until > now:
                raise TransientError(f"{job.item} is being generated by delivery {held_by}")
        elif status != "pending":
            return str(status)  # done by an earlier delivery
        tx.update(path, {"status": "running", "delivery": delivery, "lease_until": now + lease})
        return data

    result: dict[str, Any] | str = services.documents.run_transaction(apply)
    return result


def process_job(services: Services, job: CritiqueJob, *, delivery: str = "") -> str:
    """Generate one item; returns its final status (or ``stale`` for an outdated job).

    ``delivery`` names the message (its id): redeliveries of it resume its claim.
    """
    documents = services.documents
    path = f"{items_collection(job.run)}/{job.item}"
    claimed = _claim_item(services, path, job, delivery or uuid.uuid4().hex)
    if isinstance(claimed, str):
        if claimed != "stale":
            # Done by an earlier delivery that may have crashed before consolidating.
            maybe_consolidate(services, job.run)
        return claimed
    data = claimed
    critique = CRITIQUE_TYPES[data["critique_type"]]
    inputs = dict(data["inputs"])
    caption = CaptionRef(
        video_id=data["video_id"],
        video_url=data.get("video_url") or "",
        task=data["task"],
        status=data.get("caption_status", ""),
        caption_data={"final_caption": inputs["caption"], "final_feedback": inputs["feedback"]},
    )
    client = build_model_client(services)
    try:
        record = _generate(services, client, critique, caption, job)
        status = "success"
    except (ModelCallFailedError, ModelRequestError) as exc:
        attempts = getattr(exc, "attempts", 1)
        record = {
            "status": "failed",
            "model": _models(services, critique)[0],
            "prompt_name": critique.prompt,
            "mode": critique.mode,
            "error": str(exc)[:1000],
            "attempts": attempts,
            "timestamp": _now(),
        }
        status = "failed"

    def finish(tx: Any) -> bool:
        current = tx.get(path)
        if current is None or current.data.get("key") != job.key:
            return False
        if current.data.get("status") != "running":
            return False  # finished meanwhile by the delivery that took the lease over
        tx.update(
            path,
            {
                "status": status,
                "record": record,
                "delivery": None,
                "lease_until": None,
                "updated_at": SERVER_TIMESTAMP,
            },
        )
        return True

    if documents.run_transaction(finish):
        if status == "success":
            _write_output(services, job.run, caption, data["task_long_name"], critique, record)
        maybe_consolidate(services, job.run)
    return status


def _generate(
    services: Services,
    client: ModelClient,
    critique: CritiqueType,
    caption: CaptionRef,
    job: CritiqueJob,
) -> dict[str, Any]:
    model, revision_model = _models(services, critique)
    prompt = get_prompt(critique.prompt)
    inputs = _inputs(caption)
    labels = {"kind": critique.name, "run": job.run, "item": job.item}
    media: list[MediaPart] = []
    if critique.mode == "Video":
        if not caption.video_url:
            raise ModelRequestError(f"{job.item}: the export has no video_url to watch")
        if client.is_offline(model):
            media.append(MediaPart(mime_type="video/mp4", uri=caption.video_url))
        else:
            media.append(fetch_video(services, caption.video_url))
    data = {name: inputs[name] for name in prompt.inputs}
    if critique.name == "worst_caption_generation":
        worst = client.generate(prompt, model=model, schema=WorstCaptionAnswer, data=data,
                                labels=labels, max_retries=job.max_retries)  # fmt: skip
        return {
            "status": "success",
            "model": worst.model,
            "prompt_name": prompt.name,
            "mode": critique.mode,
            "generated_critique": None,
            "revised_caption_by_generated_critique": None,
            "bad_caption": worst.parsed.bad_caption,
            "timestamp": _now(),
        }
    result = client.generate(prompt, model=model, schema=CritiqueAnswer, data=data,
                             media=media, labels=labels, max_retries=job.max_retries)  # fmt: skip
    revision = client.generate(
        get_prompt(REVISION_PROMPT),
        model=revision_model,
        schema=RevisionAnswer,
        data={
            "task": caption.task,
            "caption": inputs["caption"],
            "critique": result.parsed.critique,
        },
        labels={**labels, "step": "revision"},  # costs add up under the critique type
        max_retries=job.max_retries,
    )
    return {
        "status": "success",
        "model": result.model,
        "prompt_name": prompt.name,
        "mode": critique.mode,
        "generated_critique": result.parsed.critique,
        "revised_caption_by_generated_critique": revision.parsed.revised_caption,
        "revision_model": revision.model,
        "timestamp": _now(),
    }


def fetch_video(services: Services, url: str) -> MediaPart:
    """The video's bytes for the model (its adapter uploads large ones through the provider's
    file API): from the bucket for ``gs://`` URLs, over HTTPS otherwise. A video that cannot
    be fetched fails its item with the reason (ModelRequestError: retrying will not help)."""
    limit = services.settings.max_video_bytes
    try:
        if url.startswith("gs://"):
            bucket, _, name = url.removeprefix("gs://").partition("/")
            info = services.blobs.stat(bucket, name)
            if info.size > limit:
                raise ModelRequestError(f"video {url} is {info.size} bytes (limit {limit})")
            data = services.blobs.read(bucket, name, generation=info.generation)
            mime = info.content_type if info.content_type.startswith("video/") else "video/mp4"
            return MediaPart(mime_type=mime, data=data)
        if not url.startswith(("https://", "http://")):
            raise ModelRequestError(f"video {url!r}: not a gs:// or http(s) URL")
        request = urllib.request.Request(url, headers={"User-Agent": "vidcurate"})  # noqa: S310
        with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
            data = response.read(limit + 1)
            mime = response.headers.get_content_type()
        if len(data) > limit:
            raise ModelRequestError(f"video {url} is larger than {limit} bytes")
        return MediaPart(mime_type=mime if mime.startswith("video/") else "video/mp4", data=data)
    except (NotFoundError, OSError, ValueError) as exc:
        raise ModelRequestError(f"video {url} could not be fetched: {exc}") from exc


def _write_output(
    services: Services,
    folder: str,
    caption: CaptionRef,
    long_name: str,
    critique: CritiqueType,
    record: Mapping[str, Any],
) -> None:
    name = f"{folder}/output_critiques/{critique.name}/{long_name}/{caption.video_id}_critique.json"
    body = {"video_id": caption.video_id, "task": caption.task, critique.name: record}
    services.blobs.write(
        services.settings.exports_bucket,
        name,
        json.dumps(body, indent=2, ensure_ascii=False).encode(),
        content_type="application/json",
    )


# --- completion -----------------------------------------------------------------------------


def run_counts(services: Services, folder: str) -> dict[str, dict[str, int]]:
    """``critique type -> status -> count``, counted by the store."""
    collection = items_collection(folder)
    counts: dict[str, dict[str, int]] = {}
    for name in CRITIQUE_TYPES:
        row = {
            status: services.documents.count(
                collection, [("critique_type", "==", name), ("status", "==", status)]
            )
            for status in ("pending", "running", "deferred", "success", "skipped", "failed")
        }
        if any(row.values()):
            counts[name] = row
    return counts


def maybe_consolidate(services: Services, folder: str) -> bool:
    """If every item is success or skipped, consolidate once per plan; whether this did."""
    documents = services.documents
    collection = items_collection(folder)
    # One open item is enough to know: a limit-1 query reads one entry (cheap at any scale,
    # where a count would read the whole index on every completion).
    if documents.query(collection, where=[("status", "in", list(OPEN_STATUSES))], limit=1):
        return False
    run = documents.get(runs_path(folder))
    if run is None:
        return False
    plan_id = run.data["plan_id"]
    claim = f"{RUNS}/{folder}/consolidations/{plan_id}"
    if not _claim_consolidation(services, claim, plan_id):
        return False  # done, or being done, by another worker or an earlier delivery
    name = consolidate(services, folder, run.data["timestamp"])
    if services.settings.hf_dataset:
        # Only the new file: the folder itself may have been published already.
        body = json.dumps({"folder": folder, "files": [name.rsplit("/", 1)[-1]]}).encode()
        services.bus.publish(HUB_UPLOADS_TOPIC, body, {"folder": folder, "reason": "critiques"})
    documents.update(claim, {"file": name, "done_at": SERVER_TIMESTAMP})
    documents.update(runs_path(folder), {"consolidated_plan": plan_id, "consolidated_file": name})
    log.info("critiques consolidated", extra={"labels": {"run": folder}, "file": name})
    return True


def _claim_consolidation(services: Services, claim: str, plan_id: str) -> bool:
    """Claim a plan's consolidation: create-only, so one worker wins a race; a claim whose
    holder died before finishing (no ``done_at`` after the lease) can be taken over."""
    now = datetime.now(UTC)
    lease = timedelta(seconds=CONSOLIDATION_LEASE_SECONDS)

    def apply(tx: Any) -> bool:
        current = tx.get(claim)
        if current is not None:
            if current.data.get("done_at") is not None:
                return False
            until = current.data.get("lease_until")
            if isinstance(until, datetime) and until.tzinfo is None:
                until = until.replace(tzinfo=UTC)
            if isinstance(until, datetime) and until > now:
                return False
        tx.set(claim, {"plan_id": plan_id, "claimed_at": now, "lease_until": now + lease,
                       "done_at": None})  # fmt: skip
        return True

    claimed: bool = services.documents.run_transaction(apply)
    return claimed


def consolidate(services: Services, folder: str, timestamp: str) -> str:
    """Add each item's record to its caption entry; write the consolidated file."""
    _ts, entries = load_export(services, folder)
    records: dict[tuple[str, str], dict[str, Any]] = {}
    for doc in services.documents.iter_collection(items_collection(folder)):
        data = doc.data
        if data.get("record") is not None:
            key = (data["video_id"], data["task"])
            records.setdefault(key, {})[data["critique_type"]] = data["record"]
    for entry in entries:
        for task, caption in entry.get("captions", {}).items():
            for name, record in sorted(records.get((entry["video_id"], task), {}).items()):
                caption.setdefault(name, record)  # original fields are never changed
    name = f"{folder}/all_videos_with_captions_and_critiques_{timestamp}.json"
    services.blobs.write(
        services.settings.exports_bucket,
        name,
        json.dumps(entries, indent=2, ensure_ascii=False).encode(),
        content_type="application/json",
    )
    return name


def status_report(services: Services, folder: str) -> dict[str, Any]:
    """Counts per type and status, and whether the run is consolidated."""
    run = services.documents.get(runs_path(folder))
    if run is None:
        raise NotFoundError(f"no critique run for {folder} (run vidcurate critiques run)")
    counts = run_counts(services, folder)
    totals = Counter[str]()
    for row in counts.values():
        totals.update(row)
    return {
        "export_folder": folder,
        "items": services.documents.count(items_collection(folder)),
        "by_type": counts,
        "totals": dict(totals),
        "consolidated_file": run.data.get("consolidated_file")
        if run.data.get("consolidated_plan") == run.data.get("plan_id")
        else None,
    }


Outcome = Literal["success", "failed", "skipped", "stale", "pending"]

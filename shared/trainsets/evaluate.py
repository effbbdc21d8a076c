"""Evaluate one set: its images on numbered sheets, a vision model's verdict per image, the
balance against the target mix and the plan that would restore it.

One ``set-evaluations`` message is one set (``evaluate_set_message``). The set's manifest
names its images; each must be in the set's folder and decode as an image. The sheets go to
the model one at a time through the model layer (rate limits, retries, the cost ledger); an
answer that skips, repeats or invents a number, or names an unknown category, is asked again
with what was wrong, up to ``set_model_attempts`` times, then the evaluation fails with that
reason. The sheets and ``<set id>_evaluation.json`` are written to the evaluations bucket, and
the set's document (``trainsets/<set id>``) keeps the outcome that ``sets status`` shows.

A set whose images (names and generations), distribution, model, prompt and sheets are those
of its last evaluation is not sent again unless the request forces it; the same run delivered
again is "already_done", and a delivery that finds the set leased by another backs off
(BusyError: retried). Bad input (no manifest or not one, missing or broken images, an empty
set), an answer never complete, a request the model refuses and a model unavailable through
the client's retries or past ``job_deadline_seconds`` are recorded on the set's document
(``failed``, with the reason) and raised as a PermanentError: the other sets go on, and the
next request evaluates the set again. Anything else frees the set and is retried. Nothing is
ever written to the sets bucket.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

from shared.core.errors import BusyError, NotFoundError, PermanentError, PreconditionFailedError
from shared.llm.client import ModelCallFailedError, ModelResult, model_client
from shared.platform.context import Context
from shared.platform.leases import Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP
from shared.ports.models import MediaPart
from shared.trainsets.execute import SETS, execute_plan, summarise
from shared.trainsets.grid import Composite, open_image, render
from shared.trainsets.manifest import Manifest, read_manifest, set_images
from shared.trainsets.messages import SetEvaluation
from shared.trainsets.plan import ActionPlan, Balance, Distribution, Verdict, plan
from shared.trainsets.prompts import EVALUATE_SHEET, SheetAnswer, sheet_layout
from shared.trainsets.settings import TrainsetSettings

LEASE_SECONDS = 900.0
"""Outlasts an evaluation, bounded by ``job_deadline_seconds`` (every sheet, answer asked
again and retry): never renewed; a delivery that died leaves the set for this long."""

Outcome = Literal["evaluated", "executed", "unchanged", "already_done"]


def set_path(set_id: str) -> str:
    return f"{SETS}/{set_id}"


def evaluation_name(set_id: str) -> str:
    return f"{set_id}_evaluation.json"


def composite_name(set_id: str, index: int) -> str:
    """``<set id>_composite.jpg``, then ``_composite_2.jpg``... for a set on several sheets."""
    return f"{set_id}_composite.jpg" if index == 0 else f"{set_id}_composite_{index + 1}.jpg"


def distribution_of(manifest: Manifest, settings: TrainsetSettings) -> Distribution:
    """The set's own distribution, else the configured one."""
    return manifest.distribution or settings.set_distribution


def evaluation_key(
    manifest: Manifest, generations: Mapping[str, int], settings: TrainsetSettings
) -> str:
    """What an evaluation depends on: the same key, the same evaluation."""
    basis = {
        "images": sorted((file, generations[file]) for file in manifest.files()),
        "distribution": distribution_of(manifest, settings).model_dump(mode="json"),
        "model": settings.set_model,
        "prompt": EVALUATE_SHEET.key,
        "grid": settings.set_grid.model_dump(mode="json"),
        "temperature": settings.set_temperature,
    }
    return hashlib.sha256(json.dumps(basis, sort_keys=True).encode()).hexdigest()[:32]


def answer_problems(
    answer: SheetAnswer, numbers: Sequence[int], categories: Sequence[str]
) -> list[str]:
    """What is wrong with a sheet's answer (empty: every number classified exactly once)."""
    wanted = set(numbers)
    seen: dict[int, int] = {}
    for verdict in answer.images:
        seen[verdict.number] = seen.get(verdict.number, 0) + 1
    problems = []
    missing = sorted(wanted - set(seen))
    if missing:
        problems.append(f"no verdict for image(s) {', '.join(map(str, missing))}")
    repeated = sorted(n for n, times in seen.items() if times > 1 and n in wanted)
    if repeated:
        problems.append(f"more than one verdict for image(s) {', '.join(map(str, repeated))}")
    invented = sorted(set(seen) - wanted)
    if invented:
        problems.append(f"image(s) {', '.join(map(str, invented))} are not on this sheet")
    unknown = sorted({v.category for v in answer.images} - set(categories))
    if unknown:
        problems.append(
            f"unknown categor{'y' if len(unknown) == 1 else 'ies'} {', '.join(unknown)}"
            f" (use {', '.join(categories)})"
        )
    return problems


class SetError(PermanentError):
    """A set that cannot be evaluated as it is; the reason goes on the set's document."""


def _load(services: Context[TrainsetSettings], set_id: str) -> tuple[Manifest, dict[str, int]]:
    """The set's manifest and the live generation of each image it names."""
    settings = services.settings
    bucket = settings.sets_bucket
    try:
        found = read_manifest(services.blobs, bucket, set_id)
    except PermanentError as exc:  # not a manifest: the set's problem, recorded like the rest
        raise SetError(f"set {set_id}: {exc}") from exc
    if found is None:
        raise SetError(f"set {set_id}: no manifest ({bucket}/{set_id}/manifest.json)")
    manifest, _generation = found
    if not manifest.images:
        raise SetError(f"set {set_id}: the manifest names no image")
    present = set_images(services.blobs, bucket, set_id)
    missing = [file for file in manifest.files() if file not in present]
    if missing:
        raise SetError(
            f"set {set_id}: the manifest names {len(missing)} image(s) not in the bucket: "
            + ", ".join(missing[:10])
            + (" ..." if len(missing) > 10 else "")
        )
    return manifest, {file: present[file].generation for file in manifest.files()}


def _sheets(
    services: Context[TrainsetSettings],
    manifest: Manifest,
    generations: Mapping[str, int],
) -> list[Composite]:
    settings = services.settings
    images = []
    for file in manifest.files():
        name = f"{manifest.set_id}/{file}"
        data = services.blobs.read(settings.sets_bucket, name, generation=generations[file])
        try:
            image = open_image(file, data, max_side=settings.set_grid.thumbnail)
        except PermanentError as exc:
            raise SetError(f"set {manifest.set_id}: {exc}") from exc
        images.append((file, image))
    return render(images, settings.set_grid)


def _ask(
    services: Context[TrainsetSettings],
    sheet: Composite,
    distribution: Distribution,
    labels: Mapping[str, str],
    set_id: str,
    deadline: float,
) -> tuple[SheetAnswer, list[ModelResult[SheetAnswer]]]:
    """A complete, valid answer for one sheet (re-asked with what was wrong), and the calls."""
    settings = services.settings
    client = model_client(services)
    numbers = sheet.layout.numbers
    categories = list(distribution.categories)
    data = {
        "categories": json.dumps(distribution.categories, ensure_ascii=False),
        "numbers": ", ".join(map(str, numbers)),
        "layout": sheet_layout(
            [{"number": c.number, "box": list(c.box)} for c in sheet.layout.cells],
            settings.set_grid.background,
        ),
        "feedback": "",
    }
    calls: list[ModelResult[SheetAnswer]] = []
    problems: list[str] = []
    for _attempt in range(settings.set_model_attempts):
        if problems:
            data["feedback"] = (
                "Your previous answer for this sheet was rejected: "
                + "; ".join(problems)
                + ". Answer again for every numbered image exactly once."
            )
        result = client.generate(
            EVALUATE_SHEET,
            model=settings.set_model,
            schema=SheetAnswer,
            data=data,
            media=[MediaPart(mime_type="image/jpeg", data=sheet.jpeg)],
            labels={**labels, "sheet": str(sheet.layout.index + 1)},
            max_output_tokens=settings.set_max_output_tokens,
            temperature=settings.set_temperature,
            deadline=deadline,
        )
        calls.append(result)
        problems = answer_problems(result.parsed, numbers, categories)
        if not problems:
            return result.parsed, calls
    raise SetError(
        f"set {set_id}: sheet {sheet.layout.index + 1}: no complete answer in "
        f"{settings.set_model_attempts} tries: {'; '.join(problems)}"
    )


def _report(
    set_id: str,
    run: str,
    verdicts: Sequence[Verdict],
    balance_: Balance,
    actions: ActionPlan,
    distribution: Distribution,
    analysis: list[str],
    calls: Sequence[ModelResult[SheetAnswer]],
    sheets: Sequence[str],
    key: str,
    requested_model: str,
) -> dict[str, Any]:
    """The evaluation file's body."""
    return {
        "set_id": set_id,
        "run": run,
        "evaluated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "key": key,
        "images": [
            {
                "number": v.number,
                "file": v.file,
                "category": v.category,
                "quality": v.quality,
                "reason": v.reason,
            }
            for v in sorted(verdicts, key=lambda v: v.number)
        ],
        "counts": balance_.counts,
        "total": balance_.total,
        "percentages": balance_.percentages,
        "deviations": balance_.deviations,
        "target": {c: float(distribution.target[c]) for c in distribution.categories},
        "target_counts": distribution.target_counts(),
        "tolerance": distribution.tolerance,
        "balanced": balance_.balanced,
        "plan": {
            "delete": [{"file": f, "reason": actions.reasons.get(f, "")} for f in actions.delete],
            "generate": actions.generate,
        },
        "analysis": "\n\n".join(a for a in analysis if a),
        "composites": list(sheets),
        "model": calls[-1].model if calls else None,  # as answered: offline-... for the offline
        "requested_model": requested_model,
        "provider": calls[-1].provider if calls else None,
        "calls": len(calls),
        "input_tokens": sum(c.input_tokens for c in calls),
        "output_tokens": sum(c.output_tokens for c in calls),
        "cost_usd": round(sum(c.cost_usd for c in calls), 8),
    }


def evaluate(
    services: Context[TrainsetSettings], request: SetEvaluation, *, delivery: str = ""
) -> tuple[Outcome, dict[str, Any] | None]:
    """Evaluate ``request.set_id``; what happened, and the evaluation written (if one was)."""
    settings = services.settings
    set_id = request.set_id
    path = set_path(set_id)
    try:
        manifest, generations = _load(services, set_id)
    except SetError as exc:
        _record_error(services, set_id, request.run, str(exc))
        raise
    key = evaluation_key(manifest, generations, settings)
    holder = delivery or uuid.uuid4().hex
    lease = Lease(services.documents, path, holder, seconds=LEASE_SECONDS)

    def decide(view: View) -> Take[str] | Keep[str]:
        data = view.data
        current = data.get("key") == key and data.get("status") == "evaluated"
        if request.execute:
            if data.get("executed_run") == request.run:
                return Keep("already_done")
            if current and not request.force and _plan_is_empty(data.get("plan")):
                return Keep("unchanged", {"run": request.run, "updated_at": SERVER_TIMESTAMP})
        elif current:
            if data.get("run") == request.run:
                return Keep("already_done")
            if not request.force:
                return Keep("unchanged", {"run": request.run, "updated_at": SERVER_TIMESTAMP})
        if view.held:
            raise BusyError(f"set {set_id} is being evaluated")
        reuse = "reuse" if current and not request.force else "claimed"
        return Take(reuse, {**data, "set_id": set_id, "status": "evaluating", "run": request.run})

    decision = lease.claim(decide)
    if decision not in ("claimed", "reuse"):
        return decision, None  # type: ignore[return-value]
    try:
        if decision == "reuse":
            # Executing the plan of an evaluation that is still current: no model call.
            evaluation = json.loads(
                services.blobs.read(settings.evaluations_bucket, evaluation_name(set_id))
            )
        else:
            evaluation = _evaluate_claimed(services, request, manifest, generations, key)
        executed = (
            execute_plan(
                services,
                set_id,
                manifest.subject or set_id,
                request.run,
                evaluation["plan"],
                generations,
            )
            if request.execute and not _plan_is_empty(evaluation["plan"])
            else None
        )
    except (PermanentError, ModelCallFailedError) as exc:
        # Bad input, a request the model refuses, or a model that stayed unavailable through
        # every retry of the model client: recorded and acknowledged, as the other model
        # jobs do; a later request (or a redelivery) evaluates the set again, since a failed
        # set is never "unchanged". A half-applied plan keeps its change documents: the
        # next execution resumes it, `sets rollback` undoes it.
        reason = str(exc) if isinstance(exc, SetError) else f"set {set_id}: {exc}"
        lease.finish({"status": "failed", "error": reason, "updated_at": SERVER_TIMESTAMP})
        raise SetError(reason) from exc
    except BaseException:
        # Anything else (a storage outage, a bug) is retried by the platform: free the set
        # at once rather than leaving it to the end of the lease.
        lease.release({"status": "pending", "updated_at": SERVER_TIMESTAMP})
        raise
    outcome: dict[str, Any] = {
        "status": "evaluated",
        "error": None,
        "key": key,
        "run": request.run,
        "balanced": evaluation["balanced"],
        "counts": evaluation["counts"],
        "total": evaluation["total"],
        "percentages": evaluation["percentages"],
        "plan": evaluation["plan"],
        "evaluation": evaluation_name(set_id),
        "composites": evaluation["composites"],
        "model": evaluation["model"],
        "requested_model": evaluation["requested_model"],
        "provider": evaluation["provider"],
        "calls": evaluation["calls"],
        "input_tokens": evaluation["input_tokens"],
        "output_tokens": evaluation["output_tokens"],
        "cost_usd": evaluation["cost_usd"] if decision == "claimed" else 0.0,
        "evaluated_at": evaluation["evaluated_at"],
        "updated_at": SERVER_TIMESTAMP,
    }
    if executed is not None:
        # The set changed: its next evaluation sees the generated images like any other.
        outcome["executed_run"] = request.run
        outcome["executed"] = summarise(executed)
        outcome["cost_usd"] = round(outcome["cost_usd"] + executed.cost_usd, 8)
        evaluation = {**evaluation, "executed": summarise(executed)}
    lease.finish(outcome)
    return ("executed" if executed is not None else "evaluated"), evaluation


def _plan_is_empty(plan: Any) -> bool:
    plan = plan or {}
    return not plan.get("delete") and not plan.get("generate")


def _evaluate_claimed(
    services: Context[TrainsetSettings],
    request: SetEvaluation,
    manifest: Manifest,
    generations: Mapping[str, int],
    key: str,
) -> dict[str, Any]:
    settings = services.settings
    set_id = manifest.set_id
    distribution = distribution_of(manifest, settings)
    started, cpu_started = time.monotonic(), time.thread_time()
    # The whole evaluation ends (failed, if the models are slow) before the function is killed
    # with the set still leased.
    deadline = started + settings.job_deadline_seconds
    sheets = _sheets(services, manifest, generations)
    grid_seconds = time.monotonic() - started
    grid_cpu_seconds = time.thread_time() - cpu_started
    labels = {"kind": "trainset", "set": set_id, "run": request.run}
    verdicts: list[Verdict] = []
    analysis: list[str] = []
    calls: list[ModelResult[SheetAnswer]] = []
    for sheet in sheets:
        answer, sheet_calls = _ask(services, sheet, distribution, labels, set_id, deadline)
        calls.extend(sheet_calls)
        analysis.append(answer.analysis)
        verdicts.extend(
            Verdict(
                number=v.number,
                file=sheet.files[v.number],
                category=v.category,
                quality=v.quality,
                reason=v.reason,
            )
            for v in answer.images
        )
    balance_, actions = plan(verdicts, distribution)
    names = [composite_name(set_id, sheet.layout.index) for sheet in sheets]
    bucket = settings.evaluations_bucket
    for name, sheet in zip(names, sheets, strict=True):
        services.blobs.write(bucket, name, sheet.jpeg, content_type="image/jpeg")
    _remove_stale_composites(services, set_id, len(sheets))
    evaluation = _report(
        set_id,
        request.run,
        verdicts,
        balance_,
        actions,
        distribution,
        analysis,
        calls,
        names,
        key,
        settings.set_model,
    )
    evaluation["grid_seconds"] = round(grid_seconds, 4)
    evaluation["grid_cpu_seconds"] = round(grid_cpu_seconds, 4)  # this thread's, not waits
    services.blobs.write(
        bucket,
        evaluation_name(set_id),
        (json.dumps(evaluation, indent=2, ensure_ascii=False) + "\n").encode(),
        content_type="application/json",
    )
    return evaluation


def _remove_stale_composites(services: Context[TrainsetSettings], set_id: str, sheets: int) -> None:
    """Delete the sheets an earlier evaluation of the set left beyond its ``sheets`` (a set
    that shrank), so the bucket never shows a sheet the evaluation does not list."""
    bucket = services.settings.evaluations_bucket
    own = re.compile(rf"{re.escape(set_id)}_composite_(\d+)\.jpg")
    for info in services.blobs.list(bucket, prefix=f"{set_id}_composite_"):
        found = own.fullmatch(info.name)
        if found is not None and int(found[1]) > sheets:
            # already gone, or written again since it was listed: leave it
            with contextlib.suppress(NotFoundError, PreconditionFailedError):
                services.blobs.delete(bucket, info.name, if_generation_match=info.generation)


def _record_error(services: Context[TrainsetSettings], set_id: str, run: str, reason: str) -> None:
    services.documents.set(
        set_path(set_id),
        {
            "set_id": set_id,
            "status": "failed",
            "error": reason,
            "run": run,
            "updated_at": SERVER_TIMESTAMP,
        },
        merge=True,
    )

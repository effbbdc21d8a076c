"""Apply an evaluation's plan to its set (``--execute``), and roll an operation back.

One operation is one execution of one set's plan, named by the evaluation run. Each change
is a document (``trainsets/<set id>/changes/<operation>-<nn>``), written before it is
applied and marked done after, so a redelivered or crashed execution resumes where it
stopped and never deletes or generates twice:

- a deletion is soft: the object is copied to ``trash/<set id>/<operation>/<file>`` in the
  evaluations bucket (outside the set, so it is no image of it) before it is deleted, under
  a precondition on the generation the evaluation saw (an image replaced since is left
  alone); in the cloud the versioned bucket keeps the old generation too;
- a generation draws the picture through the image client (rate limits, retries, the cost
  ledger) and writes it only if the name is free (``gen_<operation>_<nn>.<ext>``): an image
  written by a delivery that died before saying so is found, not drawn again.

The manifest then loses the deleted images and lists the generated ones with their
provenance (operation, model, prompt, category). A rollback restores what an operation
deleted (the exact bytes, content type and metadata) and removes what it generated, and is
itself resumable.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from shared.core.errors import NotFoundError, PermanentError, PreconditionFailedError
from shared.llm.images import image_client
from shared.platform.context import Context
from shared.ports import SERVER_TIMESTAMP
from shared.trainsets.manifest import ManifestImage, image_name, update_manifest
from shared.trainsets.settings import TrainsetSettings

log = logging.getLogger("vidcurate.trainsets")

SETS = "trainsets"
EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp"}

Kind = Literal["delete", "generate"]


def changes_collection(set_id: str) -> str:
    return f"{SETS}/{set_id}/changes"


def trash_name(set_id: str, operation: str, file: str) -> str:
    return f"trash/{set_id}/{operation}/{file}"


@dataclass(frozen=True)
class Executed:
    """What an execution (or a rollback) changed."""

    operation: str
    deleted: list[str]
    generated: list[str]
    skipped: dict[str, str]  # file -> why it was left alone
    cost_usd: float


def _prompt(settings: TrainsetSettings, set_id: str, subject: str, category: str, n: int) -> str:
    """The ``n``-th prompt of ``category`` for this set (the same for every delivery)."""
    prompts = settings.set_generation_prompts.get(category) or []
    if not prompts:
        description = settings.set_distribution.categories.get(category, category)
        return f"{description}: {subject}"
    start = int(hashlib.sha256(set_id.encode()).hexdigest(), 16) % len(prompts)
    return prompts[(start + n) % len(prompts)].replace("{subject}", subject)


def planned_changes(
    settings: TrainsetSettings,
    set_id: str,
    subject: str,
    operation: str,
    plan: Mapping[str, Any],
    generations: Mapping[str, int],
) -> list[dict[str, Any]]:
    """The changes of ``plan`` (an evaluation's), in order: deletions, then generations."""
    changes: list[dict[str, Any]] = []
    for entry in plan.get("delete") or []:
        file = entry["file"]
        changes.append(
            {
                "kind": "delete",
                "file": file,
                "generation": generations.get(file),
                "reason": entry.get("reason", ""),
            }
        )
    made = 0
    for category, count in (plan.get("generate") or {}).items():
        for _ in range(int(count)):
            changes.append(
                {
                    "kind": "generate",
                    "category": category,
                    "prompt": _prompt(settings, set_id, subject, category, made),
                    "stem": f"gen_{operation}_{made + 1:02d}",
                }
            )
            made += 1
    for index, change in enumerate(changes):
        change.update(
            {
                "id": f"{operation}-{index:03d}",
                "operation": operation,
                "set_id": set_id,
                "status": "planned",
            }
        )
    return changes


def execute_plan(
    services: Context[TrainsetSettings],
    set_id: str,
    subject: str,
    operation: str,
    plan: Mapping[str, Any],
    generations: Mapping[str, int],
) -> Executed:
    """Apply ``plan`` to the set (see the module docstring); what changed."""
    settings = services.settings
    collection = changes_collection(set_id)
    wanted = planned_changes(settings, set_id, subject, operation, plan, generations)
    existing = services.documents.get_many([f"{collection}/{c['id']}" for c in wanted])
    with services.documents.batch() as batch:
        for change in wanted:
            path = f"{collection}/{change['id']}"
            if path not in existing:
                batch.set(path, {**change, "created_at": SERVER_TIMESTAMP})
    changes = [
        dict(existing[path].data) if path in existing else change
        for change in wanted
        for path in [f"{collection}/{change['id']}"]
    ]
    deleted: list[str] = []
    generated: list[dict[str, Any]] = []
    skipped: dict[str, str] = {}
    cost = 0.0
    for change in changes:
        path = f"{collection}/{change['id']}"
        if change.get("status") in ("done", "skipped"):  # applied by an earlier delivery
            if change["kind"] == "generate":
                generated.append(_record(change, change["file"], change["model"]))
            elif change["status"] == "done":
                deleted.append(change["file"])
            else:
                skipped[change["file"]] = str(change.get("note"))
            continue
        if change["kind"] == "delete":
            outcome = _delete(services, set_id, operation, change)
            if outcome is None:
                deleted.append(change["file"])
                log.info(
                    "set %s: deleted %s (%s), kept in the trash",
                    set_id,
                    change["file"],
                    change.get("reason") or "planned",
                    extra=_labels(set_id, operation),
                )
            else:
                skipped[change["file"]] = outcome
                log.warning(
                    "set %s: left %s alone: %s",
                    set_id,
                    change["file"],
                    outcome,
                    extra=_labels(set_id, operation),
                )
            services.documents.update(
                path, {"status": "done" if outcome is None else "skipped", "note": outcome}
            )
        else:
            done, spent = _generate(services, set_id, operation, change)
            log.info(
                "set %s: generated %s (%s, %s)",
                set_id,
                done["file"],
                done["category"],
                done["model"],
                extra=_labels(set_id, operation),
            )
            generated.append(done)
            cost += spent
            services.documents.update(path, {"status": "done", **done, "cost_usd": spent})

    def apply(manifest: Any) -> Any:
        manifest = manifest.without(set(deleted))
        for done in generated:
            manifest = manifest.with_image(
                ManifestImage(
                    file=done["file"],
                    category=done["category"],
                    source="generated",
                    operation=operation,
                    model=done["model"],
                    prompt=done["prompt"],
                )
            )
        return manifest

    update_manifest(services.blobs, settings.sets_bucket, set_id, apply)
    return Executed(operation, deleted, [g["file"] for g in generated], skipped, round(cost, 8))


def _labels(set_id: str, operation: str) -> dict[str, dict[str, str]]:
    return {"labels": {"set": set_id, "operation": operation}}


def _delete(
    services: Context[TrainsetSettings], set_id: str, operation: str, change: Mapping[str, Any]
) -> str | None:
    """Soft-delete one image; None when it is (or already was) deleted, else why not."""
    settings = services.settings
    name = image_name(set_id, change["file"])
    trash = trash_name(set_id, operation, change["file"])
    expected = change.get("generation")
    try:
        info = services.blobs.stat(settings.sets_bucket, name)
    except NotFoundError:
        if services.blobs.exists(settings.evaluations_bucket, trash):
            return None  # moved by an earlier delivery
        return "gone before it could be deleted"
    if expected is not None and info.generation != expected:
        return "replaced since the evaluation"
    data = services.blobs.read(settings.sets_bucket, name, generation=info.generation)
    services.blobs.write(
        settings.evaluations_bucket,
        trash,
        data,
        content_type=info.content_type,
        metadata={**info.metadata, "vidcurate-generation": str(info.generation)},
    )
    try:
        services.blobs.delete(settings.sets_bucket, name, if_generation_match=info.generation)
    except (NotFoundError, PreconditionFailedError):
        return "changed while it was being deleted"
    return None


def _generate(
    services: Context[TrainsetSettings], set_id: str, operation: str, change: Mapping[str, Any]
) -> tuple[dict[str, Any], float]:
    """Draw and store one image (unless an earlier delivery did); its record and cost."""
    settings = services.settings
    for extension in EXTENSIONS.values():
        file = f"{change['stem']}{extension}"
        if services.blobs.exists(settings.sets_bucket, image_name(set_id, file)):
            return _record(change, file, change.get("model") or settings.set_image_model), 0.0
    result = image_client(services).generate(
        change["prompt"],
        model=settings.set_image_model,
        category=change["category"],
        size=settings.set_image_size,
        labels={"kind": "trainset-generation", "set": set_id, "run": operation},
        prompt_name="trainset_generation",
    )
    file = f"{change['stem']}{EXTENSIONS.get(result.mime_type, '.png')}"
    # Written meanwhile by a twin delivery: one image all the same.
    with contextlib.suppress(PreconditionFailedError):
        services.blobs.write(
            settings.sets_bucket,
            image_name(set_id, file),
            result.data,
            content_type=result.mime_type,
            metadata={"vidcurate-operation": operation, "vidcurate-category": change["category"]},
            if_generation_match=0,
        )
    return _record(change, file, result.model), result.cost_usd


def _record(change: Mapping[str, Any], file: str, model: str) -> dict[str, Any]:
    return {
        "file": file,
        "category": change["category"],
        "prompt": change["prompt"],
        "model": model,
    }


def operations(services: Context[TrainsetSettings], set_id: str) -> list[str]:
    """The set's operations, oldest first (operation ids start with their run's time)."""
    found = {
        str(document.data.get("operation"))
        for document in services.documents.iter_collection(
            changes_collection(set_id), fields=["operation"]
        )
    }
    return sorted(found)


def rollback(
    services: Context[TrainsetSettings], set_id: str, operation: str | None = None
) -> Executed:
    """Undo ``operation`` (the set's latest by default): restore what it deleted, remove
    what it generated; what was undone."""
    settings = services.settings
    known = operations(services, set_id)
    if not known:
        raise PermanentError(f"set {set_id}: no operation to roll back")
    chosen = operation or known[-1]
    if chosen not in known:
        raise PermanentError(f"set {set_id}: no operation {chosen!r} (known: {', '.join(known)})")
    changes = services.documents.query(changes_collection(set_id), [("operation", "==", chosen)])
    restored: list[str] = []
    removed: list[str] = []
    skipped: dict[str, str] = {}
    restored_entries: list[ManifestImage] = []
    for document in sorted(changes, key=lambda d: d.id, reverse=True):
        change = document.data
        if change.get("status") == "rolled_back":
            (restored if change["kind"] == "delete" else removed).append(change["file"])
            continue
        if change.get("status") != "done":
            continue
        name = image_name(set_id, change["file"])
        if change["kind"] == "delete":
            trash = trash_name(set_id, chosen, change["file"])
            try:
                info = services.blobs.stat(settings.evaluations_bucket, trash)
                data = services.blobs.read(settings.evaluations_bucket, trash)
            except NotFoundError:
                skipped[change["file"]] = "its copy in the trash is gone"
                continue
            metadata = {k: v for k, v in info.metadata.items() if k != "vidcurate-generation"}
            try:
                services.blobs.write(
                    settings.sets_bucket,
                    name,
                    data,
                    content_type=info.content_type,
                    metadata=metadata,
                    if_generation_match=0,
                )
            except PreconditionFailedError:
                skipped[change["file"]] = "an image of that name is back in the set"
                continue
            restored.append(change["file"])
            restored_entries.append(ManifestImage(file=change["file"]))
        else:
            with contextlib.suppress(NotFoundError):
                services.blobs.delete(settings.sets_bucket, name)
            removed.append(change["file"])
        services.documents.update(document.path, {"status": "rolled_back"})
        log.info(
            "set %s: rolled back %s of %s (%s)",
            set_id,
            change["kind"],
            change["file"],
            chosen,
            extra=_labels(set_id, chosen),
        )

    def apply(manifest: Any) -> Any:
        manifest = manifest.without(set(removed))
        for entry in restored_entries:
            manifest = manifest.with_image(entry)
        return manifest

    update_manifest(services.blobs, settings.sets_bucket, set_id, apply)
    # The set is what it was before the operation: its evaluation no longer describes it.
    services.documents.set(
        f"{SETS}/{set_id}",
        {"status": "rolled back", "rolled_back": chosen, "updated_at": SERVER_TIMESTAMP},
        merge=True,
    )
    return Executed(chosen, restored, removed, skipped, 0.0)


def summarise(executed: Executed) -> dict[str, Any]:
    return {
        "operation": executed.operation,
        "deleted": executed.deleted,
        "generated": executed.generated,
        "skipped": executed.skipped,
        "cost_usd": executed.cost_usd,
    }

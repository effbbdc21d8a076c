"""What the ``vidcurate sets`` commands do: add a folder as a set, find the sets, estimate and
request their evaluation, and report their state.

Estimates are made before any call: a set whose evaluation key is that of its last evaluation
costs nothing (it is not evaluated again), every other one costs its sheets at the model's
list price, with the tokens a sheet of that size takes.
"""

from __future__ import annotations

import math
import os
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from shared.core.dropfiles import RefusedFileError, open_regular
from shared.core.errors import PermanentError
from shared.llm.client import model_client
from shared.llm.ledger import cost_usd
from shared.platform.context import Context
from shared.trainsets.evaluate import evaluation_key, set_path
from shared.trainsets.grid import layout
from shared.trainsets.manifest import (
    MANIFEST_NAME,
    ManifestImage,
    image_name,
    is_image,
    read_manifest,
    set_images,
    update_manifest,
)
from shared.trainsets.messages import SET_EVALUATIONS, SET_ID_PATTERN, SetEvaluation
from shared.trainsets.settings import TrainsetSettings

PROMPT_TOKENS = 350
"""The instructions and the categories, about."""
OUTPUT_TOKENS_PER_IMAGE = 45
PATCH_MULTIPLIERS = {
    "gpt-4.1-mini": 1.62,
    "gpt-4.1-nano": 2.46,
    "o4-mini": 1.72,
    "gpt-5-mini": 1.62,
    "gpt-5-nano": 2.46,
}
"""Models that count images in 32-pixel patches, and their multipliers (OpenAI's rule)."""


def image_tokens(model: str, width: int, height: int) -> int:
    """Input tokens one image of ``width`` x ``height`` costs with ``model``, by the
    providers' published rules: OpenAI's patch models count 32-px patches (at most 1,536)
    times a multiplier; its tile models (gpt-4o, gpt-4.1) 85 + 170 per 512-px tile once the
    image fits 2048 px and its shorter side 768; Gemini 258 per 768-px tile (258 for an
    image within 384 px)."""
    if model.startswith("gemini"):
        if width <= 384 and height <= 384:
            return 258
        return math.ceil(width / 768) * math.ceil(height / 768) * 258
    multiplier = next((m for name, m in PATCH_MULTIPLIERS.items() if model.startswith(name)), None)
    if multiplier is not None:
        patches = min(1536, math.ceil(width / 32) * math.ceil(height / 32))
        return math.ceil(patches * multiplier)
    fit = min(1.0, 2048 / max(width, height))
    wide, high = width * fit, height * fit
    shorter = min(1.0, 768 / min(wide, high))
    tiles = math.ceil(wide * shorter / 512) * math.ceil(high * shorter / 512)
    return 85 + 170 * tiles


CONTENT_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
MAX_IMAGE_BYTES = 50 * 1024 * 1024
"""Largest image file ``sets add`` uploads."""


@dataclass(frozen=True)
class AddedSet:
    set_id: str
    uploaded: list[str]
    skipped: dict[str, str]  # file -> why it was not uploaded


def check_set_id(set_id: str) -> str:
    if not SET_ID_PATTERN.match(set_id):
        raise PermanentError(
            f"{set_id!r} is not a set id: 1 to 128 letters, digits, '.', '_' or '-', starting "
            "with a letter or digit"
        )
    return set_id


def add_folder(services: Context[TrainsetSettings], folder: Path, set_id: str) -> AddedSet:
    """Upload the images directly in ``folder`` as the set ``set_id`` and list them in its
    manifest (images it already lists keep their entries)."""
    check_set_id(set_id)
    bucket = services.settings.sets_bucket
    uploaded: list[str] = []
    skipped: dict[str, str] = {}
    for name in sorted(entry.name for entry in os.scandir(folder)):
        if name.startswith(".") or (folder / name).is_dir():
            continue
        if not is_image(name):
            skipped[name] = "not an image (.jpg, .jpeg, .png or .webp)"
            continue
        try:
            with open_regular(folder, name) as handle:
                data = handle.read(MAX_IMAGE_BYTES + 1)
        except RefusedFileError as exc:
            skipped[name] = str(exc)
            continue
        if len(data) > MAX_IMAGE_BYTES:
            skipped[name] = f"larger than {MAX_IMAGE_BYTES // (1024 * 1024)} MiB"
            continue
        services.blobs.write(
            bucket,
            image_name(set_id, name),
            data,
            content_type=CONTENT_TYPES[Path(name).suffix.lower()],
        )
        uploaded.append(name)

    def add(manifest: Any) -> Any:
        known = set(manifest.files())
        for file in uploaded:
            if file not in known:
                manifest = manifest.with_image(ManifestImage(file=file))
        return manifest

    update_manifest(services.blobs, bucket, set_id, add)
    return AddedSet(set_id, uploaded, skipped)


def set_ids(services: Context[TrainsetSettings]) -> list[str]:
    """Every set that has a manifest, by id."""
    suffix = f"/{MANIFEST_NAME}"
    return sorted(
        info.name.removesuffix(suffix)
        for info in services.blobs.list(services.settings.sets_bucket)
        if info.name.endswith(suffix) and info.name.count("/") == 1
    )


@dataclass
class Estimate:
    """What an evaluation request would cost before anything is called."""

    to_evaluate: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)  # set -> why (evaluated: fails)
    sheets: int = 0
    images: int = 0
    cost_usd: float = 0.0
    offline: bool = False  # no key for the model: answered offline, at no cost


def estimate(
    services: Context[TrainsetSettings], ids: Iterable[str], *, force: bool = False
) -> Estimate:
    """Which sets would be evaluated (changed since their last evaluation, or forced) and
    what their sheets would cost at the model's price."""
    settings = services.settings
    grid = settings.set_grid
    found = Estimate(offline=model_client(services).is_offline(settings.set_model))
    states = services.documents.get_many([set_path(set_id) for set_id in ids])
    for set_id in ids:
        try:
            manifest_found = read_manifest(services.blobs, settings.sets_bucket, set_id)
        except PermanentError as exc:
            found.unreadable[set_id] = str(exc)
            continue
        if manifest_found is None:
            found.unreadable[set_id] = f"set {set_id}: no manifest"
            continue
        manifest, _generation = manifest_found
        present = set_images(services.blobs, settings.sets_bucket, set_id)
        generations = {f: present[f].generation for f in manifest.files() if f in present}
        if len(generations) == len(manifest.images) and manifest.images:
            state = states.get(set_path(set_id))
            key = evaluation_key(manifest, generations, settings)
            if (
                not force
                and state is not None
                and state.data.get("key") == key
                and state.data.get("status") == "evaluated"
            ):
                found.unchanged.append(set_id)
                continue
        count = len(manifest.images)
        sheets = layout(count, grid)
        found.to_evaluate.append(set_id)
        found.sheets += len(sheets)
        found.images += count
        if found.offline:
            continue
        found.cost_usd += cost_usd(
            settings,
            settings.set_model,
            sum(
                PROMPT_TOKENS + image_tokens(settings.set_model, s.width, s.height) for s in sheets
            ),
            count * OUTPUT_TOKENS_PER_IMAGE + 100 * len(sheets),
        )
    found.cost_usd = round(found.cost_usd, 6)
    return found


def new_run() -> str:
    """An evaluation run's id: when it started, and a few random letters."""
    return f"{datetime.now(UTC):%Y%m%d_%H%M%S}_{uuid.uuid4().hex[:6]}"


def request_evaluations(
    services: Context[TrainsetSettings],
    ids: Sequence[str],
    run: str,
    *,
    execute: bool = False,
    force: bool = False,
) -> int:
    """One ``set-evaluations`` message per set; how many were published."""
    SET_EVALUATIONS.publish_all(
        services.bus,
        [
            SET_EVALUATIONS.message(
                SetEvaluation(set_id=set_id, run=run, execute=execute, force=force)
            )
            for set_id in ids
        ],
    )
    return len(ids)


def set_states(
    services: Context[TrainsetSettings], ids: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """Each set's last outcome: status, balance, counts, pending plan, cost, error."""
    wanted = list(ids) if ids is not None else set_ids(services)
    documents = services.documents.get_many([set_path(set_id) for set_id in wanted])
    rows = []
    for set_id in wanted:
        document = documents.get(set_path(set_id))
        data = dict(document.data) if document is not None else {}
        applied = data.get("executed_run") is not None and data.get("executed_run") == data.get(
            "run"
        )
        plan = {} if applied else (data.get("plan") or {})
        if data.get("status") == "rolled back":  # the last evaluation no longer applies
            gone = ("balanced", "total", "counts", "executed")
            data = {k: v for k, v in data.items() if k not in gone}
            plan = {}
        rows.append(
            {
                "set_id": set_id,
                "status": data.get("status", "never evaluated"),
                "balanced": data.get("balanced"),
                "images": data.get("total"),
                "counts": data.get("counts") or {},
                "delete": len(plan.get("delete") or []),
                "generate": sum((plan.get("generate") or {}).values()),
                "cost_usd": data.get("cost_usd", 0.0),
                "evaluated_at": data.get("evaluated_at"),
                "run": data.get("run"),
                "error": data.get("error"),
                "executed": data.get("executed"),
                "rolled_back": data.get("rolled_back")
                if data.get("status") == "rolled back"
                else None,
            }
        )
    return rows

"""What a reader sees of the active-learning rounds (read-only): the rounds' documents as
rows, and one round's report assembled from its document and its ``metrics.json`` (see
:mod:`shared.learning.roundstore` for what a round writes), with its plots and the head of
the queue it made.

Bounded reads only: the list is one query (round numbers are 0..99, so at most 100
documents); a round's report is its document, its ``metrics.json`` and one listing of its
``plots/`` folder; ``scores.jsonl``, ``splits.json`` and ``queue.json`` (any number of
frames) are never read here: ``metrics.json`` keeps the queue's head.

Besides what a round stores, a report adds the model's Cohen's kappa against the agreed
classes on each set, computed from the set's confusion matrix (observed agreement: the
diagonal's share; chance agreement: the sum over the classes of the true share times the
predicted share).
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from shared.core.errors import NotFoundError
from shared.learning.agreement import Kappa, confusion_kappa
from shared.learning.rounds import Guidance, TaskMetrics
from shared.learning.roundstore import ROUNDS, read_json, round_path
from shared.learning.settings import LabelSettings
from shared.platform.context import Context

__all__ = [
    "PLOT_KINDS",
    "PLOT_NAME",
    "QUEUE_HEAD",
    "ROUNDS_LISTED",
    "SETS",
    "QueueFrame",
    "RoundPlot",
    "RoundReport",
    "RoundRow",
    "SetMetrics",
    "TaskRound",
    "queue_frame",
    "round_plot",
    "round_report",
    "round_rows",
]

ROUNDS_LISTED = 100  # round numbers are 0..99 (RoundConfig): every round fits in one query
QUEUE_HEAD = 10  # how much of its queue a round keeps in metrics.json
SETS = ("train", "validation", "test")
PLOT_KINDS = ("curves", "confusion")
PLOT_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}_(curves|confusion)$")
UNUSABLE_SHOWN = 20


class RoundRow(BaseModel):
    """A round as its document says (``vidcurate learn status``)."""

    model_config = ConfigDict(frozen=True)

    round: int
    status: str = Field(description="running, done or failed.")
    started_at: datetime | None = None
    finished_at: datetime | None = None
    seconds: float | None = Field(None, description="From start to finish (None: unfinished).")
    device: str | None = Field(None, description="Where it ran: cpu or cuda.")
    error: str | None = None
    test: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Task -> test_accuracy and test_macro_f1 (finished rounds).",
    )
    guidance: list[str] = Field(default_factory=list)
    queue_size: int | None = None


class SetMetrics(TaskMetrics):
    """A task's metrics on one set, with the model's Cohen's kappa against the agreed
    classes (from the confusion matrix)."""

    kappa: Kappa


class RoundPlot(BaseModel):
    """A PNG of the round's ``plots/`` folder."""

    name: str = Field(description="<task>_curves or <task>_confusion.")
    task: str
    kind: str = Field(description="curves or confusion.")
    alt: str = Field(description="What the picture shows, in words.")


class TaskRound(BaseModel):
    """One task's model in a round."""

    task: str
    classes: list[str] = Field(description="The confusion matrices' order.")
    classes_known: bool = Field(
        description="Whether that order is the schema's (False: the schema changed since; "
        "the classes are then in name order, which may not be the matrices')."
    )
    sets: dict[str, SetMetrics] = Field(description="train, validation, test.")
    history: list[dict[str, float]] = Field(description="One entry per epoch.")
    best_epoch: int | None = Field(None, description="The epoch of lowest validation loss.")
    started_from: str | None = None
    train_validation_gap_points: float | None = None
    annotators: dict[str, Kappa] = Field(
        default_factory=dict, description="'a|b' -> the two annotators' Cohen's kappa."
    )
    plots: list[RoundPlot] = Field(default_factory=list)


class RoundReport(BaseModel):
    """Everything a round recorded, for a page."""

    row: RoundRow
    location: str = Field(description="gs://BUCKET/rounds/round_NN/")
    has_metrics: bool = Field(description="Whether metrics.json is there.")
    config: dict[str, Any] = Field(default_factory=dict)
    examples: int | None = None
    left_out: int | None = None
    unusable_frames: dict[str, str] = Field(
        default_factory=dict, description=f"The first {UNUSABLE_SHOWN}: frame -> why."
    )
    unusable_count: int = 0
    scored_frames: int | None = None
    queue_head: list[str] = Field(default_factory=list)
    guidance: Guidance | None = None
    tasks: list[TaskRound] = Field(default_factory=list)


class QueueFrame(BaseModel):
    """A frame of a round's queue head, from the frames bucket."""

    frame_id: str
    data: bytes
    content_type: str


def _time(value: Any) -> datetime | None:
    return value if isinstance(value, datetime) else None


def _row(data: Mapping[str, Any]) -> RoundRow:
    started, finished = _time(data.get("started_at")), _time(data.get("finished_at"))
    seconds = (
        round((finished - started).total_seconds(), 1)
        if started is not None and finished is not None and finished >= started
        else None
    )
    test: dict[str, dict[str, float]] = {}
    for task, values in (data.get("summary") or {}).items():
        if isinstance(values, Mapping):
            test[str(task)] = {
                str(k): float(v) for k, v in values.items() if isinstance(v, int | float)
            }
    guidance = data.get("guidance")
    queue_size = data.get("queue_size")
    error = data.get("error")
    device = data.get("device")
    return RoundRow(
        round=int(data["round"]),
        status=str(data.get("status") or "unknown"),
        started_at=started,
        finished_at=finished,
        seconds=seconds,
        device=str(device) if device else None,
        error=str(error) if error else None,
        test=test,
        guidance=[str(g) for g in guidance] if isinstance(guidance, list) else [],
        queue_size=queue_size if isinstance(queue_size, int) else None,
    )


def round_rows(services: Context[LabelSettings], limit: int = ROUNDS_LISTED) -> list[RoundRow]:
    """The rounds' documents, the latest round first (one query of at most ``limit``)."""
    docs = services.documents.query(ROUNDS, order_by=[("round", "desc")], limit=limit)
    return [_row(doc.data) for doc in docs if isinstance(doc.data.get("round"), int)]


def _ordered(names: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """``names`` in ``preferred``'s order, the others after in name order."""
    known = [name for name in preferred if name in names]
    return known + sorted(name for name in names if name not in preferred)


def _metrics(services: Context[LabelSettings], number: int) -> Mapping[str, Any] | None:
    try:
        report = read_json(services, round_path(number, "metrics.json"))
    except ValueError:  # not JSON (orjson's error is a ValueError): shown as missing
        return None
    return report if isinstance(report, Mapping) else None


def _curves_alt(task: str, number: int, history: Sequence[Mapping[str, float]]) -> str:
    if not history:
        return f"Training curves of {task} in round {number}: no epoch recorded."
    best = min(history, key=lambda h: h.get("validation_loss", float("inf")))
    last = history[-1]
    return (
        f"Training curves of {task} in round {number}: training and validation loss and "
        f"accuracy over {len(history)} epochs; the lowest validation loss "
        f"{best.get('validation_loss', 0):.3f} at epoch {int(best.get('epoch', 0))}, last "
        f"validation accuracy {last.get('validation_accuracy', 0):.1%}."
    )


def _confusion_alt(task: str, number: int, classes: Sequence[str], metrics: TaskMetrics) -> str:
    right = sum(metrics.confusion[i][i] for i in range(len(metrics.confusion)))
    return (
        f"Test confusion matrix of {task} in round {number} (rows: true class, columns: "
        f"predicted; {', '.join(classes)}): {right} of {metrics.frames} test frames on the "
        "diagonal. The same counts are in the table below it."
    )


def _task_round(
    number: int,
    task: str,
    report: Mapping[str, Any],
    schema_classes: Sequence[str],
    plots: set[str],
) -> TaskRound:
    raw_sets = {
        name: TaskMetrics.model_validate(raw)
        for name in SETS
        if (raw := (report.get("sets") or {}).get(name, {}).get(task)) is not None
    }
    found = next((list(m.per_class) for m in raw_sets.values()), [])
    known = bool(found) and set(found) == set(schema_classes)
    classes = [c for c in schema_classes if c in found] if known else sorted(found)
    sets = {
        name: SetMetrics(
            **{
                **metrics.model_dump(),
                "per_class": {c: metrics.per_class[c] for c in classes if c in metrics.per_class},
            },
            kappa=confusion_kappa(metrics.confusion),
        )
        for name, metrics in raw_sets.items()
    }
    history = [
        {str(k): float(v) for k, v in h.items() if isinstance(v, int | float)}
        for h in (report.get("history") or {}).get(task, [])
        if isinstance(h, Mapping)
    ]
    best = min(history, key=lambda h: h.get("validation_loss", float("inf"))) if history else None
    gaps = (report.get("guidance") or {}).get("train_validation_gap_points") or {}
    pairs = (report.get("kappa") or {}).get(task) or {}
    shown: list[RoundPlot] = []
    if f"{task}_curves" in plots:
        shown.append(
            RoundPlot(
                name=f"{task}_curves",
                task=task,
                kind="curves",
                alt=_curves_alt(task, number, history),
            )
        )
    if f"{task}_confusion" in plots and "test" in sets:
        shown.append(
            RoundPlot(
                name=f"{task}_confusion",
                task=task,
                kind="confusion",
                alt=_confusion_alt(task, number, classes, sets["test"]),
            )
        )
    return TaskRound(
        task=task,
        classes=classes,
        classes_known=known,
        sets=sets,
        history=history,
        best_epoch=int(best["epoch"]) if best and "epoch" in best else None,
        started_from=(report.get("started_from") or {}).get(task),
        train_validation_gap_points=gaps.get(task),
        annotators={str(pair): Kappa.model_validate(k) for pair, k in pairs.items()},
        plots=shown,
    )


def _plots(services: Context[LabelSettings], number: int) -> set[str]:
    folder = round_path(number, "plots/")
    names = set()
    for info in services.blobs.list(services.settings.models_bucket, folder):
        stem = info.name.removeprefix(folder).removesuffix(".png")
        if info.name.endswith(".png") and PLOT_NAME.fullmatch(stem):
            names.add(stem)
    return names


def round_report(services: Context[LabelSettings], number: int) -> RoundReport | None:
    """Round ``number``'s report, or None when it has no document (never ran)."""
    doc = services.documents.get(f"{ROUNDS}/round_{number:02d}")
    if doc is None or not isinstance(doc.data.get("round"), int):
        return None
    row = _row(doc.data)
    location = f"gs://{services.settings.models_bucket}/{round_path(number)}"
    report = _metrics(services, number)
    if report is None:
        return RoundReport(row=row, location=location, has_metrics=False)
    schema = services.settings.label_schema.tasks
    tasks = {t for by_task in (report.get("sets") or {}).values() for t in by_task}
    plots = _plots(services, number)
    unusable = report.get("unusable_frames") or {}
    try:
        guidance = Guidance.model_validate(report["guidance"]) if "guidance" in report else None
        rounds = [
            _task_round(number, task, report, schema.get(task, ()), plots)
            for task in _ordered(sorted(tasks), list(schema))
        ]
    except (ValidationError, KeyError, TypeError, ValueError):
        return RoundReport(row=row, location=location, has_metrics=False)
    return RoundReport(
        row=row,
        location=location,
        has_metrics=True,
        config=dict(report.get("config") or {}),
        examples=report.get("examples"),
        left_out=report.get("left_out"),
        unusable_frames={str(k): str(v) for k, v in list(unusable.items())[:UNUSABLE_SHOWN]},
        unusable_count=len(unusable),
        scored_frames=report.get("scored_frames"),
        queue_head=[str(f) for f in (report.get("queue_head") or [])][:QUEUE_HEAD],
        guidance=guidance,
        tasks=rounds,
    )


def round_plot(services: Context[LabelSettings], number: int, name: str) -> bytes | None:
    """The PNG ``plots/<name>.png`` of round ``number`` (None: not there, or not a plot's
    name)."""
    if not PLOT_NAME.fullmatch(name):
        return None
    try:
        return services.blobs.read(
            services.settings.models_bucket, round_path(number, f"plots/{name}.png")
        )
    except NotFoundError:
        return None


def queue_frame(services: Context[LabelSettings], number: int, position: int) -> QueueFrame | None:
    """The frame at ``position`` of round ``number``'s queue head, from the frames bucket
    (None: no such position, or the frame is gone)."""
    report = _metrics(services, number)
    head = report.get("queue_head") if report is not None else None
    if not isinstance(head, list) or not 0 <= position < min(len(head), QUEUE_HEAD):
        return None
    frame_id = str(head[position])
    bucket = services.settings.frames_bucket
    try:
        data = services.blobs.read(bucket, frame_id)
    except NotFoundError:
        return None
    guessed, _ = mimetypes.guess_type(frame_id)
    content_type = guessed if guessed and guessed.startswith("image/") else "image/jpeg"
    return QueueFrame(frame_id=frame_id, data=data, content_type=content_type)

"""Active-learning rounds, the parts that need no model (pure): what a round trains on, how
its frames are split, how a model is judged, which frames it asks about next, and whether
another round is worth it.

- **Consensus.** A frame is a training example when its annotators agree: for each task the
  class most of its usable labels give (a tie leaves the frame out, and says so), and not
  when most of its labels call it unusable.
- **Splits.** Stratified on the joint class (one stratum per combination of the tasks'
  classes), each stratum shuffled by a seeded generator of its own, so the same examples and
  seed give the same split whatever order they come in. Round 0 draws the test set (20 %)
  once; later rounds keep it and never put its frames anywhere else. The rest is split into
  training and validation the same way, every round.
- **Metrics.** Accuracy, macro F1, per-class precision, recall, F1 and support, and the
  confusion matrix (rows: the true class, columns: the predicted one, in the schema's order),
  as scikit-learn computes them (a class never predicted has precision 0).
- **Uncertainty.** A frame's score is the sum over the tasks of the entropy (natural log) of
  the model's class probabilities; the K highest, ties by frame id, form the next queue.
- **Guidance.** Diminishing returns when the mean macro F1 over the tasks improves by less
  than 1 point over the previous round's; overfitting when a task's training accuracy
  exceeds its validation accuracy by more than 15 points. Points are percentages, compared
  after rounding to 6 decimals (0.83 - 0.82 is 1 point, not 0.99999).
"""

from __future__ import annotations

import argparse
import math
import random
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.core.errors import PermanentError
from shared.learning.schema import Label, LabelSchema

__all__ = [
    "DIMINISHING_POINTS",
    "OVERFIT_POINTS",
    "ClassMetrics",
    "Consensus",
    "Guidance",
    "NotEnoughLabelsError",
    "RoundConfig",
    "TaskMetrics",
    "check_enough",
    "classification_metrics",
    "consensus",
    "entropy",
    "joint_class",
    "rank_uncertain",
    "split_examples",
    "stopping_guidance",
    "stratified_split",
]

DIMINISHING_POINTS = 1.0
OVERFIT_POINTS = 15.0

Example = Mapping[str, str]  # task -> class


class NotEnoughLabelsError(PermanentError):
    """Too few agreed examples of some class to split and train (the message counts them)."""


class Consensus(BaseModel):
    """The agreed examples, and the frames left out with why."""

    model_config = ConfigDict(frozen=True)

    examples: dict[str, dict[str, str]] = Field(description="Frame -> task -> agreed class.")
    left_out: dict[str, str] = Field(description="Frame -> why it is not an example.")


def consensus(schema: LabelSchema, labels: Mapping[str, Mapping[str, Label]]) -> Consensus:
    """The examples the annotators agree on (``labels``: annotator -> frame -> label)."""
    by_frame: dict[str, list[Label]] = defaultdict(list)
    for answers in labels.values():
        for frame_id, label in answers.items():
            by_frame[frame_id].append(label)
    examples: dict[str, dict[str, str]] = {}
    left_out: dict[str, str] = {}
    for frame_id in sorted(by_frame):
        given = by_frame[frame_id]
        usable = [label for label in given if not label.unusable]
        if len(usable) * 2 <= len(given) and len(usable) < len(given):
            left_out[frame_id] = "unusable"
            continue
        agreed: dict[str, str] = {}
        for task in schema.tasks:
            votes = Counter(label.classes[task] for label in usable if task in label.classes)
            top = votes.most_common(2)
            if not top or (len(top) == 2 and top[0][1] == top[1][1]):
                left_out[frame_id] = f"annotators disagree on {task}"
                break
            agreed[task] = top[0][0]
        else:
            examples[frame_id] = agreed
    return Consensus(examples=examples, left_out=left_out)


def joint_class(example: Example, tasks: Iterable[str]) -> str:
    """The stratum of an example: its classes, task by task, joined by ``|``."""
    return "|".join(example[task] for task in tasks)


def class_counts(schema: LabelSchema, examples: Mapping[str, Example]) -> dict[str, dict[str, int]]:
    """Task -> class -> how many examples (every class of the schema, zeros included)."""
    counts = {task: dict.fromkeys(classes, 0) for task, classes in schema.tasks.items()}
    for example in examples.values():
        for task, value in example.items():
            counts[task][value] += 1
    return counts


def check_enough(
    schema: LabelSchema, examples: Mapping[str, Example], *, min_per_class: int
) -> None:
    """:class:`NotEnoughLabelsError` naming every class with fewer than ``min_per_class``
    agreed examples (with all the counts), before anything is trained."""
    counts = class_counts(schema, examples)
    short = [
        f"{task}.{value}: {count}"
        for task, by_class in counts.items()
        for value, count in by_class.items()
        if count < min_per_class
    ]
    if short:
        every = "; ".join(
            f"{task}: " + ", ".join(f"{value} {count}" for value, count in by_class.items())
            for task, by_class in counts.items()
        )
        raise NotEnoughLabelsError(
            f"not enough labelled frames to split and train: at least {min_per_class} agreed "
            f"examples of every class are needed, short are {', '.join(short)} "
            f"({len(examples)} agreed examples: {every})"
        )


def stratified_split(
    strata: Mapping[str, str], share: float, seed: int
) -> tuple[list[str], list[str]]:
    """``(chosen, rest)``: from each stratum (frame -> stratum) ``round(share * n)`` frames,
    at least one when the stratum has two or more, none from a stratum of one (it stays in
    the rest, where training needs it). Deterministic in ``seed``, whatever the order."""
    members: dict[str, list[str]] = defaultdict(list)
    for frame_id, stratum in strata.items():
        members[stratum].append(frame_id)
    chosen: list[str] = []
    rest: list[str] = []
    for stratum in sorted(members):
        frames = sorted(members[stratum])
        random.Random(f"{seed}\0{stratum}").shuffle(frames)  # noqa: S311 (a reproducible split)
        take = 0 if len(frames) < 2 else max(1, round(share * len(frames)))
        take = min(take, len(frames) - 1)
        chosen += frames[:take]
        rest += frames[take:]
    return sorted(chosen), sorted(rest)


def split_examples(
    schema: LabelSchema,
    examples: Mapping[str, Example],
    *,
    test_frames: Sequence[str] | None,
    test_share: float,
    validation_share: float,
    seed: int,
) -> tuple[list[str], list[str], list[str]]:
    """``(test, train, validation)``: the given test set (later rounds; its frames that are
    no longer examples are dropped), or a new one drawn from ``examples`` (round 0); the other
    examples split into training and validation. A class of some task missing from the test
    set or from training is refused, naming it."""
    tasks = list(schema.tasks)
    strata = {frame_id: joint_class(example, tasks) for frame_id, example in examples.items()}
    if test_frames is None:
        test, _ = stratified_split(strata, test_share, seed)
    else:
        test = sorted(frame_id for frame_id in test_frames if frame_id in examples)
    held = set(test)
    remaining = {frame_id: s for frame_id, s in strata.items() if frame_id not in held}
    validation, train = stratified_split(remaining, validation_share, seed + 1)
    for name, frames in (("the test set", test), ("the training set", train)):
        for task, classes in schema.tasks.items():
            present = {examples[frame_id][task] for frame_id in frames}
            missing = [value for value in classes if value not in present]
            if missing:
                raise NotEnoughLabelsError(
                    f"{task}: {', '.join(missing)} missing from {name} ({len(frames)} frames): "
                    "label more frames of that class"
                )
    return test, train, validation


class ClassMetrics(BaseModel):
    """Precision, recall, F1 and support of one class."""

    precision: float
    recall: float
    f1: float
    support: int


class TaskMetrics(BaseModel):
    """How one task's model did on one set of frames."""

    accuracy: float
    macro_f1: float
    per_class: dict[str, ClassMetrics]
    confusion: list[list[int]] = Field(description="Rows: true class; columns: predicted.")
    frames: int


def classification_metrics(
    true: Sequence[str], predicted: Sequence[str], classes: Sequence[str]
) -> TaskMetrics:
    """Accuracy, macro F1 (the unweighted mean over ``classes``), per-class precision /
    recall / F1 (0 where undefined, as scikit-learn's ``zero_division=0``) and the confusion
    matrix in ``classes`` order."""
    if len(true) != len(predicted):
        raise ValueError(f"{len(true)} true classes but {len(predicted)} predictions")
    where = {value: i for i, value in enumerate(classes)}
    confusion = [[0] * len(classes) for _ in classes]
    for actual, guess in zip(true, predicted, strict=True):
        confusion[where[actual]][where[guess]] += 1
    per_class: dict[str, ClassMetrics] = {}
    for i, value in enumerate(classes):
        hits = confusion[i][i]
        said = sum(row[i] for row in confusion)
        support = sum(confusion[i])
        precision = hits / said if said else 0.0
        recall = hits / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[value] = ClassMetrics(precision=precision, recall=recall, f1=f1, support=support)
    total = len(true)
    accuracy = sum(confusion[i][i] for i in range(len(classes))) / total if total else 0.0
    macro = sum(m.f1 for m in per_class.values()) / len(classes) if classes else 0.0
    return TaskMetrics(
        accuracy=accuracy,
        macro_f1=macro,
        per_class=per_class,
        confusion=confusion,
        frames=total,
    )


def entropy(probabilities: Sequence[float]) -> float:
    """Shannon entropy in nats (``0 log 0`` is 0)."""
    return -sum(p * math.log(p) for p in probabilities if p > 0)


def rank_uncertain(
    scores: Iterable[tuple[str, Mapping[str, Sequence[float]]]], k: int
) -> list[tuple[str, float]]:
    """The ``k`` frames of highest combined entropy (the sum over tasks), highest first,
    ties by frame id: ``(frame, score)``."""
    scored = [(frame_id, sum(entropy(p) for p in by_task.values())) for frame_id, by_task in scores]
    scored.sort(key=lambda item: (-item[1], item[0]))
    return scored[:k]


class Guidance(BaseModel):
    """Whether another round looks worth it."""

    diminishing_returns: bool
    overfitting: bool
    macro_f1_gain_points: float | None = Field(
        None, description="Mean test macro F1 gain over the previous round (None: round 0)."
    )
    train_validation_gap_points: dict[str, float]
    advice: list[str]


def _points(value: float) -> float:
    return round(value * 100, 6)


def stopping_guidance(
    current: Mapping[str, Mapping[str, TaskMetrics]],
    previous: Mapping[str, Mapping[str, TaskMetrics]] | None,
) -> Guidance:
    """Guidance from a round's metrics (set -> task -> metrics, sets ``train``,
    ``validation`` and ``test``) and the previous round's (None for round 0)."""
    test = current["test"]
    mean = sum(m.macro_f1 for m in test.values()) / len(test)
    gain: float | None = None
    advice: list[str] = []
    if previous is not None:
        before = previous["test"]
        gain = _points(mean - sum(m.macro_f1 for m in before.values()) / len(before))
    diminishing = gain is not None and gain < DIMINISHING_POINTS
    if diminishing:
        advice.append(
            f"diminishing returns: mean test macro F1 moved {gain:+.2f} points (less than "
            f"{DIMINISHING_POINTS:g}); more rounds of this kind may not pay"
        )
    gaps = {
        task: _points(current["train"][task].accuracy - current["validation"][task].accuracy)
        for task in test
    }
    over = [task for task, gap in gaps.items() if gap > OVERFIT_POINTS]
    for task in over:
        advice.append(
            f"overfitting on {task}: training accuracy {gaps[task]:.1f} points above "
            f"validation (more than {OVERFIT_POINTS:g}); more labels or more augmentation"
        )
    if not advice:
        advice.append("keep going: label the new queue and run the next round")
    return Guidance(
        diminishing_returns=diminishing,
        overfitting=bool(over),
        macro_f1_gain_points=gain,
        train_validation_gap_points=gaps,
        advice=advice,
    )


class RoundConfig(BaseModel):
    """How one round trains (``vidcurate learn round`` flags, the job's arguments)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    round: int = Field(ge=0, le=99, description="The round number (0: draws the test set).")
    top_k: int = Field(50, ge=1, le=100_000, description="Frames the next queue asks about.")
    epochs: int = Field(30, ge=1, le=1000, description="Most epochs per model.")
    batch_size: int = Field(32, ge=1, le=4096)
    lr: float = Field(1e-4, gt=0, le=1, description="Adam's learning rate.")
    patience: int = Field(5, ge=1, le=1000, description="Epochs without a better val loss.")
    step_size: int = Field(10, ge=1, description="StepLR: epochs between decays.")
    gamma: float = Field(0.1, gt=0, le=1, description="StepLR: the decay.")
    base_weights: str | None = Field(
        None,
        description=(
            "Round 0's starting weights: gs://BUCKET/PATH.pt (or a folder ending in / with "
            "<task>.pt), a checkpoint or state dict of the same architecture; none: random."
        ),
    )
    architecture: Literal["resnet50", "resnet18"] = "resnet50"
    image_size: int = Field(224, ge=16, le=1024, description="Square input side, in pixels.")
    seed: int = Field(0, ge=0, description="Splits, initialisation, order and augmentation.")
    test_share: float = Field(0.2, gt=0, lt=1)
    validation_share: float = Field(0.2, gt=0, lt=1)
    min_per_class: int = Field(5, ge=2, description="Agreed examples every class needs.")
    workers: int = Field(2, ge=0, le=64, description="DataLoader worker processes.")
    device: Literal["auto", "cpu", "cuda"] = "auto"

    def to_args(self) -> list[str]:
        """The job's command-line arguments for this configuration (defaults left out)."""
        out: list[str] = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            if name != "round" and value == field.default:
                continue
            if value is None:
                continue
            out += [f"--{name.replace('_', '-')}", str(value)]
        return out

    @classmethod
    def from_args(cls, argv: Sequence[str]) -> RoundConfig:
        """Parse the job's arguments (a :class:`pydantic.ValidationError` names a bad one)."""
        parser = argparse.ArgumentParser(prog="active_learning", exit_on_error=False)
        for name in cls.model_fields:
            parser.add_argument(f"--{name.replace('_', '-')}", dest=name, default=None)
        try:
            known, unknown = parser.parse_known_args(list(argv))
        except argparse.ArgumentError as exc:
            raise ValueError(str(exc)) from exc
        if unknown:
            raise ValueError(f"unknown arguments: {' '.join(unknown)}")
        parsed = vars(known)
        return cls.model_validate({k: v for k, v in parsed.items() if v is not None})

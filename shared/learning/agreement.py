"""Agreement between annotators, task by task (pure): Cohen's kappa for every pair of
annotators and Fleiss' kappa over all of them.

Labels come as annotator -> frame id -> :class:`~shared.learning.schema.Label`. For a task,
an annotator's rating of a frame is the class their label gives it; **unusable labels are left
out** (they rate no task), so a frame one annotator marked unusable counts for no pair that
includes that annotator, and for Fleiss only through the others' ratings.

- **Cohen's kappa** (two annotators): over the frames both rated, observed agreement
  ``p_o`` = share of frames given the same class, chance agreement
  ``p_e = sum_k (a_k / n) * (b_k / n)`` from each annotator's own class counts ``a_k``,
  ``b_k`` over those ``n`` frames, ``kappa = (p_o - p_e) / (1 - p_e)``.
- **Fleiss' kappa** (three or more annotators), generalised to frames rated by different
  numbers of annotators as Gwet does (*Handbook of Inter-Rater Reliability*, 4th ed., 2014,
  Fleiss' kappa with missing ratings; R ``irrCAC::fleiss.kappa.raw``), over the frames rated
  by ``r_i >= 2`` annotators, each with its own ``r_i``. With ``r_ik`` ratings of class ``k``:
  ``P_i = sum_k r_ik (r_ik - 1) / (r_i (r_i - 1))``, ``p_o`` = the mean of ``P_i``,
  ``pi_k`` = the mean over the frames of ``r_ik / r_i``, ``p_e = sum_k pi_k ** 2``,
  ``kappa = (p_o - p_e) / (1 - p_e)``; every frame weighs the same. One difference from
  Gwet: a frame rated once is left out of the class shares too (it says nothing about
  agreement), so both agreements come from the same frames. When every frame has the same
  number of ratings this is exactly Fleiss (1971). Keeping only the frames with the most
  common number of ratings instead would throw labels away.
- **Not computable** (``kappa`` None, with a ``reason``): no frame rated by both (Cohen) or by
  two or more (Fleiss); and every rating of the same one class, where chance agreement is 1
  and kappa is 0/0. That is the conventional handling (scikit-learn and R's ``irr`` give NaN):
  kappa says how much agreement exceeds chance, which cannot be told when chance already
  explains all of it. ``p_e = 1`` forces ``p_o = 1`` (every rating is the one class), so the
  result still carries ``observed=1.0``: full raw agreement, kappa undefined. A task with
  fewer than three annotators has no Fleiss' kappa either (its reason points to the pairs).

The arithmetic is exact (integers and fractions); kappa and the agreements are returned as
floats.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from fractions import Fraction
from itertools import combinations

from pydantic import BaseModel, ConfigDict, Field

from shared.learning.schema import Label, LabelSchema

__all__ = [
    "FLEISS_MIN_ANNOTATORS",
    "Kappa",
    "TaskAgreement",
    "agreement",
    "cohen_kappa",
    "fleiss_kappa",
    "task_agreement",
    "task_ratings",
]

FLEISS_MIN_ANNOTATORS = 3  # with two, Fleiss' kappa is Scott's pi: the pairwise Cohen says it

Ratings = Mapping[str, Mapping[str, str]]  # annotator -> frame id -> class


class Kappa(BaseModel):
    """One kappa and what it comes from; ``kappa`` None (with ``reason``) when it cannot be
    computed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kappa: float | None = Field(description="Chance-corrected agreement, -1..1; None: see reason.")
    observed: float | None = Field(None, description="Observed agreement p_o (None: no frames).")
    expected: float | None = Field(None, description="Chance agreement p_e (None: no frames).")
    frames: int = Field(0, ge=0, description="Frames the agreement is computed on.")
    reason: str | None = Field(None, description="Why kappa is None.")


class TaskAgreement(BaseModel):
    """A task's agreement: Cohen's kappa for every pair of annotators with usable labels in
    it (keyed by the two names in sorted order) and Fleiss' kappa over all of them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    task: str
    pairwise: dict[tuple[str, str], Kappa]
    fleiss: Kappa


def task_ratings(labels: Mapping[str, Mapping[str, Label]], task: str) -> dict[str, dict[str, str]]:
    """Annotator -> frame id -> the class given for ``task``; unusable labels (and labels
    without the task) left out, and annotators left with none."""
    ratings = {  # an unusable label carries no class (Label says so), so it rates no task
        annotator: {
            frame_id: label.classes[task]
            for frame_id, label in frames.items()
            if task in label.classes
        }
        for annotator, frames in labels.items()
    }
    return {annotator: rated for annotator, rated in ratings.items() if rated}


def cohen_kappa(first: Mapping[str, str], second: Mapping[str, str]) -> Kappa:
    """Cohen's kappa of two annotators' ratings (frame id -> class) over the frames both
    rated."""
    common = first.keys() & second.keys()
    n = len(common)
    if not n:
        return Kappa(kappa=None, reason="no frame rated by both annotators")
    agreed = sum(first[frame_id] == second[frame_id] for frame_id in common)
    counts_first = Counter(first[frame_id] for frame_id in common)
    counts_second = Counter(second[frame_id] for frame_id in common)
    observed = Fraction(agreed, n)
    expected = Fraction(
        sum(count * counts_second[name] for name, count in counts_first.items()), n * n
    )
    return _kappa(observed, expected, n)


def confusion_kappa(confusion: Sequence[Sequence[int]]) -> Kappa:
    """Cohen's kappa of a model's predictions against the true classes, from a confusion
    matrix (rows: true, columns: predicted): the agreement of two raters, as above."""
    n = sum(sum(row) for row in confusion)
    if not n:
        return Kappa(kappa=None, reason="no frames in this set")
    size = len(confusion)
    observed = Fraction(sum(confusion[i][i] for i in range(size)), n)
    expected = Fraction(
        sum(sum(confusion[k]) * sum(row[k] for row in confusion) for k in range(size)), n * n
    )
    return _kappa(observed, expected, n)


def fleiss_kappa(ratings: Ratings) -> Kappa:
    """Fleiss' kappa of any number of annotators' ratings (annotator -> frame id -> class),
    over the frames rated by two or more, each with its own number of ratings (see the module
    docstring)."""
    by_frame: dict[str, Counter[str]] = defaultdict(Counter)
    for rated in ratings.values():
        for frame_id, name in rated.items():
            by_frame[frame_id][name] += 1
    # frames grouped by their number of ratings r: exact sums with one fraction per r
    pair_agreements: dict[int, int] = defaultdict(int)  # r -> sum_i sum_k r_ik (r_ik - 1)
    class_counts: dict[int, Counter[str]] = defaultdict(Counter)  # r -> k -> sum_i r_ik
    n = 0
    for counts in by_frame.values():
        raters = sum(counts.values())
        if raters < 2:  # one rating agrees with nothing
            continue
        n += 1
        pair_agreements[raters] += sum(count * (count - 1) for count in counts.values())
        class_counts[raters].update(counts)
    if not n:
        return Kappa(kappa=None, reason="no frame rated by two or more annotators")
    observed = (
        sum((Fraction(total, r * (r - 1)) for r, total in pair_agreements.items()), Fraction(0)) / n
    )
    shares: dict[str, Fraction] = defaultdict(Fraction)
    for r, counts in class_counts.items():
        for name, count in counts.items():
            shares[name] += Fraction(count, r)
    expected = sum(((share / n) ** 2 for share in shares.values()), Fraction(0))
    return _kappa(observed, expected, n)


def task_agreement(
    schema: LabelSchema, labels: Mapping[str, Mapping[str, Label]], task: str
) -> TaskAgreement:
    """Pairwise Cohen's kappa and Fleiss' kappa for ``task`` of ``schema``; ``labels`` is
    annotator -> frame id -> label."""
    if task not in schema.tasks:
        raise ValueError(f"unknown task {task!r} (the tasks are {', '.join(schema.tasks)})")
    ratings = task_ratings(labels, task)
    annotators = sorted(ratings)
    pairwise = {(a, b): cohen_kappa(ratings[a], ratings[b]) for a, b in combinations(annotators, 2)}
    if len(annotators) < FLEISS_MIN_ANNOTATORS:
        fleiss = Kappa(
            kappa=None,
            reason=(
                f"Fleiss' kappa needs {FLEISS_MIN_ANNOTATORS} or more annotators with usable "
                f"labels; {len(annotators)} here (see the pairwise Cohen's kappa)"
            ),
        )
    else:
        fleiss = fleiss_kappa(ratings)
    return TaskAgreement(task=task, pairwise=pairwise, fleiss=fleiss)


def agreement(
    schema: LabelSchema, labels: Mapping[str, Mapping[str, Label]]
) -> dict[str, TaskAgreement]:
    """:func:`task_agreement` for every task of ``schema``, in its order."""
    return {task: task_agreement(schema, labels, task) for task in schema.tasks}


def _kappa(observed: Fraction, expected: Fraction, frames: int) -> Kappa:
    if expected == 1:
        return Kappa(
            kappa=None,
            observed=float(observed),
            expected=1.0,
            frames=frames,
            reason=(
                "every rating is the same class: chance agreement is 1, so kappa is undefined "
                "(observed agreement 1.0)"
            ),
        )
    kappa = (observed - expected) / (1 - expected)
    return Kappa(
        kappa=float(kappa), observed=float(observed), expected=float(expected), frames=frames
    )

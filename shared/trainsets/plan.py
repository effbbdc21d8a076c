"""The balance of an evaluated set and its action plan (pure).

A training set is a list of images of one subject. A vision model gives every image a
:class:`Verdict` (its category and a quality score 1-10); :func:`plan` compares the verdicts
with the target :class:`Distribution` and says what to delete and what to generate.

The rules:

- **Balanced** means: the set is not empty and for every category
  ``|count / total - share| <= tolerance``, inclusive and exact (computed with
  :class:`fractions.Fraction` over the decimal text of the share and the tolerance): with a
  65 % target and a tolerance of 0.10, 11 of 20 (55 %) is balanced, 10 of 20 (50 %) is not.
  The size of the set does not enter: 5/2/1 of 8 images is balanced for 65/20/15 %.
- **Final counts**: a balanced set keeps its counts; an unbalanced one is brought to exactly
  :meth:`Distribution.target_counts` (so a set smaller than ``set_size`` gets generations, a
  larger one deletions).
- **Deletions** in a category: its surplus over the final count, or every image scored under
  ``min_quality`` when that is more. The images deleted are always the lowest-scored ones of
  the category; among equal scores the later file name goes first (names compared in natural
  order, numbers by value: ``img10`` is later than ``img9``; then as plain text). So every
  image under ``min_quality`` is deleted, and it counts towards the surplus of a category
  over target instead of being replaced.
- **Generations** in a category: whatever brings it back to its final count after its
  deletions (the deficit, plus a replacement for each deleted image under ``min_quality``
  that was not surplus).
- After applying the plan, each category holds exactly its final count.
- Verdicts must name categories of the distribution, distinct files and distinct numbers;
  else :class:`ValueError` (the caller validates the model's answers first).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from fractions import Fraction
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

CATEGORY_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
SHARE_SUM_TOLERANCE = 1e-6  # shares written as decimals (0.65, 0.2, 0.15) sum to 1 +- float noise


class Distribution(BaseModel):
    """The target mix of a set: its categories (name -> the description the model is given),
    the share of each, the set's size, how far a share may drift, and the lowest acceptable
    quality score."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    categories: dict[str, str] = Field(
        description="Category name -> description given to the vision model, in display order."
    )
    target: dict[str, float] = Field(
        description="Category name -> share of the set (0..1; the shares sum to 1)."
    )
    set_size: int = Field(20, ge=1, le=1000, description="How many images a set should hold.")
    tolerance: float = Field(
        0.10,
        ge=0,
        le=1,
        description="How far a category's share may drift, as a fraction (0.10: +-10 points).",
    )
    min_quality: int | None = Field(
        None,
        ge=1,
        le=10,
        description=(
            "Images scored under it (1-10) are deleted and replaced even in a balanced set "
            "(None: quality never deletes on its own)."
        ),
    )

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if not self.categories:
            raise ValueError("categories: at least one category is needed")
        for name, description in self.categories.items():
            if not CATEGORY_NAME.fullmatch(name):
                raise ValueError(
                    f"categories: invalid name {name!r} (lower-case letters, digits, '_' and "
                    "'-', starting with a letter or digit, at most 64 characters)"
                )
            if not description.strip():
                raise ValueError(f"categories.{name}: empty description")
        missing = [name for name in self.categories if name not in self.target]
        extra = [name for name in self.target if name not in self.categories]
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"no share for {', '.join(missing)}")
            if extra:
                parts.append(f"shares for unknown categories {', '.join(extra)}")
            raise ValueError(f"target: {'; '.join(parts)} (same names as categories)")
        for name, share in self.target.items():
            if not 0 <= share <= 1:
                raise ValueError(f"target.{name}: share {share} is not between 0 and 1")
        total = sum(self.target.values())
        if abs(total - 1) > SHARE_SUM_TOLERANCE:
            raise ValueError(f"target: the shares sum to {total:g}, not 1")
        return self

    def share(self, category: str) -> Fraction:
        """The exact share of ``category`` (from its decimal text: 0.65 is 13/20)."""
        return Fraction(str(self.target[category]))

    def target_counts(self) -> dict[str, int]:
        """How many images of each category a set of ``set_size`` holds (categories' order):
        largest-remainder rounding, so the counts sum to ``set_size``; equal remainders go to
        the category listed first. 65/20/15 % of 20 is 13/4/3, of 7 is 5/1/1."""
        quotas = {name: self.share(name) * self.set_size for name in self.categories}
        counts = {name: int(quota) for name, quota in quotas.items()}  # floor: quotas >= 0
        # 0 <= left <= number of categories, since the shares sum to 1 within 1e-6
        left = max(0, self.set_size - sum(counts.values()))
        order = list(self.categories)
        by_remainder = sorted(
            order, key=lambda name: (-(quotas[name] - counts[name]), order.index(name))
        )
        for name in by_remainder[:left]:
            counts[name] += 1
        return counts


class Verdict(BaseModel):
    """The model's judgement of one image of a set."""

    model_config = ConfigDict(frozen=True)

    number: int = Field(ge=1, description="The image's cell number on the grids (1-based).")
    file: str = Field(min_length=1, description="The image's file name in the set.")
    category: str = Field(min_length=1, description="The category the model chose.")
    quality: int = Field(ge=1, le=10, description="Quality score, 1 (worst) to 10 (best).")
    reason: str = Field("", description="Why, in the model's words.")


class Balance(BaseModel):
    """How a set's mix compares with the target. Percentages and deviations are rounded to
    one decimal for display; ``balanced`` is decided on exact fractions."""

    model_config = ConfigDict(frozen=True)

    counts: dict[str, int] = Field(description="Images per category (every category, 0 too).")
    total: int = Field(ge=0, description="Images in the set.")
    percentages: dict[str, float] = Field(description="Share of the set per category, 0-100.")
    deviations: dict[str, float] = Field(
        description="Percentage minus target percentage per category, in points (+ is over)."
    )
    balanced: bool = Field(description="Every category within the tolerance (never if empty).")


class ActionPlan(BaseModel):
    """What to change in a set: files to delete (by category in the distribution's order,
    the first to go first) with the reason of each, and images to generate per category."""

    model_config = ConfigDict(frozen=True)

    delete: list[str] = Field(default_factory=list, description="Files to delete.")
    generate: dict[str, int] = Field(
        default_factory=dict, description="Category -> images to generate (only those > 0)."
    )
    reasons: dict[str, str] = Field(default_factory=dict, description="File -> why it goes.")

    @property
    def empty(self) -> bool:
        """Nothing to delete or generate."""
        return not self.delete and not self.generate


def balance(verdicts: Sequence[Verdict], distribution: Distribution) -> Balance:
    """The mix of an evaluated set against ``distribution`` (see the module's rules)."""
    _check(verdicts, distribution)
    counts = dict.fromkeys(distribution.categories, 0)
    for verdict in verdicts:
        counts[verdict.category] += 1
    total = len(verdicts)
    tolerance = Fraction(str(distribution.tolerance))
    fractions = {
        name: Fraction(count, total) if total else Fraction(0) for name, count in counts.items()
    }
    return Balance(
        counts=counts,
        total=total,
        percentages={name: round(float(value * 100), 1) for name, value in fractions.items()},
        deviations={
            name: round(float((value - distribution.share(name)) * 100), 1)
            for name, value in fractions.items()
        },
        balanced=total > 0
        and all(
            abs(value - distribution.share(name)) <= tolerance for name, value in fractions.items()
        ),
    )


def plan(verdicts: Sequence[Verdict], distribution: Distribution) -> tuple[Balance, ActionPlan]:
    """The balance of a set and what to delete and generate (see the module's rules)."""
    mix = balance(verdicts, distribution)
    final = dict(mix.counts) if mix.balanced else distribution.target_counts()
    minimum = distribution.min_quality
    delete: list[str] = []
    reasons: dict[str, str] = {}
    generate: dict[str, int] = {}
    for category in distribution.categories:
        members = _deletion_order(v for v in verdicts if v.category == category)
        low = sum(1 for v in members if minimum is not None and v.quality < minimum)
        surplus = max(0, len(members) - final[category])
        going = members[: max(surplus, low)]  # the weak ones sort first: all of them go
        for index, verdict in enumerate(going):
            under = minimum is not None and verdict.quality < minimum
            if index < surplus:
                note = f", under the minimum {minimum}" if under else ""
                reasons[verdict.file] = f"surplus in {category} (quality {verdict.quality}{note})"
            else:
                reasons[verdict.file] = f"quality {verdict.quality} under the minimum {minimum}"
            delete.append(verdict.file)
        missing = final[category] - (len(members) - len(going))
        if missing > 0:
            generate[category] = missing
    return mix, ActionPlan(delete=delete, generate=generate, reasons=reasons)


def _check(verdicts: Sequence[Verdict], distribution: Distribution) -> None:
    """Verdicts name known categories, and each file and number once."""
    unknown = sorted({v.category for v in verdicts} - set(distribution.categories))
    if unknown:
        raise ValueError(
            f"verdicts name categories outside the distribution: {', '.join(unknown)} "
            f"(known: {', '.join(distribution.categories)})"
        )
    for what, values in (
        ("file", Counter(v.file for v in verdicts)),
        ("number", Counter(str(v.number) for v in verdicts)),
    ):
        repeated = sorted(value for value, times in values.items() if times > 1)
        if repeated:
            raise ValueError(f"verdicts repeat the {what} {', '.join(repeated)}")


def _deletion_order(members: Iterable[Verdict]) -> list[Verdict]:
    """Lowest quality first; among equal scores the later file name first (natural order,
    then plain text), so the order never depends on the order of the verdicts."""
    later_first = sorted(members, key=lambda v: (_natural(v.file), v.file), reverse=True)
    return sorted(later_first, key=lambda v: v.quality)  # stable: keeps later-first in ties


def _natural(name: str) -> list[int | str]:
    """Sort key that orders numbers by value (``img9`` before ``img10``). ``re.split`` with
    a group alternates text and digits, so equal positions always hold the same type."""
    return [int(part) if index % 2 else part for index, part in enumerate(re.split(r"(\d+)", name))]

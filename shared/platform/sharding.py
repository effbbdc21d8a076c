"""Task i of n: which share of a list one task of a batch job takes.

A Cloud Run job's tasks are told their place by ``CLOUD_RUN_TASK_INDEX`` and
``CLOUD_RUN_TASK_COUNT``; run locally, the same variables are set on each process. Task i
takes items i, i + n, i + 2n, ... of a list every task reads in the same order: the slices
are disjoint, cover the list, are balanced to one item, and do not depend on how fast any
task is (a retried task takes the same slice again).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

__all__ = ["TaskSlot"]

T = TypeVar("T")

INDEX_VARIABLE = "CLOUD_RUN_TASK_INDEX"
COUNT_VARIABLE = "CLOUD_RUN_TASK_COUNT"


@dataclass(frozen=True)
class TaskSlot:
    """This task's place among its job's tasks."""

    index: int = 0
    count: int = 1

    def __post_init__(self) -> None:
        if self.count < 1 or not 0 <= self.index < self.count:
            raise ValueError(f"task {self.index} of {self.count} does not exist")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> TaskSlot:
        """The slot Cloud Run gives (task 0 of 1 when the variables are not set)."""
        try:
            index = int(environ.get(INDEX_VARIABLE, "0"))
            count = int(environ.get(COUNT_VARIABLE, "1"))
        except ValueError as exc:
            raise ValueError(f"{INDEX_VARIABLE}/{COUNT_VARIABLE} must be integers") from exc
        return cls(index, count)

    def environment(self) -> dict[str, str]:
        """The variables that tell a local process this slot."""
        return {INDEX_VARIABLE: str(self.index), COUNT_VARIABLE: str(self.count)}

    def take(self, items: Sequence[T]) -> list[T]:
        """This task's items, in the list's order."""
        return list(items[self.index :: self.count])

    def size(self, total: int) -> int:
        """How many of ``total`` items :meth:`take` gives this task."""
        return len(range(self.index, total, self.count))

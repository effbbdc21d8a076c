"""The label schema, as configuration (pure): the classification tasks an annotator answers
for every frame, each with its classes in display order, and the "unusable frame" flag.

A :class:`Label` is one annotator's answer for one frame: a class for every task of the
schema, or ``unusable=True`` and no class at all (a black, blurred or cut frame). Task and
class names match ``^[a-z][a-z0-9_]{0,63}$``; a schema has at least one task and every task at
least two classes, none repeated. ``unusable`` is not a task name: it is the flag's.
:func:`validate_label` checks an answer against the schema and says which task or class is
wrong.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

__all__ = ["DEFAULT_TASKS", "NAME", "UNUSABLE", "Label", "LabelSchema", "validate_label"]

NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
UNUSABLE = "unusable"  # the flag's name, so no task may take it
MIN_CLASSES = 2
_NAME_RULE = "lower-case letters, digits and '_', starting with a letter, at most 64 characters"

DEFAULT_TASKS: Mapping[str, tuple[str, ...]] = {
    "perspective": ("first_person", "third_person", "overhead"),
    "distance": ("close", "medium", "far"),
}


def _default_tasks() -> dict[str, tuple[str, ...]]:
    return dict(DEFAULT_TASKS)


class LabelSchema(BaseModel):
    """The tasks annotators answer for each frame: task name -> its classes, in display
    order (tasks too keep their order). The default: ``perspective`` (first_person,
    third_person, overhead) and ``distance`` (close, medium, far)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    tasks: dict[str, tuple[str, ...]] = Field(
        default_factory=_default_tasks,
        description="Task name -> its classes in display order (at least two, distinct).",
    )

    @field_validator("tasks")
    @classmethod
    def _valid_tasks(cls, tasks: dict[str, tuple[str, ...]]) -> dict[str, tuple[str, ...]]:
        if not tasks:
            raise ValueError("tasks: at least one task is needed")
        for task, classes in tasks.items():
            if task == UNUSABLE:
                raise ValueError(f"tasks: {UNUSABLE!r} names the unusable-frame flag, not a task")
            if not NAME.fullmatch(task):
                raise ValueError(f"tasks: invalid task name {task!r} ({_NAME_RULE})")
            if len(classes) < MIN_CLASSES:
                raise ValueError(
                    f"tasks.{task}: at least {MIN_CLASSES} classes are needed, got {len(classes)}"
                )
            seen: set[str] = set()
            for name in classes:
                if not NAME.fullmatch(name):
                    raise ValueError(f"tasks.{task}: invalid class name {name!r} ({_NAME_RULE})")
                if name in seen:
                    raise ValueError(f"tasks.{task}: class {name!r} is listed twice")
                seen.add(name)
        return tasks


class Label(BaseModel):
    """One annotator's answer for one frame: task -> class, or ``unusable`` with no class.
    Built by :func:`validate_label`, which checks it against the schema."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    classes: dict[str, str] = Field(
        default_factory=dict, description="Task -> the class chosen (empty when unusable)."
    )
    unusable: bool = Field(False, description="The frame cannot be labelled (no classes then).")

    @model_validator(mode="after")
    def _classes_or_unusable(self) -> Self:
        if self.unusable and self.classes:
            raise ValueError(
                f"an unusable frame takes no classes (got {', '.join(sorted(self.classes))})"
            )
        if not self.unusable and not self.classes:
            raise ValueError("a label needs a class for each task, or unusable=True")
        return self


def validate_label(
    schema: LabelSchema, answers: Mapping[str, str], *, unusable: bool = False
) -> Label:
    """The :class:`Label` for ``answers`` (task -> class): every task of ``schema`` answered
    with one of its classes, or ``unusable`` and no answer. :class:`ValueError` names the
    unknown tasks, the unknown class or the unanswered tasks."""
    if unusable:
        if answers:
            raise ValueError(
                f"an unusable frame takes no classes (got {', '.join(sorted(answers))})"
            )
        return Label(unusable=True)
    unknown = [task for task in answers if task not in schema.tasks]
    if unknown:
        raise ValueError(
            f"unknown task{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))} "
            f"(the tasks are {', '.join(schema.tasks)})"
        )
    for task, value in answers.items():
        classes = schema.tasks[task]
        if value not in classes:
            raise ValueError(
                f"{task}: unknown class {value!r} (the classes are {', '.join(classes)})"
            )
    missing = [task for task in schema.tasks if task not in answers]
    if missing:
        raise ValueError(
            f"no class for {', '.join(missing)} (every task needs one unless the frame is unusable)"
        )
    return Label(classes={task: answers[task] for task in schema.tasks})

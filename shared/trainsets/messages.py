"""Messages and topics of training-set evaluation."""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field

from shared.platform.topics import Topic

SET_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
"""A set id: the folder of its images in the sets bucket."""


class SetEvaluation(BaseModel):
    """One ``set-evaluations`` message: evaluate a set (and rebalance it with ``execute``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    set_id: str = Field(pattern=SET_ID_PATTERN.pattern)
    run: str = Field(min_length=1, max_length=64, description="The evaluation run it is part of.")
    execute: bool = False
    force: bool = Field(False, description="Evaluate even when nothing changed since the last.")


SET_EVALUATIONS = Topic("set-evaluations", SetEvaluation)

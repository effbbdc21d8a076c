"""Messages and topics of critique runs."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.critiques import prompts as critique_prompts  # noqa: F401 (registers the prompts)
from shared.critiques.types import (
    CRITIQUE_TYPES,
)
from shared.platform.topics import Topic


class CritiqueRequest(BaseModel):
    """The CLI flags, and the body of a ``critique-requests`` message."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    export_folder: str = Field(pattern=r"^export_\d{8}_\d{4}(_\d+)?$")
    critique_types: tuple[str, ...] = tuple(CRITIQUE_TYPES)
    dry_run: bool = False
    force_regenerate: bool = False
    new_only: bool = False
    max_retries: int | None = Field(
        None,
        ge=1,
        le=10,
        description="At most this many attempts per model call (default 3), as --max-retries.",
    )
    max_cost_usd: float | None = Field(None, gt=0)
    config_type: str | None = Field(
        None,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$",
        description="The task set whose long task names the outputs use (default: the one "
        "the export's statistics name).",
    )

    @field_validator("critique_types")
    @classmethod
    def _known(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [t for t in value if t not in CRITIQUE_TYPES]
        if unknown:
            raise ValueError(
                f"unknown critique type(s) {', '.join(unknown)} (known: "
                f"{', '.join(CRITIQUE_TYPES)})"
            )
        return value


class ConsolidationRequest(BaseModel):
    """One ``critique-consolidations`` message: a run whose plan may be complete."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str
    plan_id: str


class CritiqueJob(BaseModel):
    """One ``critique-jobs`` message: an item of a run, at the key it was planned with."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    run: str
    item: str
    key: str
    max_retries: int | None = None


JOBS = Topic("critique-jobs", CritiqueJob)

CONSOLIDATIONS = Topic("critique-consolidations", ConsolidationRequest)

REQUESTS = Topic("critique-requests", CritiqueRequest)

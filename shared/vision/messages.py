"""Messages and topics of frame analysis."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.platform.topics import Topic
from shared.vision.prompts import FRAME_PROMPTS


class AnalysisRequest(BaseModel):
    """The flags of ``vidcurate frames analyze``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    dataset: str | None = Field(None, description="Only clips under this object prefix.")
    max_clips: int | None = Field(
        50, ge=1, description="At most this many clips described by one run (None: all)."
    )
    prompt: str = "describe_frame"
    model: str | None = None  # default: settings.vision_model
    max_cost_usd: float | None = Field(None, gt=0)
    dry_run: bool = False

    @field_validator("prompt")
    @classmethod
    def _known(cls, value: str) -> str:
        if value not in FRAME_PROMPTS:
            raise ValueError(f"unknown prompt {value!r} (known: {', '.join(FRAME_PROMPTS)})")
        return value


class AnalysisJob(BaseModel):
    """One ``frame-analysis`` message: a clip's frames, with a prompt and a model."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    clip: str  # the clips/<id> document
    generation: int
    prompt: str
    model: str
    run: str = ""  # the run that asked: its calls are labelled with it (the run's cost report)


FRAME_ANALYSIS = Topic("frame-analysis", AnalysisJob)

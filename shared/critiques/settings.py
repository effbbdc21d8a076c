"""Settings of critique runs: models per critique type, video size and token estimates."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.captions.settings import CaptionSettings
from shared.llm.settings import LlmSettings
from shared.publishing import PublishingSettings


class CritiqueSettings(LlmSettings, CaptionSettings, PublishingSettings):
    """Critique models and inputs; a run reads caption task sets and publishes to the Hub."""

    critique_models: dict[str, str] = Field(
        default_factory=dict,
        description=(
            "Model per critique type (JSON), and 'revision' for the rewrite step; unlisted "
            "types use their defaults (gpt-4.1, gemini-2.5-pro; revision gpt-4o)."
        ),
    )
    max_video_bytes: int = Field(
        512 << 20, gt=0, description="Largest video fetched for a model to watch."
    )
    video_tokens_estimate: int = Field(
        18_000,
        ge=0,
        description=(
            "Input tokens a video is counted as in cost estimates (about 60 s at Gemini's "
            "~300 tokens per second of video and audio)."
        ),
    )

    @model_validator(mode="after")
    def _models_are_priced(self) -> Self:
        """Every configured critique model has a price (else a typo would run at "$0")."""
        for model in self.critique_models.values():
            problem = self.unpriced_message(model, "VIDCURATE_CRITIQUE_MODELS")
            if problem:
                raise ValueError(problem)
        return self

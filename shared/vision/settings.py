"""Settings of frame analysis: the vision model and its answer length."""

from __future__ import annotations

from typing import Self

from pydantic import Field, model_validator

from shared.llm.settings import LlmSettings


class VisionSettings(LlmSettings):
    """The model that describes frames."""

    vision_model: str = Field("gpt-4o-mini", description="Model that describes frames.")
    vision_max_output_tokens: int = Field(
        150, ge=16, le=4096, description="Most output tokens of one frame description."
    )

    @model_validator(mode="after")
    def _model_is_priced(self) -> Self:
        """The vision model has a price (else a typo would run at "$0")."""
        problem = self.unpriced_message(self.vision_model, "VIDCURATE_VISION_MODEL")
        if problem:
            raise ValueError(problem)
        return self

"""Settings of frame analysis: the vision model and its answer length."""

from __future__ import annotations

from pydantic import Field

from shared.llm.settings import LlmSettings


class VisionSettings(LlmSettings):
    """The model that describes frames."""

    vision_model: str = Field("gpt-4o-mini", description="Model that describes frames.")
    vision_max_output_tokens: int = Field(
        150, ge=16, le=4096, description="Most output tokens of one frame description."
    )

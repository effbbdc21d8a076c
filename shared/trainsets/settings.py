"""Settings of training sets: the target distribution, the contact sheets the model looks
at, the buckets, and the models that classify and generate images."""

from __future__ import annotations

import re
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shared.llm.settings import LlmSettings
from shared.trainsets.plan import Distribution

__all__ = ["DEFAULT_DISTRIBUTION", "Distribution", "GridSettings", "TrainsetSettings"]

DEFAULT_DISTRIBUTION = Distribution(
    categories={
        "photorealistic": "real-world scenes, cinematic lighting, film-like",
        "bw_stylized": "black and white only, illustrated: pen and ink, charcoal, manga",
        "color_stylized": (
            "colour illustration: comic, watercolour, digital painting; not photorealistic"
        ),
    },
    target={"photorealistic": 0.65, "bw_stylized": 0.20, "color_stylized": 0.15},
    set_size=20,
    tolerance=0.10,
)

_HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")


class GridSettings(BaseModel):
    """How a set's numbered contact sheets look: square cells of ``thumbnail`` px in
    ``columns`` columns, at most ``max_cells`` cells a sheet (a larger set is split over
    several sheets, numbered on across them), saved as JPEG."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    thumbnail: int = Field(200, ge=32, le=1024, description="Side of a cell, in pixels.")
    columns: int = Field(5, ge=1, le=50, description="Cells per row.")
    background: str = Field("#F0F0F0", description="Colour around the pictures (#RRGGBB).")
    jpeg_quality: int = Field(90, ge=1, le=95, description="JPEG quality of a sheet.")
    max_cells: int = Field(25, ge=1, le=400, description="Most cells on one sheet.")

    @model_validator(mode="after")
    def _colour(self) -> Self:
        if not _HEX_COLOUR.fullmatch(self.background):
            raise ValueError(f"background: {self.background!r} is not a #RRGGBB colour")
        return self

    @property
    def background_rgb(self) -> tuple[int, int, int]:
        """The background as an (r, g, b) triple."""
        value = int(self.background[1:], 16)
        return (value >> 16, (value >> 8) & 0xFF, value & 0xFF)


DEFAULT_GENERATION_PROMPTS: dict[str, tuple[str, ...]] = {
    "photorealistic": (
        "A photorealistic portrait of {subject}, window light, 50 mm lens, shallow focus",
        "A cinematic photograph of {subject} on a rainy city street at night, neon",
        "A candid documentary photo of {subject} in a sunlit kitchen, film grain",
        "A photorealistic close-up of {subject}, golden-hour backlight, 85 mm lens",
        "A film still of {subject} sitting in a vintage car, soft overcast light",
        "A photorealistic full-body shot of {subject} on a beach at dawn, mist over the water",
        "A studio photograph of {subject}, three-point lighting, neutral grey backdrop",
        "A photorealistic image of {subject} reading in a library, warm practical lamps",
        "A cinematic wide shot of {subject} on a mountain ridge, dramatic clouds",
        "A street photograph of {subject} at a market stall, busy background, 35 mm lens",
        "A photorealistic portrait of {subject} in the snow, cold blue light",
        "A film-like photograph of {subject} at a cafe table, morning light through the window",
        "A photorealistic image of {subject} on a train platform, motion blur behind",
        "A cinematic medium shot of {subject} in a dim bar, practical tungsten light",
        "A photorealistic portrait of {subject} in a forest clearing, dappled sunlight",
    ),
    "bw_stylized": (
        "A black-and-white pen and ink drawing of {subject}, fine cross-hatching",
        "A charcoal sketch of {subject} on textured paper, black and white only",
        "A black-and-white manga panel of {subject}, screentone shading",
        "A black-and-white woodcut print of {subject}, bold carved lines",
        "A graphite pencil portrait of {subject}, black and white, soft shading",
        "A black-and-white ink wash illustration of {subject}, loose brush strokes",
        "A black-and-white comic noir panel of {subject}, heavy shadows",
        "A black-and-white etching of {subject}, dense line work",
        "A black-and-white stippled illustration of {subject}, dotwork",
        "A black-and-white linocut of {subject}, high contrast",
        "A black-and-white fashion illustration of {subject}, elegant ink lines",
    ),
    "color_stylized": (
        "A colourful comic-book illustration of {subject}, bold outlines, flat colours",
        "A watercolour painting of {subject}, soft washes of colour, not photorealistic",
        "A digital painting of {subject}, vibrant palette, painterly brushwork",
        "A colourful anime illustration of {subject}, cel shading",
        "A pop-art portrait of {subject}, saturated halftone colours",
        "A gouache illustration of {subject}, flat shapes, warm colours",
        "A colourful storybook illustration of {subject}, whimsical style",
        "A vector-style illustration of {subject}, bright flat colours",
        "An oil-painting style portrait of {subject}, expressive colourful strokes",
    ),
}
"""The defaults' prompt lists (15 / 11 / 9); a category without prompts uses its description."""


class TrainsetSettings(LlmSettings):
    """Where sets and their evaluations live, the target mix, the sheets, and the models."""

    set_distribution: Distribution = Field(
        default_factory=lambda: DEFAULT_DISTRIBUTION.model_copy(deep=True),
        description=(
            "Target mix of every set, as JSON in VIDCURATE_SET_DISTRIBUTION: "
            '{"categories": {name: description given to the model}, "target": {name: share}, '
            '"set_size": 20, "tolerance": 0.10, "min_quality": null}; default 65 % '
            "photorealistic, 20 % bw_stylized, 15 % color_stylized of 20 images, +-10 points."
        ),
    )
    set_grid: GridSettings = Field(
        default_factory=GridSettings,
        description=(
            'Contact sheets shown to the model, as JSON in VIDCURATE_SET_GRID: {"thumbnail": '
            '200, "columns": 5, "background": "#F0F0F0", "jpeg_quality": 90, "max_cells": 25}.'
        ),
    )
    set_model: str = Field(
        "gpt-4.1-mini", description="Vision model that classifies and scores a set's images."
    )
    set_temperature: float = Field(0.3, ge=0, le=2, description="Temperature of set_model.")
    set_max_output_tokens: int = Field(
        2000, ge=16, le=32_768, description="Most output tokens of one sheet's evaluation."
    )
    set_model_attempts: int = Field(
        3,
        ge=1,
        le=10,
        description=(
            "Tries to get a complete, valid answer for a sheet (a verdict for every number) "
            "before the evaluation fails; transport retries are the model client's."
        ),
    )
    set_image_model: str = Field(
        "gemini-2.5-flash-image",
        description="Model that generates the images a set is missing (priced per image).",
    )

    set_image_size: str = Field(
        "1024x1024", description="Size of a generated image (WIDTHxHEIGHT)."
    )
    set_generation_prompts: dict[str, list[str]] = Field(
        default_factory=lambda: {k: list(v) for k, v in DEFAULT_GENERATION_PROMPTS.items()},
        description=(
            "Prompts new images of each category are drawn from, as JSON in "
            "VIDCURATE_SET_GENERATION_PROMPTS: {category: [prompt, ...]}; {subject} stands for "
            "the set's subject (its manifest's, else its id). Merged over the defaults."
        ),
    )

    @field_validator("set_generation_prompts", mode="after")
    @classmethod
    def _merge_prompts(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        merged = {name: list(prompts) for name, prompts in DEFAULT_GENERATION_PROMPTS.items()}
        merged.update({name: [p for p in prompts if p.strip()] for name, prompts in value.items()})
        return merged

    @model_validator(mode="after")
    def _model_is_priced(self) -> Self:
        """The classifying and generating models have prices (else a typo would run at
        "$0")."""
        problem = self.unpriced_message(self.set_model, "VIDCURATE_SET_MODEL")
        if problem:
            raise ValueError(problem)
        problem = self.unpriced_image_message(self.set_image_model, "VIDCURATE_SET_IMAGE_MODEL")
        if problem:
            raise ValueError(problem)
        return self

"""Settings of the model layer: provider keys, retries, deadlines, prices and quotas."""

from __future__ import annotations

import json
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator

from shared.platform.settings import PlatformSettings


class ModelPrice(BaseModel):
    """US dollars per million tokens."""

    model_config = ConfigDict(frozen=True)

    input_per_million: float = Field(ge=0)
    output_per_million: float = Field(ge=0)


class ModelLimit(BaseModel):
    """A provider quota: requests and tokens per minute."""

    model_config = ConfigDict(frozen=True)

    requests_per_minute: int = Field(gt=0)
    tokens_per_minute: int = Field(gt=0)


# Public list prices (USD per 1M tokens) at the time of writing; override with
# VIDCURATE_MODEL_PRICES. Runs refuse models without a price (see unpriced_message).
DEFAULT_MODEL_PRICES: dict[str, ModelPrice] = {
    "gpt-4.1": ModelPrice(input_per_million=2.00, output_per_million=8.00),
    "gpt-4.1-mini": ModelPrice(input_per_million=0.40, output_per_million=1.60),
    "gpt-4o": ModelPrice(input_per_million=2.50, output_per_million=10.00),
    "gpt-4o-2024-08-06": ModelPrice(input_per_million=2.50, output_per_million=10.00),
    "gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.60),
    "gemini-2.5-pro": ModelPrice(input_per_million=1.25, output_per_million=10.00),
    "gemini-2.5-flash": ModelPrice(input_per_million=0.30, output_per_million=2.50),
}
# Conservative first-tier quotas; raise them with VIDCURATE_MODEL_LIMITS.
DEFAULT_MODEL_LIMITS: dict[str, ModelLimit] = {
    "gpt-4.1": ModelLimit(requests_per_minute=500, tokens_per_minute=30_000),
    "gpt-4.1-mini": ModelLimit(requests_per_minute=500, tokens_per_minute=200_000),
    "gpt-4o": ModelLimit(requests_per_minute=500, tokens_per_minute=30_000),
    "gpt-4o-2024-08-06": ModelLimit(requests_per_minute=500, tokens_per_minute=30_000),
    "gpt-4o-mini": ModelLimit(requests_per_minute=500, tokens_per_minute=200_000),
    "gemini-2.5-pro": ModelLimit(requests_per_minute=150, tokens_per_minute=2_000_000),
    "gemini-2.5-flash": ModelLimit(requests_per_minute=1_000, tokens_per_minute=1_000_000),
}
FALLBACK_MODEL_LIMIT = ModelLimit(requests_per_minute=60, tokens_per_minute=100_000)

# Image models are priced per picture (USD, list prices at the time of writing; gpt-image-1 at
# medium quality, 1024x1024); override with VIDCURATE_IMAGE_PRICES. Image calls refuse models
# without a price (see unpriced_image_message).
DEFAULT_IMAGE_PRICES: dict[str, float] = {
    "gpt-image-1": 0.042,
    "dall-e-3": 0.04,
    "gemini-2.5-flash-image": 0.039,
    "imagen-4.0-generate-001": 0.04,
    "imagen-4.0-fast-generate-001": 0.02,
}
# Pictures per minute; conservative first-tier quotas, raise them with VIDCURATE_IMAGE_LIMITS.
DEFAULT_IMAGE_LIMITS: dict[str, int] = {
    "gpt-image-1": 5,
    "dall-e-3": 5,
    "gemini-2.5-flash-image": 10,
    "imagen-4.0-generate-001": 10,
    "imagen-4.0-fast-generate-001": 10,
}
FALLBACK_IMAGE_LIMIT = 5

# Speech-to-text is priced per minute of audio (USD, list prices at the time of writing);
# override with VIDCURATE_TRANSCRIPTION_PRICES (a self-hosted server: price it at 0).
DEFAULT_TRANSCRIPTION_PRICES: dict[str, float] = {
    "whisper-1": 0.006,
    "gpt-4o-transcribe": 0.006,
    "gpt-4o-mini-transcribe": 0.003,
}
# Requests per minute; conservative first-tier quotas, raise with VIDCURATE_TRANSCRIPTION_LIMITS.
DEFAULT_TRANSCRIPTION_LIMITS: dict[str, int] = {
    "whisper-1": 500,
    "gpt-4o-transcribe": 500,
    "gpt-4o-mini-transcribe": 500,
}
FALLBACK_TRANSCRIPTION_LIMIT = 50


class LlmSettings(PlatformSettings):
    """How models are reached, retried, limited and priced."""

    openai_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "OPENAI_API_KEY", "VIDCURATE_OPENAI_API_KEY", "openai_api_key"
        ),
        description="OpenAI key (Secret Manager openai-api-key in the cloud). Never logged.",
    )
    openai_base_url: str | None = Field(
        None,
        validation_alias=AliasChoices(
            "VIDCURATE_OPENAI_BASE_URL", "OPENAI_BASE_URL", "openai_base_url"
        ),
        description="An OpenAI-compatible server (vLLM, Ollama): its /v1 URL.",
    )
    gemini_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices(
            "GEMINI_API_KEY", "GOOGLE_API_KEY", "VIDCURATE_GEMINI_API_KEY", "gemini_api_key"
        ),
        description="Gemini API key (Secret Manager gemini-api-key in the cloud). Never logged.",
    )
    gemini_base_url: str | None = Field(
        None, description="Another Gemini API endpoint (tests, proxies)."
    )
    llm_provider: Literal["auto", "offline"] = Field(
        "auto",
        description=(
            "'auto': a model's provider when its key (or an OpenAI-compatible base URL) is "
            "set, else the offline provider; 'offline': always the offline provider."
        ),
    )
    model_max_retries: int = Field(3, ge=0, le=10, description="Retries per model call.")
    model_max_retry_seconds: float = Field(
        300.0, gt=0, description="Longest time spent retrying one model call."
    )
    model_timeout_seconds: float = Field(60.0, gt=0, description="Timeout of one attempt.")
    job_deadline_seconds: float = Field(
        480.0,
        gt=0,
        le=520,  # event-driven functions run at most 540 s; leave time to record the outcome
        description=(
            "Most time one model job (a critique item with its revision) may take, retries "
            "and waits included; below the worker function's timeout (540 s), so a job ends "
            "with a recorded outcome instead of being killed."
        ),
    )
    model_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(DEFAULT_MODEL_PRICES),
        description="USD per million input/output tokens by model (JSON), merged over defaults.",
    )
    model_limits: dict[str, ModelLimit] = Field(
        default_factory=lambda: dict(DEFAULT_MODEL_LIMITS),
        description="Requests and tokens per minute by model (JSON), merged over defaults.",
    )

    image_prices: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_IMAGE_PRICES),
        description="USD per generated image by model (JSON), merged over defaults.",
    )
    image_limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_IMAGE_LIMITS),
        description="Images per minute by model (JSON), merged over defaults.",
    )
    image_timeout_seconds: float = Field(
        180.0, gt=0, description="Timeout of one image-generation attempt."
    )
    transcription_prices: dict[str, float] = Field(
        default_factory=lambda: dict(DEFAULT_TRANSCRIPTION_PRICES),
        description="USD per minute of audio by speech-to-text model (JSON), merged over defaults.",
    )
    transcription_limits: dict[str, int] = Field(
        default_factory=lambda: dict(DEFAULT_TRANSCRIPTION_LIMITS),
        description="Requests per minute by speech-to-text model (JSON), merged over defaults.",
    )
    transcription_base_url: str | None = Field(
        None,
        description=(
            "An OpenAI-compatible transcription server (a self-hosted faster-whisper server): "
            "its /v1 URL. Without it, transcription goes to OpenAI when a key is set."
        ),
    )
    transcription_timeout_seconds: float = Field(
        120.0, gt=0, description="Timeout of one transcription attempt."
    )
    vertex_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("VIDCURATE_VERTEX_API_KEY", "vertex_api_key"),
        description=(
            "Vertex AI API key (express mode) for Imagen models; google-genai serves Imagen "
            "only through Vertex AI. Never logged."
        ),
    )
    vertex_location: str | None = Field(
        None,
        description=(
            "Vertex AI location (e.g. us-central1) for Imagen with the process's Google "
            "credentials in VIDCURATE_PROJECT, when no Vertex API key is set."
        ),
    )
    vertex_base_url: str | None = Field(
        None, description="Another Vertex AI endpoint for Imagen (tests, proxies)."
    )

    @field_validator("openai_api_key", "gemini_api_key", "openai_base_url", "gemini_base_url",
                     mode="before")  # fmt: skip
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        """``OPENAI_API_KEY=`` (as ``.env`` templates leave it) means no key, not an empty one."""
        if isinstance(value, str) and not value.strip():
            return None
        if isinstance(value, SecretStr) and not value.get_secret_value().strip():
            return None
        return value

    @field_validator(
        "vertex_api_key",
        "vertex_location",
        "vertex_base_url",
        "transcription_base_url",
        mode="before",
    )
    @classmethod
    def _empty_image_setting_is_unset(cls, value: object) -> object:
        return cls._empty_is_unset(value)

    @field_validator("image_prices")
    @classmethod
    def _merge_image_prices(cls, value: dict[str, float]) -> dict[str, float]:
        for model, price in value.items():
            if not price >= 0:  # also refuses NaN
                raise ValueError(f"image_prices: {model}: a price is USD >= 0, not {price}")
        return {**DEFAULT_IMAGE_PRICES, **value}

    @field_validator("image_limits")
    @classmethod
    def _merge_image_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for model, limit in value.items():
            if limit <= 0:
                raise ValueError(f"image_limits: {model}: images per minute > 0, not {limit}")
        return {**DEFAULT_IMAGE_LIMITS, **value}

    @field_validator("transcription_prices")
    @classmethod
    def _merge_transcription_prices(cls, value: dict[str, float]) -> dict[str, float]:
        for model, price in value.items():
            if not price >= 0:  # also refuses NaN
                raise ValueError(
                    f"transcription_prices: {model}: a price is USD per minute >= 0, not {price}"
                )
        return {**DEFAULT_TRANSCRIPTION_PRICES, **value}

    @field_validator("transcription_limits")
    @classmethod
    def _merge_transcription_limits(cls, value: dict[str, int]) -> dict[str, int]:
        for model, limit in value.items():
            if limit <= 0:
                raise ValueError(f"transcription_limits: {model}: requests per minute > 0")
        return {**DEFAULT_TRANSCRIPTION_LIMITS, **value}

    @field_validator("model_prices")
    @classmethod
    def _merge_prices(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        return {**DEFAULT_MODEL_PRICES, **value}

    @field_validator("model_limits")
    @classmethod
    def _merge_limits(cls, value: dict[str, ModelLimit]) -> dict[str, ModelLimit]:
        return {**DEFAULT_MODEL_LIMITS, **value}

    def unpriced_message(self, model: str, source: str) -> str | None:
        """Why ``model`` (named by ``source``: a flag or variable) cannot be used, or None.
        A model outside the price table would be billed at $0 and slip past every cost cap;
        most often it is a typo, and a new model is one JSON entry away."""
        if model in self.model_prices:
            return None
        example = json.dumps({model: {"input_per_million": 1.0, "output_per_million": 4.0}})
        return (
            f"{source}: no price for model '{model}' (priced: {', '.join(self.model_prices)}); "
            f"to use it, give its USD per 1M tokens in VIDCURATE_MODEL_PRICES, e.g. '{example}'"
        )

    def model_limit(self, model: str) -> ModelLimit:
        """The quota of ``model`` (a conservative fallback for unknown models)."""
        return self.model_limits.get(model, FALLBACK_MODEL_LIMIT)

    def unpriced_image_message(self, model: str, source: str) -> str | None:
        """Why image ``model`` (named by ``source``) cannot be used, or None: as for text
        models (:meth:`unpriced_message`), an image model without a price would slip past
        every cost cap."""
        if model in self.image_prices:
            return None
        example = json.dumps({model: 0.04})
        return (
            f"{source}: no price for image model '{model}' (priced: "
            f"{', '.join(self.image_prices)}); to use it, give its USD per image in "
            f"VIDCURATE_IMAGE_PRICES, e.g. '{example}'"
        )

    def image_limit(self, model: str) -> int:
        """Images per minute for ``model`` (a conservative fallback for unknown models)."""
        return self.image_limits.get(model, FALLBACK_IMAGE_LIMIT)

    def unpriced_transcription_message(self, model: str, source: str) -> str | None:
        """Why speech-to-text ``model`` (named by ``source``) cannot be used, or None: as for
        text models, an unpriced model would slip past every cost cap."""
        if model in self.transcription_prices:
            return None
        example = json.dumps({model: 0.006})
        return (
            f"{source}: no price for speech-to-text model '{model}' (priced: "
            f"{', '.join(self.transcription_prices)}); to use it, give its USD per audio "
            f"minute in VIDCURATE_TRANSCRIPTION_PRICES, e.g. '{example}' (0 for a server of "
            "your own)"
        )

    def transcription_limit(self, model: str) -> int:
        """Requests per minute for speech-to-text ``model`` (a fallback for unknown ones)."""
        return self.transcription_limits.get(model, FALLBACK_TRANSCRIPTION_LIMIT)

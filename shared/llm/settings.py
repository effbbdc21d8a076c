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
    "gpt-4o-mini": ModelPrice(input_per_million=0.15, output_per_million=0.60),
    "gemini-2.5-pro": ModelPrice(input_per_million=1.25, output_per_million=10.00),
    "gemini-2.5-flash": ModelPrice(input_per_million=0.30, output_per_million=2.50),
}
# Conservative first-tier quotas; raise them with VIDCURATE_MODEL_LIMITS.
DEFAULT_MODEL_LIMITS: dict[str, ModelLimit] = {
    "gpt-4.1": ModelLimit(requests_per_minute=500, tokens_per_minute=30_000),
    "gpt-4.1-mini": ModelLimit(requests_per_minute=500, tokens_per_minute=200_000),
    "gpt-4o": ModelLimit(requests_per_minute=500, tokens_per_minute=30_000),
    "gpt-4o-mini": ModelLimit(requests_per_minute=500, tokens_per_minute=200_000),
    "gemini-2.5-pro": ModelLimit(requests_per_minute=150, tokens_per_minute=2_000_000),
    "gemini-2.5-flash": ModelLimit(requests_per_minute=1_000, tokens_per_minute=1_000_000),
}
FALLBACK_MODEL_LIMIT = ModelLimit(requests_per_minute=60, tokens_per_minute=100_000)


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

"""One settings object for the whole system; nothing else reads the environment."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from shared.domain.frames import Sampling

BucketRole = Literal["annotations", "exports", "videos", "frames"]
BUCKET_ROLES: tuple[BucketRole, ...] = ("annotations", "exports", "videos", "frames")

# Config types and task names become object-name segments and document ids.
NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")

DEFAULT_TASK_SETS: dict[str, dict[str, str]] = {
    "default": {
        "subject": "subject_description",
        "scene": "scene_composition_dynamics",
        "motion": "subject_motion_dynamics",
        "spatial": "spatial_framing_dynamics",
        "camera": "camera_framing_dynamics",
    }
}


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
# VIDCURATE_MODEL_PRICES. Unknown models cost nothing in the ledger and are flagged.
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


class Settings(BaseSettings):
    """Configuration read from ``VIDCURATE_*`` variables (and a ``.env`` file if present).

    The same names are set on every deployed function by terraform, so local and cloud read
    one schema.
    """

    model_config = SettingsConfigDict(
        env_prefix="VIDCURATE_",
        env_file=".env",
        extra="ignore",
        frozen=True,
        populate_by_name=True,
    )

    backend: Literal["local", "gcp"] = Field(
        "local", description="'local': folders + SQLite; 'gcp': Cloud Storage, Firestore, Pub/Sub."
    )
    home: Path = Field(Path(".vidcurate"), description="Where the local backend keeps its data.")
    project: str = Field("vidcurate-local", description="Google Cloud project id.")
    region: str = Field("europe-west1", description="Google Cloud region.")
    firestore_database: str = Field("(default)", description="Firestore database id.")

    annotations_bucket: str = "vidcurate-annotations"
    exports_bucket: str = "vidcurate-exports"
    videos_bucket: str = "vidcurate-videos"
    frames_bucket: str = "vidcurate-frames"

    max_delivery_attempts: int = Field(
        5, ge=5, le=100, description="Attempts before the dead-letter topic (Pub/Sub: 5-100)."
    )
    ack_deadline_seconds: float = Field(60.0, gt=0, description="Lease of a pulled message.")
    min_backoff_seconds: float = Field(1.0, ge=0, description="First retry delay.")
    max_backoff_seconds: float = Field(60.0, ge=0, description="Longest retry delay.")
    workers: int = Field(4, ge=1, le=256, description="Local runtime worker threads.")
    scan_interval_seconds: float = Field(
        0.5, gt=0, description="How often the local runtime looks for files dropped by hand."
    )
    max_event_age_seconds: float = Field(
        7 * 24 * 3600.0, gt=0, description="Events older than this are dropped, not retried."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = "INFO"

    task_sets: dict[str, dict[str, str]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_TASK_SETS.items()},
        description=(
            "Caption task sets by config type: {config_type: {task: long name}}, as JSON in "
            "VIDCURATE_TASK_SETS. 'default' is always present unless redefined."
        ),
    )
    max_annotation_bytes: int = Field(
        256 << 10,
        gt=0,
        le=300 << 10,
        description=(
            "Largest feedback/review file ingested; bigger ones are quarantined. At most "
            "300 KiB: a task document holds three files and must stay under Firestore's 1 MiB."
        ),
    )
    max_video_list_bytes: int = Field(
        64 << 20, gt=0, description="Largest videos/*.jsonl file ingested."
    )

    hf_token: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HF_TOKEN", "VIDCURATE_HF_TOKEN", "hf_token"),
        description="Hugging Face token (HF_TOKEN; Secret Manager in the cloud). Never logged.",
    )
    hf_endpoint: str = Field(
        "https://huggingface.co",
        validation_alias=AliasChoices("VIDCURATE_HF_ENDPOINT", "HF_ENDPOINT", "hf_endpoint"),
        description="Hugging Face Hub URL (HF_ENDPOINT).",
    )
    hf_dataset: str | None = Field(
        None, description="Default dataset repo (OWNER/NAME) that exports are published to."
    )
    hf_private: bool = Field(True, description="Create the dataset repo as private.")
    hub_max_attempts: int = Field(5, ge=1, le=20, description="Tries per Hub request.")
    hub_max_seconds: float = Field(
        120.0, gt=0, description="Longest time spent retrying one Hub request."
    )

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
    video_tokens_estimate: int = Field(
        18_000,
        ge=0,
        description=(
            "Input tokens a video is counted as in cost estimates (about 60 s at Gemini's "
            "~300 tokens per second of video and audio)."
        ),
    )
    max_shard_bytes: int = Field(
        64 << 30,
        gt=0,
        description=(
            "Largest dataset shard pulled (checked while it downloads); the cloud function "
            "downloads into memory, so terraform sets it below the function's memory."
        ),
    )
    frame_sampling: Sampling = Field(
        default_factory=Sampling,
        description=(
            'How extract_frames samples every clip (JSON, e.g. {"interval_seconds": 10, '
            '"max_frames": 3}); see shared/domain/frames.py.'
        ),
    )
    frame_jpeg_quality: int = Field(85, ge=1, le=95, description="JPEG quality of frames.")
    vision_model: str = Field("gpt-4o-mini", description="Model that describes frames.")
    vision_max_output_tokens: int = Field(
        150, ge=16, le=4096, description="Most output tokens of one frame description."
    )
    frame_max_side: int | None = Field(
        None, ge=16, description="Scale frames down to this longer side (None: as decoded)."
    )
    model_prices: dict[str, ModelPrice] = Field(
        default_factory=lambda: dict(DEFAULT_MODEL_PRICES),
        description="USD per million input/output tokens by model (JSON), merged over defaults.",
    )
    model_limits: dict[str, ModelLimit] = Field(
        default_factory=lambda: dict(DEFAULT_MODEL_LIMITS),
        description="Requests and tokens per minute by model (JSON), merged over defaults.",
    )

    @field_validator("model_prices")
    @classmethod
    def _merge_prices(cls, value: dict[str, ModelPrice]) -> dict[str, ModelPrice]:
        return {**DEFAULT_MODEL_PRICES, **value}

    @field_validator("model_limits")
    @classmethod
    def _merge_limits(cls, value: dict[str, ModelLimit]) -> dict[str, ModelLimit]:
        return {**DEFAULT_MODEL_LIMITS, **value}

    def model_limit(self, model: str) -> ModelLimit:
        """The quota of ``model`` (a conservative fallback for unknown models)."""
        return self.model_limits.get(model, FALLBACK_MODEL_LIMIT)

    @field_validator("task_sets")
    @classmethod
    def _check_task_sets(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        merged = {k: dict(v) for k, v in DEFAULT_TASK_SETS.items()}
        merged.update(value)
        for config_type, tasks in merged.items():
            if not NAME_PATTERN.fullmatch(config_type) or config_type == "videos":
                raise ValueError(f"task_sets: invalid config type name {config_type!r}")
            if not tasks:
                raise ValueError(f"task_sets.{config_type}: no tasks")
            for task, long_name in tasks.items():
                if not NAME_PATTERN.fullmatch(task) or task == "videos":
                    raise ValueError(f"task_sets.{config_type}: invalid task name {task!r}")
                if not long_name:
                    raise ValueError(f"task_sets.{config_type}.{task}: empty long name")
        return merged

    def bucket(self, role: BucketRole) -> str:
        """The bucket name configured for a role."""
        names: dict[BucketRole, str] = {
            "annotations": self.annotations_bucket,
            "exports": self.exports_bucket,
            "videos": self.videos_bucket,
            "frames": self.frames_bucket,
        }
        return names[role]

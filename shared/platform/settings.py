"""Settings every capability reads: backend, stores, buckets, the bus, logging, Hub access.

Each capability has its own settings class (``shared/<capability>/settings.py``) built on
:class:`PlatformSettings` and reading the same ``VIDCURATE_*`` names; the composition root
(``shared/config.py``) combines them into the one ``Settings`` a process reads. Nothing
else reads the environment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

BucketRole = Literal[
    "annotations",
    "exports",
    "videos",
    "frames",
    "sets",
    "evaluations",
    "models",
    "features",
    "discovery",
]
BUCKET_ROLES: tuple[BucketRole, ...] = (
    "annotations",
    "exports",
    "videos",
    "frames",
    "sets",
    "evaluations",
    "models",
    "features",
    "discovery",
)

# Objects rewritten so often that their replaced versions are only cost, by bucket role and
# name ending: a training job's resume checkpoint is rewritten every epoch. The versioned
# buckets delete such versions once replaced (terraform/buckets.tf's lifecycle rule); the
# local folders do not keep them.
VERSIONS_NOT_KEPT: dict[BucketRole, tuple[str, ...]] = {"models": ("_last.pt",)}


class PlatformSettings(BaseSettings):
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
    sets_bucket: str = Field(
        "vidcurate-sets", description="Training image sets: <set id>/<image> and manifests."
    )
    evaluations_bucket: str = Field(
        "vidcurate-evaluations",
        description=(
            "Set evaluations (sheets, verdicts, plans): outside the sets bucket, so writing one "
            "never triggers anything there."
        ),
    )
    models_bucket: str = Field(
        "vidcurate-models",
        description=(
            "Active-learning rounds (rounds/round_NN/: splits, checkpoints, metrics, queues) "
            "and the base weights a team uploads."
        ),
    )
    features_bucket: str = Field(
        "vidcurate-features",
        description=(
            "Feature extraction: runs' manifests, one result object per (video, extractor, "
            "version), failures, and the Parquet tables."
        ),
    )
    discovery_bucket: str = Field(
        "vidcurate-discovery",
        description=(
            "Word discovery: search answers per word, clips between download and storing "
            "(scratch/), and the stored clips the API serves (videos/<id>.<format>)."
        ),
    )
    run_api_endpoint: str | None = Field(
        None,
        description=(
            "Another Cloud Run Admin API endpoint (http://host:port, REST, no credentials): "
            "a local stand-in for tests."
        ),
    )

    max_delivery_attempts: int = Field(
        5,
        ge=5,
        le=100,
        description=(
            "Failures of a handler before its message goes to the dead-letter topic (the"
            " local bus's attempts; in the cloud the entry point's count, see"
            " handler_dead_letters)."
        ),
    )
    handler_dead_letters: bool = Field(
        False,
        description=(
            "The entry point forwards a message to its dead-letter topic itself after"
            " max_delivery_attempts failures of its handler (set on the deployed functions,"
            " whose push subscriptions also count refused deliveries as attempts)."
        ),
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

    # Hub access: publishing uploads exports, shard pulls read datasets.
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
    hub_max_attempts: int = Field(5, ge=1, le=20, description="Tries per Hub request.")
    hub_max_seconds: float = Field(
        120.0, gt=0, description="Longest time spent retrying one Hub request."
    )

    def hub_token(self) -> str | None:
        """The Hugging Face token as configured, stripped (None when there is none)."""
        secret = self.hf_token.get_secret_value().strip() if self.hf_token is not None else ""
        return secret or None

    def bucket(self, role: BucketRole) -> str:
        """The bucket name configured for a role."""
        names: dict[BucketRole, str] = {
            "annotations": self.annotations_bucket,
            "exports": self.exports_bucket,
            "videos": self.videos_bucket,
            "frames": self.frames_bucket,
            "sets": self.sets_bucket,
            "evaluations": self.evaluations_bucket,
            "models": self.models_bucket,
            "features": self.features_bucket,
            "discovery": self.discovery_bucket,
        }
        return names[role]

    def versions_not_kept(self) -> dict[str, tuple[str, ...]]:
        """Bucket name -> the name endings whose replaced versions are not kept."""
        return {self.bucket(role): endings for role, endings in VERSIONS_NOT_KEPT.items()}

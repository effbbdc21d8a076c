"""Settings of feature extraction: the job, the limits a video must be within, and where the
videos are."""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import Field

from shared.media import MediaSettings

__all__ = ["FeatureSettings", "Limits"]


@dataclass(frozen=True)
class Limits:
    """What a video must be to be extracted."""

    max_seconds: float = 3600.0
    min_side: int = 16
    max_side: int = 8192


class FeatureSettings(MediaSettings):
    """``VIDCURATE_FEATURES_*``."""

    features_job: str = Field(
        "vidcurate-features",
        description="The Cloud Run job `vidcurate features run --where cloud` starts.",
    )
    features_prefix: str = Field(
        "",
        description=(
            "The videos bucket prefix `features run` scans when --prefix is not given "
            "(e.g. videos/01_filtered/)."
        ),
    )
    features_max_seconds: float = Field(
        3600.0, gt=0, description="Longer videos are recorded as failed, not extracted."
    )
    features_min_side: int = Field(16, ge=1, description="Smaller pictures are refused.")
    features_max_side: int = Field(8192, ge=16, description="Larger pictures are refused.")
    features_follow_seconds: float = Field(
        10.0, gt=0, description="How often `features run` reports progress while it waits."
    )

    def feature_limits(self) -> Limits:
        """The limits a video must be within."""
        return Limits(
            max_seconds=self.features_max_seconds,
            min_side=self.features_min_side,
            max_side=self.features_max_side,
        )

"""Settings of Hub publishing: the default dataset repo and its visibility."""

from __future__ import annotations

from pydantic import Field

from shared.platform.settings import PlatformSettings


class PublishingSettings(PlatformSettings):
    """Where exports are published (credentials are the platform's Hub settings)."""

    hf_dataset: str | None = Field(
        None, description="Default dataset repo (OWNER/NAME) that exports are published to."
    )
    hf_private: bool = Field(True, description="Create the dataset repo as private.")

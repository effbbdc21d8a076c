"""Settings of clips: frame sampling and encoding, shard size cap."""

from __future__ import annotations

from pydantic import Field

from shared.media.sampling import ANALYSIS_SAMPLING, Sampling
from shared.platform.settings import PlatformSettings


class MediaSettings(PlatformSettings):
    """How clips are sampled into frames, and the largest dataset shard pulled."""

    max_shard_bytes: int = Field(
        64 << 30,
        gt=0,
        description=(
            "Largest dataset shard pulled (checked while it downloads); the cloud function "
            "downloads into memory, so terraform sets it below the function's memory."
        ),
    )
    frame_sampling: Sampling = Field(
        ANALYSIS_SAMPLING,
        description=(
            "How extract_frames samples every clip, for analysis (JSON; default the middle of "
            'each 10 s slot of the first 30 s: {"mode": "window", "window_end": 30}; every '
            '10 s from 0: {"interval_seconds": 10, "max_frames": 3}); see '
            "shared/media/sampling.py."
        ),
    )
    frame_jpeg_quality: int = Field(85, ge=1, le=95, description="JPEG quality of frames.")
    frame_max_side: int | None = Field(
        None, ge=16, description="Scale frames down to this longer side (None: as decoded)."
    )
    hf_video_dataset: str | None = Field(
        None,
        description=(
            "The Hugging Face video dataset (OWNER/NAME) that `vidcurate videos pull` reads "
            "when --dataset is not given (VIDCURATE_HF_VIDEO_DATASET)."
        ),
    )

"""Feature extraction over whole video collections: five extractors (technical, shots,
motion, quality, text) fed by one decode per video, run as sharded tasks over a frozen
manifest, one result object per (video, extractor, version), consolidated into Parquet."""

from shared.features.extract import Limits, VideoRejectedError, extract_video, plan, schedule
from shared.features.extractors import EXTRACTORS, Extractor, ExtractorSpec, Needs

__all__ = [
    "EXTRACTORS",
    "Extractor",
    "ExtractorSpec",
    "Limits",
    "Needs",
    "VideoRejectedError",
    "extract_video",
    "plan",
    "schedule",
]

"""Feature extraction over video collections (being built): extractors with a name, a
version, what they need from the decoder and a typed result, fed by one decode per video.
So far ``technical`` and ``quality``; shots, motion and on-screen text, the sharded job, the
collection's manifest and the Parquet tables come next."""

from shared.features.extract import extract_video, schedule
from shared.features.extractors import EXTRACTORS, Extractor, Needs

__all__ = ["EXTRACTORS", "Extractor", "Needs", "extract_video", "schedule"]

"""Feature extraction over whole video collections: five extractors (technical, shots,
motion, quality, text) fed by one decode per video, run as sharded tasks over a frozen
manifest, one result object per (video, extractor, version), consolidated into Parquet.

The package's surface is light (the specs and the settings): decoding and the extractors'
libraries are in :mod:`shared.features.extract` and the extractor modules, imported by what
runs them."""

from shared.features.settings import FeatureSettings, Limits
from shared.features.specs import EXTRACTORS, ExtractorSpec, Needs

__all__ = ["EXTRACTORS", "ExtractorSpec", "FeatureSettings", "Limits", "Needs"]

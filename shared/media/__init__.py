"""Clips: sampling semantics, decoding (PyAV), audio, contact sheets, the videos bucket's
clips and their frames, and dataset shard pulls.

The public surface other capabilities (vision, and the coming trainsets, learning,
discovery) may use: where clips are indexed and how datasets are prefixed, the sampling
model and the settings, and contact sheets (Pillow is imported only when one is drawn).
"""

from shared.media.clips import is_clip, video_key
from shared.media.grids import contact_sheet
from shared.media.sampling import Sampling
from shared.media.settings import MediaSettings
from shared.media.shards.messages import dataset_prefix
from shared.media.store import CLIPS, clip_id

__all__ = [
    "CLIPS",
    "MediaSettings",
    "Sampling",
    "clip_id",
    "contact_sheet",
    "dataset_prefix",
    "is_clip",
    "video_key",
]

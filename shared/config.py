"""The one settings object a process reads: every capability's settings together.

Each capability declares its own settings class (``shared/<capability>/settings.py``) over
:class:`~shared.platform.settings.PlatformSettings`; they all read ``VIDCURATE_*`` names, so
terraform sets one environment for every function. This module (beside the composition
root) combines them; capabilities never import it.
"""

from __future__ import annotations

from shared.critiques.settings import CritiqueSettings
from shared.discovery.settings import DiscoverySettings
from shared.features.settings import FeatureSettings
from shared.learning.settings import LabelSettings
from shared.media.settings import MediaSettings
from shared.trainsets.settings import TrainsetSettings
from shared.vision.settings import VisionSettings


class Settings(
    CritiqueSettings,
    DiscoverySettings,
    VisionSettings,
    TrainsetSettings,
    LabelSettings,
    FeatureSettings,
    MediaSettings,
):
    """Every ``VIDCURATE_*`` setting of the system."""

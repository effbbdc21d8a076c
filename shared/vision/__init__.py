"""Vision analysis of sampled frames: one job per clip, each frame described once, costed."""

from shared.vision.settings import VisionSettings

__all__ = ["VisionSettings"]

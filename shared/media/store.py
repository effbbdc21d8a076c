"""Collections and document ids of clips: one ``clips/<id>`` document per object of the
videos bucket."""

from __future__ import annotations

import hashlib

CLIPS = "clips"


def clip_id(bucket: str, name: str) -> str:
    """The document id of a clip (object names may hold characters ids may not)."""
    return hashlib.sha256(f"{bucket}/{name}".encode()).hexdigest()[:32]

"""Sample clips into a local folder (frames extract)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

from shared.core.errors import PermanentError
from shared.media.decode import encode_jpeg, open_clip
from shared.media.sampling import Sampling


def extract_to_folder(
    clip_path: Path,
    out_dir: Path,
    sampling: Sampling,
    *,
    quality: int = 85,
    max_side: int | None = None,
) -> dict[str, Any]:
    """Sample ``clip_path`` into ``out_dir/<clip stem>/<timestamp ms>.jpg`` plus index.json;
    returns the index."""
    folder = out_dir / clip_path.stem
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise PermanentError(f"{folder}: cannot write frames there ({exc})") from exc
    frames: list[dict[str, Any]] = []
    past_end: list[float] = []
    with open_clip(clip_path, name=str(clip_path)) as clip:
        for item in clip.sample(sampling):
            if isinstance(item, float):
                past_end.append(item)
                continue
            data = encode_jpeg(item.image, quality=quality, max_side=max_side)
            path = folder / f"{item.timestamp_ms}.jpg"
            path.write_bytes(data)
            width, height = Image.open(io.BytesIO(data)).size
            frames.append(
                {
                    "timestamp": item.timestamp,
                    "path": str(path),
                    "width": width,
                    "height": height,
                    "targets": list(item.targets),
                }
            )
        info = clip.info
    index: dict[str, Any] = {"video": str(clip_path), "frames": frames}
    if past_end:
        index["past_end"] = past_end
    index["clip"] = {
        "codec": info.codec,
        "width": info.width,
        "height": info.height,
        "duration": info.duration,
        "fps": info.fps,
    }
    (folder / "index.json").write_text(json.dumps(index, indent=2))
    return index

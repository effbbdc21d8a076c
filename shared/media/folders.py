"""Sample clips into a local folder (frames extract)."""

from __future__ import annotations

import io
import json
import shutil
import tempfile
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
    final = out_dir / clip_path.stem
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        # Written beside, then swapped in: a re-extraction leaves no stale frame behind, and
        # a failed one leaves the previous frames as they were.
        folder = Path(tempfile.mkdtemp(dir=out_dir, prefix=f".{clip_path.stem}."))
        folder.chmod(0o755)  # as a folder made with mkdir would be
    except OSError as exc:
        raise PermanentError(
            f"{out_dir}: cannot write frames there ({exc.strerror or exc})"
        ) from exc
    try:
        index = _extract(clip_path, folder, final, sampling, quality=quality, max_side=max_side)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    if final.exists():
        shutil.rmtree(final)
    folder.rename(final)
    return index


def _extract(
    clip_path: Path,
    folder: Path,
    final: Path,
    sampling: Sampling,
    *,
    quality: int,
    max_side: int | None,
) -> dict[str, Any]:
    """Sample into ``folder``, recording the paths the frames will have in ``final``."""
    frames: list[dict[str, Any]] = []
    past_end: list[float] = []
    with open_clip(clip_path, name=str(clip_path)) as clip:
        for item in clip.sample(sampling):
            if isinstance(item, float):
                past_end.append(item)
                continue
            data = encode_jpeg(item.image, quality=quality, max_side=max_side)
            path = final / f"{item.timestamp_ms}.jpg"
            (folder / path.name).write_bytes(data)
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

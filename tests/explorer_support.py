"""Clips for the explorer tests: real short videos added to the videos bucket and sampled by
``extract_frames``, their frames described by the offline vision model, as `vidcurate videos
add` and `vidcurate frames analyze` do."""

from __future__ import annotations

import io
from pathlib import Path

from clips import make_clip
from rich.console import Console

from shared.bootstrap import use_context
from shared.cli.frames import analyze
from shared.cli.videos import add_videos
from shared.config import Settings
from shared.platform.context import Context
from shared.vision.messages import AnalysisRequest


def add_described_clips(
    services: Context[Settings], folder: Path, count: int = 2, *, seconds: float = 30.0
) -> list[str]:
    """``count`` clips of ``seconds`` (frames at 5, 15 and 25 s), under ``demo/``, each with
    metadata, sampled and described; their object names."""
    console = Console(file=io.StringIO(), width=200)
    folder.mkdir(parents=True, exist_ok=True)
    use_context(services)
    try:
        names = []
        for n in range(count):
            path = folder / f"clip{n}.mp4"
            make_clip(path, seconds=seconds, fps=4, size=(160, 96), gop=8)
            failed = add_videos(console, services, [path], prefix="demo",
                                metadata={"factory_id": f"F{n}", "worker_id": f"W{n}"})  # fmt: skip
            assert failed == 0, console.file.getvalue()  # type: ignore[attr-defined]
            names.append(f"demo/{path.name}")
        assert analyze(console, services, AnalysisRequest(dataset="demo"), out=None) == 0
        return names
    finally:
        use_context(None)

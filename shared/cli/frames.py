"""``vidcurate frames ...``: sample local clips and show what was written."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.domain.frames import Sampling
from shared.errors import VidcurateError
from shared.services.frames import extract_to_folder


def extract(
    console: Console,
    videos: list[Path],
    out: Path,
    sampling: Sampling,
    *,
    quality: int,
    max_side: int | None,
) -> int:
    """Sample every clip into ``out``; returns how many clips failed (each says why)."""
    table = Table(title=f"Frames written under {out}")
    for column in ("clip", "frames", "timestamps (s)", "note"):
        table.add_column(column, justify="right" if column == "frames" else "left")
    failed = 0
    progress = Progress(
        TextColumn("sampling {task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    )
    with progress:
        task = progress.add_task("clips", total=len(videos))
        for video in videos:
            progress.update(task, description=video.name)
            try:
                if not video.is_file():
                    raise VidcurateError(f"{video}: no such file")
                index = extract_to_folder(video, out, sampling, quality=quality, max_side=max_side)
            except VidcurateError as exc:
                failed += 1
                table.add_row(video.name, "0", "", f"[red]failed:[/] {exc}")
            else:
                stamps = ", ".join(f"{f['timestamp']:.3f}" for f in index["frames"])
                past = index.get("past_end") or []
                note = f"past the end: {', '.join(f'{t:g}' for t in past)}" if past else ""
                table.add_row(video.name, str(len(index["frames"])), stamps, note)
            progress.advance(task)
    console.print(table)
    return failed

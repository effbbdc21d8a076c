"""``vidcurate frames ...``: sample local clips and show what was written."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.bootstrap import Services, build_runtime
from shared.cli.progress import runtime_progress
from shared.domain.frames import Sampling
from shared.errors import VidcurateError
from shared.services.frames import extract_to_folder
from shared.services.videos import add_clips, clip_report


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


def add_videos(
    console: Console,
    services: Services,
    files: list[Path],
    *,
    prefix: str,
    metadata: dict[str, str],
) -> int:
    """Upload clips; on the local backend deliver the events (extract_frames) and show
    each clip's frames. Returns how many clips failed to sample."""
    added = add_clips(services, files, prefix=prefix, metadata=metadata)
    bucket = services.settings.videos_bucket
    written = sum(1 for _path, _info, new in added if new)
    console.print(f"{written} clip(s) written to gs://{bucket}/ ({len(added) - written} unchanged)")
    if services.settings.backend != "local":
        console.print("extract_frames samples them as their events arrive")
        return 0
    with runtime_progress(console, services) as on_progress:
        build_runtime(services, on_progress=on_progress).run_until_idle(timeout=3600)
    table = Table(title=f"Frames in gs://{services.settings.frames_bucket}/")
    for column in ("clip", "status", "frames", "timestamps (s)", "note"):
        table.add_column(column)
    failed = 0
    for _path, info, _new in added:
        report = clip_report(services, bucket, info.name) or {}
        status = str(report.get("status", "not sampled"))
        failed += status not in ("done",)
        frames = report.get("frames") or []
        stamps = ", ".join(f"{f['timestamp']:.3f}" for f in frames)
        note = str(report.get("error") or "")
        table.add_row(info.name, status, str(len(frames)), stamps, note)
    console.print(table)
    return failed

"""``vidcurate videos add|pull``: clips into the videos bucket, from local files or from the
tar shards of a Hugging Face dataset; locally, their frames sampled right away."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shared.cli.running import run_locally, run_until_idle
from shared.cli.session import console, exit_if, session
from shared.cli.tables import table
from shared.config import Settings
from shared.core.errors import VidcurateError
from shared.media.clips import add_clips, clip_report
from shared.media.shards.messages import dataset_prefix
from shared.media.shards.pull import pull_shard, request_shard_pulls, resolve_shards
from shared.media.shards.store import PullProgress
from shared.platform.context import Context

videos_app = typer.Typer(help="Clips in the videos bucket.", no_args_is_help=True)


@videos_app.command("add")
def videos_add(
    files: Annotated[
        list[Path], typer.Argument(help="Local clips (a <stem>.json beside one: its metadata).")
    ],
    prefix: Annotated[
        str, typer.Option("--prefix", help="Object name prefix in the bucket.")
    ] = "local",
    meta: Annotated[
        list[str] | None,
        typer.Option("--meta", help="KEY=VALUE metadata for every clip (repeatable)."),
    ] = None,
) -> None:
    """Put local clips into the videos bucket; locally, sample their frames until idle."""
    metadata: dict[str, str] = {}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--meta")
        metadata[key.strip()] = value
    with session() as services:
        failed = add_videos(console, services, files, prefix=prefix, metadata=metadata)
    exit_if(failed)


@videos_app.command("pull")
def videos_pull(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--dataset",
            help="Hugging Face dataset OWNER/NAME (default: VIDCURATE_HF_VIDEO_DATASET).",
        ),
    ] = None,
    shard: Annotated[
        list[str] | None,
        typer.Option(
            "--shard", help="Shard index (in the sorted .tar list) or file name (default: 0)."
        ),
    ] = None,
    all_shards: Annotated[bool, typer.Option("--all", help="Every shard of the dataset.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Pull shards again that were pulled already.")
    ] = False,
) -> None:
    """Download whole tar shards and stream their clips (with their JSON) into the bucket."""
    # Without --shard or --all, the first shard: a dataset is tried on one shard first.
    selectors = shard or ([] if all_shards else ["0"])
    with session() as services:
        name = dataset or services.settings.hf_video_dataset
        if not name:
            raise typer.BadParameter(
                "name the dataset (OWNER/NAME), or set VIDCURATE_HF_VIDEO_DATASET",
                param_hint="--dataset",
            )
        failed = pull(console, services, name, selectors, all_shards=all_shards, force=force)
    exit_if(failed)


def add_videos(
    console: Console,
    services: Context[Settings],
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
    elsewhere = "extract_frames samples them as their events arrive"
    if run_locally(console, services, timeout=3600, elsewhere=elsewhere) is None:
        return 0
    frames = table(
        f"Frames in gs://{services.settings.frames_bucket}/",
        ("clip", "status", "frames", "timestamps (s)", "note"),
    )
    failed = 0
    for _path, info, _new in added:
        report = clip_report(services, bucket, info.name) or {}
        status = str(report.get("status", "not sampled"))
        failed += status not in ("done",)
        sampled = report.get("frames") or []
        stamps = ", ".join(f"{f['timestamp']:.3f}" for f in sampled)
        note = str(report.get("error") or "")
        frames.add_row(info.name, status, str(len(sampled)), stamps, note)
    console.print(frames)
    return failed


def pull(
    console: Console,
    services: Context[Settings],
    dataset: str,
    selectors: list[str],
    *,
    all_shards: bool,
    force: bool,
) -> int:
    """Pull shards (locally, then sample the new clips); how many shards failed."""
    shards = resolve_shards(services.shard_source(), dataset, selectors, all_shards=all_shards)
    if services.settings.backend != "local":
        ids = request_shard_pulls(services, dataset, shards, force=force, requested_by="cli")
        console.print(f"published {len(ids)} dataset-shards message(s): {', '.join(shards)}")
        return 0
    columns = ("shard", "outcome", "samples", "clips written", "already there", "skipped", "note")
    pulled = table(
        f"Shards of {dataset} -> gs://{services.settings.videos_bucket}/",
        columns,
        right=columns[1:-1],
    )
    failed = _pull_shards(console, services, dataset, shards, pulled, force=force)
    console.print(pulled)
    run_until_idle(console, services, timeout=24 * 3600)
    console.print(
        "frames sampled from the new clips: `vidcurate frames analyze --dataset "
        f"{dataset_prefix(dataset)}` describes them"
    )
    return failed


def _pull_shards(
    console: Console,
    services: Context[Settings],
    dataset: str,
    shards: list[str],
    pulled: Table,
    *,
    force: bool,
) -> int:
    """Pull each shard with a download bar, a row each in ``pulled``; how many failed."""
    failed = 0
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TextColumn("{task.fields[samples]} samples"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        for shard in shards:
            task = progress.add_task(f"{shard}", total=None, samples=0)

            def report(state: PullProgress, task: TaskID = task) -> None:
                progress.update(
                    task,
                    description=f"{state.phase} {state.shard}",
                    completed=state.bytes_done,
                    total=state.bytes_total,
                    samples=state.samples,
                )

            try:
                result = pull_shard(services, dataset, shard, on_progress=report, force=force)
            except VidcurateError as exc:
                failed += 1
                pulled.add_row(shard, "[red]failed[/]", "", "", "", "", escape(str(exc)))
                continue
            finally:
                progress.remove_task(task)
            note = f"{len(result.errors)} sample(s) not stored" if result.errors else ""
            pulled.add_row(
                shard,
                result.outcome,
                str(result.samples),
                str(result.clips_written),
                str(result.clips_present),
                str(result.skipped),
                note,
            )
    return failed

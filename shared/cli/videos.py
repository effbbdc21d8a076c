"""``vidcurate videos add|pull``: clips into the videos bucket, from local files or from the
tar shards of a Hugging Face dataset; locally, their frames sampled right away."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

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
from shared.cli.session import JsonOption, console, echo_json, exit_if, output_console, session
from shared.cli.tables import table
from shared.config import Settings
from shared.core.errors import VidcurateError
from shared.media.adding import add_clips
from shared.media.clips import clip_report
from shared.media.shards.messages import SamplePick, dataset_prefix, random_quotas
from shared.media.shards.pull import pull_shard, request_shard_pulls, resolve_shards
from shared.media.shards.store import PullProgress, PullResult
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
    as_json: JsonOption = False,
) -> None:
    """Put local clips into the videos bucket; locally, sample their frames until idle."""
    metadata: dict[str, str] = {}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--meta")
        metadata[key.strip()] = value
    clips: list[dict[str, Any]] = []
    with session() as services:
        failed = add_videos(
            output_console(as_json), services, files, prefix=prefix, metadata=metadata,
            reports=clips.append,
        )  # fmt: skip
    if as_json:
        echo_json(clips)
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
    random_clips: Annotated[
        int | None,
        typer.Option(
            "--random",
            min=1,
            help="N clips at random across the shards (or across the --shard ones).",
        ),
    ] = None,
    seed: Annotated[
        int, typer.Option("--seed", help="Random seed of --random (same seed, same clips).")
    ] = 42,
) -> None:
    """Download whole tar shards and stream their clips (with their JSON) into the bucket."""
    # Without --shard or --all, the first shard: a dataset is tried on one shard first;
    # --random draws from every shard unless --shard names some.
    selectors = shard or ([] if all_shards or random_clips else ["0"])
    all_shards = all_shards or (random_clips is not None and not shard)
    with session() as services:
        name = dataset or services.settings.hf_video_dataset
        if not name:
            raise typer.BadParameter(
                "name the dataset (OWNER/NAME), or set VIDCURATE_HF_VIDEO_DATASET",
                param_hint="--dataset",
            )
        failed = pull(
            console,
            services,
            name,
            selectors,
            all_shards=all_shards,
            force=force,
            random_clips=random_clips,
            seed=seed,
        )
    exit_if(failed)


def add_videos(
    console: Console,
    services: Context[Settings],
    files: list[Path],
    *,
    prefix: str,
    metadata: dict[str, str],
    reports: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Upload clips; on the local backend deliver the events (extract_frames) and show
    each clip's frames (and tell ``reports`` each clip's). How many clips failed to sample."""
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
    for _path, info, new in added:
        report = clip_report(services, bucket, info.name) or {}
        status = str(report.get("status", "not sampled"))
        failed += status not in ("done",)
        sampled = report.get("frames") or []
        stamps = ", ".join(f"{f['timestamp']:.3f}" for f in sampled)
        note = str(report.get("error") or "")
        frames.add_row(info.name, status, str(len(sampled)), stamps, note)
        if reports is not None:
            reports(
                {
                    "clip": info.name,
                    "written": new,
                    "status": status,
                    "frames": [f["timestamp"] for f in sampled],
                    "error": report.get("error"),
                    "metadata": report.get("metadata"),
                }
            )
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
    random_clips: int | None = None,
    seed: int = 42,
) -> int:
    """Pull shards, or ``random_clips`` clips at random across them (locally, then sample
    the new clips); how many shards failed."""
    shards = resolve_shards(services.shard_source(), dataset, selectors, all_shards=all_shards)
    picks: dict[str, SamplePick] = {}
    if random_clips is not None:
        quotas = random_quotas(shards, random_clips, seed)
        picks = {shard: SamplePick(count=n, seed=seed) for shard, n in quotas.items()}
        console.print(
            f"{random_clips} clip(s) at random (seed {seed}) from {len(picks)} of "
            f"{len(shards)} shard(s)"
        )
    if services.settings.backend != "local":
        chosen = list(picks) if picks else shards
        ids = request_shard_pulls(
            services, dataset, chosen, force=force, requested_by="cli", picks=picks
        )
        console.print(f"published {len(ids)} dataset-shards message(s): {', '.join(chosen)}")
        return 0
    columns = ("shard", "outcome", "samples", "clips written", "already there", "skipped", "note")
    pulled = table(
        f"Shards of {dataset} -> gs://{services.settings.videos_bucket}/",
        columns,
        right=columns[1:-1],
    )
    if picks:
        failed = _pull_random(console, services, dataset, shards, picks, pulled, force=force)
    else:
        results = _pull_shards(console, services, dataset, shards, pulled, force=force)
        failed = sum(result is None for result in results.values())
    console.print(pulled)
    run_until_idle(console, services, timeout=24 * 3600)
    console.print(
        "frames sampled from the new clips: `vidcurate frames analyze --prefix "
        f"{dataset_prefix(dataset)}` describes them"
    )
    return failed


def _pull_random(
    console: Console,
    services: Context[Settings],
    dataset: str,
    shards: list[str],
    picks: dict[str, SamplePick],
    pulled: Table,
    *,
    force: bool,
) -> int:
    """Pull the picks. A shard holding fewer clips than were drawn from it leaves the rest
    to the shards not drawn (in the seed's order), then to drawn shards with clips left
    (pulled again for more: the clips they gave stay picked). How many pulls failed."""
    wanted = sum(pick.count for pick in picks.values())
    seed = next(iter(picks.values())).seed
    results = _pull_shards(console, services, dataset, list(picks), pulled, force=force,
                           picks=picks)  # fmt: skip
    counts = {shard: pick.count for shard, pick in picks.items()}
    spare = [shard for shard in shards if shard not in picks]
    random.Random(seed).shuffle(spare)  # noqa: S311 (reproducible, not secret)
    while (got := sum(_clips(r) for r in results.values())) < wanted:
        short = wanted - got
        if spare:
            shard, count = spare.pop(0), short
        else:
            more = {
                shard: result.available
                for shard, result in results.items()
                if result is not None and (result.available or 0) > counts[shard]
            }
            if not more:
                break
            shard, available = next(iter(more.items()))
            count = min(available or 0, counts[shard] + short)
        counts[shard] = count
        again = {shard: SamplePick(count=count, seed=seed)}
        results.update(_pull_shards(console, services, dataset, [shard], pulled, force=force,
                                    picks=again))  # fmt: skip
    got = sum(_clips(r) for r in results.values())
    if got < wanted:
        console.print(f"[yellow]{got} of {wanted} clip(s)[/]: the shards hold no more")
    return sum(result is None for result in results.values())


def _clips(result: PullResult | None) -> int:
    return 0 if result is None else result.clips_written + result.clips_present


def _pull_shards(
    console: Console,
    services: Context[Settings],
    dataset: str,
    shards: list[str],
    pulled: Table,
    *,
    force: bool,
    picks: dict[str, SamplePick] | None = None,
) -> dict[str, PullResult | None]:
    """Pull each shard (or its pick) with a download bar, a row each in ``pulled``; each
    shard's result (None: it failed, saying why in its row)."""
    results: dict[str, PullResult | None] = {}
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
                pick = (picks or {}).get(shard)
                result = pull_shard(
                    services, dataset, shard, on_progress=report, force=force, pick=pick
                )
            except VidcurateError as exc:
                results[shard] = None
                pulled.add_row(shard, "[red]failed[/]", "", "", "", "", escape(str(exc)))
                continue
            finally:
                progress.remove_task(task)
            results[shard] = result
            note = f"{len(result.errors)} sample(s) not stored" if result.errors else ""
            if pick is not None:
                note = "; ".join(filter(None, (pick.describe(), note)))
            pulled.add_row(
                shard,
                result.outcome,
                str(result.samples),
                str(result.clips_written),
                str(result.clips_present),
                str(result.skipped),
                note,
            )
    return results

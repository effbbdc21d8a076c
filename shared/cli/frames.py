"""``vidcurate frames ...``: sample local clips and show what was written."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

from PIL import Image
from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from shared.bootstrap import build_runtime
from shared.cli.progress import runtime_progress
from shared.config import Settings
from shared.core.errors import PermanentError, VidcurateError
from shared.llm.ledger import summarize_costs
from shared.media.clips import add_clips, clip_report
from shared.media.folders import extract_to_folder
from shared.media.grids import contact_sheet
from shared.media.sampling import Sampling
from shared.media.shards.messages import dataset_prefix
from shared.media.shards.pull import pull_shard, request_shard_pulls, resolve_shards
from shared.media.shards.store import PullProgress
from shared.platform.context import Context
from shared.vision.messages import AnalysisRequest
from shared.vision.plan import plan_analysis
from shared.vision.store import analysis_report, export_json


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


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def _images(services: Context[Settings], sources: list[str]) -> Iterator[tuple[str, Image.Image]]:
    """``(name, image)`` for every image the sources name, in order, one at a time."""
    for source in sources:
        if source.startswith("gs://"):
            bucket, _, prefix = source.removeprefix("gs://").partition("/")
            names = sorted(
                i.name for i in services.blobs.list(bucket, prefix)
                if i.name.lower().endswith(IMAGE_SUFFIXES)
            )  # fmt: skip
            if not names:
                raise PermanentError(f"{source}: no images there")
            for name in names:
                data = services.blobs.read(bucket, name)
                yield f"gs://{bucket}/{name}", _open_image(f"gs://{bucket}/{name}", data)
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES)
            if not files:
                raise PermanentError(f"{path}: no images in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise PermanentError(f"{path}: no such file or folder")
        for file in files:
            yield str(file), _open_image(str(file), file.read_bytes())


def _open_image(name: str, data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy()
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise PermanentError(f"{name}: not an image we can open ({exc})") from exc


def grid(
    console: Console, services: Context[Settings], sources: list[str], out: Path, *, columns: int,
    cell: int,
) -> None:  # fmt: skip
    """Write the contact sheet of ``sources`` to ``out`` (JPEG, quality 90)."""
    names: list[str] = []

    def images() -> Iterator[Image.Image]:
        for name, image in _images(services, sources):
            names.append(name)
            yield image

    sheet = contact_sheet(images(), cell=cell, columns=columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, "JPEG", quality=90)
    console.print(f"{out}: {len(names)} image(s), {sheet.width}x{sheet.height} px")


def analyze(
    console: Console, services: Context[Settings], request: AnalysisRequest, *, out: Path | None
) -> int:
    """Plan (and locally, run) a frame analysis; print results and costs. Failed clips."""
    plan = plan_analysis(services, request)
    what = "would be described" if request.dry_run else "to describe"
    console.print(
        f"{plan.frames} frame(s) of {plan.clips} clip(s) {what} with {plan.model} "
        f"({plan.provider}, prompt {plan.prompt}); estimated ${plan.estimated_cost_usd:.4f}"
        + (f"; {plan.done_before} clip(s) already described" if plan.done_before else "")
        + (f"; {plan.deferred} clip(s) over --max-cost-usd, left for later" if plan.deferred
           else "")
    )  # fmt: skip
    if plan.unpriced:
        console.print(f"[yellow]no price[/] for {plan.model}: recorded as $0")
    if plan.provider == "offline":
        console.print(
            f"[yellow]offline provider[/]: no API key for {plan.model}, descriptions are "
            f"rule-based and free (with a key: about ${plan.list_price_usd:.4f})"
        )
    if request.dry_run:
        return 0
    if services.settings.backend == "local" and plan.published:
        with runtime_progress(console, services) as on_progress:
            build_runtime(services, on_progress=on_progress).run_until_idle(timeout=3600)
    elif plan.published:
        console.print(f"published {plan.published} job(s) to frame-analysis")
        return 0
    rows = analysis_report(services, plan.clip_names)
    if not rows:
        console.print("nothing new to describe")
    table = Table(title="Frame descriptions")
    for column in ("clip", "t (s)", "description", "tokens in/out", "USD"):
        table.add_column(column, overflow="fold")
    failed = 0
    for row in rows:
        failed += row.get("status") == "failed"
        for frame in row.get("frames") or []:
            table.add_row(
                str(row["clip"]),
                f"{frame['timestamp']:.2f}",
                escape(frame["description"]),
                f"{frame['input_tokens']}/{frame['output_tokens']}",
                f"{frame['cost_usd']:.5f}",
            )
        if row.get("error"):
            error = escape(str(row["error"]))
            table.add_row(str(row["clip"]), "", f"[red]failed:[/] {error}", "", "")
    if rows:
        console.print(table)
    costs = summarize_costs(services.documents)
    vision = costs.by_kind.get("vision", {})
    console.print(
        f"vision spend (all runs): ${float(vision.get('cost_usd', 0.0)):.4f} in "
        f"{int(vision.get('calls', 0))} call(s); `vidcurate costs` for the breakdown"
    )
    if out is not None:
        out.write_text(export_json(analysis_report(services)))
        console.print(f"results written to {out}")
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
    table = Table(title=f"Shards of {dataset} -> gs://{services.settings.videos_bucket}/")
    for column in ("shard", "outcome", "samples", "clips written", "already there",
                   "skipped", "note"):  # fmt: skip
        table.add_column(column, justify="left" if column in ("shard", "note") else "right")
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
                progress.update(task, description=f"{state.phase} {state.shard}",
                                completed=state.bytes_done, total=state.bytes_total,
                                samples=state.samples)  # fmt: skip

            try:
                result = pull_shard(services, dataset, shard, on_progress=report, force=force)
            except VidcurateError as exc:
                failed += 1
                table.add_row(shard, "[red]failed[/]", "", "", "", "", escape(str(exc)))
                continue
            finally:
                progress.remove_task(task)
            note = f"{len(result.errors)} sample(s) not stored" if result.errors else ""
            table.add_row(shard, result.outcome, str(result.samples), str(result.clips_written),
                          str(result.clips_present), str(result.skipped), note)  # fmt: skip
    console.print(table)
    with runtime_progress(console, services) as on_progress:
        build_runtime(services, on_progress=on_progress).run_until_idle(timeout=24 * 3600)
    console.print("frames sampled from the new clips: `vidcurate frames analyze --dataset "
                  f"{dataset_prefix(dataset)}` describes them")  # fmt: skip
    return failed

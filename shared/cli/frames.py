"""``vidcurate frames extract|analyze|grid``: sample local clips and show what was written,
describe sampled frames with a vision model, draw contact sheets."""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from PIL import Image, UnidentifiedImageError
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape

from shared.cli.running import run_locally
from shared.cli.session import (
    JsonOption,
    console,
    echo_json,
    exit_if,
    fail,
    fail_usage,
    output_console,
    session,
)
from shared.cli.tables import counting_progress, table
from shared.config import Settings
from shared.core.errors import PermanentError, VidcurateError
from shared.core.files import write_whole
from shared.llm.ledger import summarize_costs
from shared.media.folders import extract_to_folder
from shared.media.grids import contact_sheet, frame_label
from shared.media.sampling import Sampling
from shared.platform.context import Context
from shared.vision.messages import AnalysisRequest
from shared.vision.plan import AnalysisPlan, plan_analysis
from shared.vision.store import analysis_report, cost_report, results_json

frames_app = typer.Typer(help="Sample frames from clips (PyAV).", no_args_is_help=True)


@frames_app.command("extract")
def frames_extract(
    videos: Annotated[
        list[Path], typer.Argument(help="Clips to sample (any format FFmpeg reads).")
    ],
    out: Annotated[
        Path, typer.Option("--out", help="Writes OUT/<clip stem>/<ms>.jpg and index.json.")
    ] = Path("frames"),
    interval: Annotated[
        float | None, typer.Option("--interval", help="Every S seconds (default 10).")
    ] = None,
    max_frames: Annotated[
        int | None,
        typer.Option("--max-frames", help="At most K frames per clip (default 3; 0: no limit)."),
    ] = None,
    at: Annotated[
        str | None, typer.Option("--at", help="Explicit times in seconds: T,T,...")
    ] = None,
    window: Annotated[
        str | None,
        typer.Option("--window", help="START,END: the middle of each interval in this window."),
    ] = None,
    keyframes: Annotated[
        bool, typer.Option("--keyframes", help="Snap to the keyframe before each time (fast).")
    ] = False,
    quality: Annotated[int, typer.Option("--quality", min=1, max=95, help="JPEG quality.")] = 85,
    max_side: Annotated[
        int | None, typer.Option("--max-side", min=16, help="Scale down to this longer side.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Sample frames of local clips: the frame on screen at each time, exactly."""
    sampling = _sampling(interval, max_frames, at, window, keyframes=keyframes)
    indexes: list[dict[str, Any]] = []
    try:
        failed = extract(output_console(as_json), videos, out, sampling, quality=quality,
                         max_side=max_side, indexes=indexes.append)  # fmt: skip
    except VidcurateError as exc:
        fail(exc)
    if as_json:
        echo_json(indexes)
    exit_if(failed)


@frames_app.command("analyze")
def frames_analyze(
    dataset: Annotated[
        str | None,
        typer.Option(
            "--prefix",
            "--dataset",
            help="Only clips under this prefix of the videos bucket, or of this Hub dataset "
            "(OWNER/NAME, as `videos pull` stored it).",
        ),
    ] = None,
    max_clips: Annotated[
        int, typer.Option("--max-clips", min=1, help="Describe at most this many clips.")
    ] = 50,
    prompt: Annotated[
        str, typer.Option("--prompt", help="describe_frame or egocentric_activity.")
    ] = "describe_frame",
    model: Annotated[
        str | None, typer.Option("--model", help="Vision model (default gpt-4o-mini).")
    ] = None,
    max_cost_usd: Annotated[
        float | None, typer.Option("--max-cost-usd", help="Start no clip past this spend.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count frames and estimate cost; call nothing.")
    ] = False,
    out: Annotated[
        Path,
        typer.Option(
            "--out",
            help="The results: per clip its metadata and frame descriptions, and "
            "the run's cost report (JSON).",
        ),
    ] = Path("egocentric_analysis.json"),
) -> None:
    """Describe the sampled frames of clips with a vision model, watching the cost."""
    with session() as services:
        problem = model and services.settings.unpriced_message(model, "--model")
        if problem:
            fail_usage(problem)
        request = AnalysisRequest(
            dataset=dataset,
            max_clips=max_clips,
            prompt=prompt,
            model=model,
            max_cost_usd=max_cost_usd,
            dry_run=dry_run,
        )
        failed = analyze(console, services, request, out=out)
    exit_if(failed)


@frames_app.command("grid")
def frames_grid(
    sources: Annotated[
        list[str],
        typer.Argument(help="Images, folders of images, or gs://BUCKET/PREFIX of the store."),
    ],
    out: Annotated[Path, typer.Option("--out", help="The contact sheet (JPEG).")],
    columns: Annotated[int, typer.Option("--columns", min=1, max=50)] = 5,
    cell: Annotated[int, typer.Option("--cell", min=16, max=2000, help="Cell side (px).")] = 200,
) -> None:
    """A contact sheet: thumbnails centred in a grid on light grey, JPEG quality 90."""
    with session() as services:
        grid(console, services, sources, out, columns=columns, cell=cell)


def _seconds_list(value: str | None) -> tuple[float, ...]:
    if not value:
        return ()
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: seconds separated by commas, e.g. 5,15,25") from exc


def _sampling(
    interval: float | None,
    max_frames: int | None,
    at: str | None,
    window: str | None,
    *,
    keyframes: bool,
) -> Sampling:
    """The sampling the ``frames extract`` flags ask for; a bad flag ends the command."""
    chosen = [flag for flag, given in (("--at", at), ("--window", window),
                                       ("--keyframes", keyframes)) if given]  # fmt: skip
    if len(chosen) > 1:
        raise typer.BadParameter(f"{' and '.join(chosen)} are different samplings: choose one")
    fields: dict[str, Any] = {}
    if interval is not None:
        fields["interval_seconds"] = interval
    if max_frames is not None:
        fields["max_frames"] = max_frames or None
    if at:
        fields.update(mode="at", timestamps=_seconds_list(at))
    elif window:
        bounds = _seconds_list(window)
        if len(bounds) != 2:
            raise typer.BadParameter("START,END in seconds, e.g. 0,30", param_hint="--window")
        if bounds[1] <= bounds[0]:
            raise typer.BadParameter(
                f"END ({bounds[1]:g}) must be after START ({bounds[0]:g})", param_hint="--window"
            )
        fields.update(mode="window", window_start=bounds[0], window_end=bounds[1])
    elif keyframes:
        fields["mode"] = "keyframes"
    try:
        return Sampling(**fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = str(first["loc"][0]) if first["loc"] else ""
        flag = SAMPLING_FLAGS.get(field, "the sampling flags")
        message = str(first["msg"]).removeprefix("Value error, ")
        raise typer.BadParameter(message, param_hint=flag) from exc


SAMPLING_FLAGS = {
    "interval_seconds": "--interval",
    "max_frames": "--max-frames",
    "timestamps": "--at",
    "window_start": "--window",
    "window_end": "--window",
}
"""Which flag sets each sampling field (for errors in the user's words)."""


def extract(
    console: Console,
    videos: list[Path],
    out: Path,
    sampling: Sampling,
    *,
    quality: int,
    max_side: int | None,
    indexes: Callable[[dict[str, Any]], None] | None = None,
) -> int:
    """Sample every clip into ``out``; returns how many clips failed (each says why), and
    tells ``indexes`` each clip's index (or its error).
    Clips whose frames would share a folder (the same file name from two folders) are
    refused before anything is written."""
    by_stem: dict[str, Path] = {}
    for video in videos:
        other = by_stem.setdefault(video.stem, video)
        if other != video:
            raise PermanentError(
                f"{video} and {other} would both write {out / video.stem}/: extract them "
                "into separate --out folders, or rename one"
            )
    written = table(
        f"Frames written under {out}",
        ("clip", "frames", "timestamps (s)", "note"),
        right=("frames",),
    )
    failed = 0
    with counting_progress(console, "sampling {task.description}", transient=True) as progress:
        task = progress.add_task("clips", total=len(videos))
        for video in videos:
            progress.update(task, description=video.name)
            try:
                if not video.is_file():
                    raise VidcurateError(f"{video}: no such file")
                index = extract_to_folder(video, out, sampling, quality=quality, max_side=max_side)
            except VidcurateError as exc:
                failed += 1
                written.add_row(video.name, "0", "", f"[red]failed:[/] {escape(str(exc))}")
                if indexes is not None:
                    indexes({"video": str(video), "error": str(exc)})
            else:
                stamps = ", ".join(f"{f['timestamp']:.3f}" for f in index["frames"])
                past = index.get("past_end") or []
                note = f"past the end: {', '.join(f'{t:g}' for t in past)}" if past else ""
                written.add_row(video.name, str(len(index["frames"])), stamps, note)
                if indexes is not None:
                    indexes(index)
            progress.advance(task)
    console.print(written)
    return failed


IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp")


def _images(services: Context[Settings], sources: list[str]) -> Iterator[tuple[str, Image.Image]]:
    """``(name, image)`` for every image the sources name, in order, one at a time."""
    for source in sources:
        if source.startswith("gs://"):
            bucket, _, prefix = source.removeprefix("gs://").partition("/")
            names = sorted(
                (
                    i.name
                    for i in services.blobs.list(bucket, prefix)
                    if i.name.lower().endswith(IMAGE_SUFFIXES)
                ),
                key=_natural,
            )
            if not names:
                raise PermanentError(f"{source}: no images there")
            for name in names:
                data = services.blobs.read(bucket, name)
                yield f"gs://{bucket}/{name}", _open_image(f"gs://{bucket}/{name}", data)
            continue
        path = Path(source)
        if path.is_dir():
            files = sorted(
                (p for p in path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES),
                key=lambda p: _natural(p.as_posix()),
            )
            if not files:
                raise PermanentError(f"{path}: no images in this folder")
        elif path.is_file():
            files = [path]
        else:
            raise PermanentError(f"{path}: no such file or folder")
        for file in files:
            yield str(file), _open_image(str(file), file.read_bytes())


def _natural(name: str) -> list[tuple[int, int | str]]:
    """Sort key that orders numbers by value: a clip's frame at 5 s before the one at 15 s."""
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name)]


def _open_image(name: str, data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            return image.copy()
    except UnidentifiedImageError as exc:
        raise PermanentError(f"{name}: not an image (no known picture format)") from exc
    except Image.DecompressionBombError as exc:
        raise PermanentError(f"{name}: too many pixels to open safely") from exc
    except (OSError, ValueError) as exc:
        raise PermanentError(f"{name}: a broken picture ({exc})") from exc


def grid(
    console: Console,
    services: Context[Settings],
    sources: list[str],
    out: Path,
    *,
    columns: int,
    cell: int,
) -> None:
    """Write the contact sheet of ``sources`` to ``out`` (JPEG, quality 90)."""
    labels: list[str] = []  # filled as the images are read, read after them

    def images() -> Iterator[Image.Image]:
        for name, image in _images(services, sources):
            labels.append(frame_label(name))
            yield image

    picture_format = SHEET_FORMATS.get(out.suffix.lower())
    if picture_format is None:
        raise typer.BadParameter(
            f"{out}: write the sheet as {', '.join(sorted(SHEET_FORMATS))}", param_hint="--out"
        )
    sheet = contact_sheet(images(), cell=cell, columns=columns, labels=labels)
    data = io.BytesIO()
    sheet.save(data, picture_format, **({"quality": 90} if picture_format == "JPEG" else {}))
    write_whole(out, data.getvalue())
    console.print(f"{out}: {len(labels)} image(s), {sheet.width}x{sheet.height} px")


SHEET_FORMATS = {".jpg": "JPEG", ".jpeg": "JPEG", ".png": "PNG", ".webp": "WEBP"}


def analyze(
    console: Console, services: Context[Settings], request: AnalysisRequest, *, out: Path | None
) -> int:
    """Plan (and locally, run) a frame analysis; print the descriptions and the run's cost
    and write the results file ``out``. How many clips failed."""
    plan = plan_analysis(services, request)
    _print_analysis_plan(console, plan, dry_run=request.dry_run)
    if request.dry_run:
        return 0
    published = f"published {plan.published} job(s) to frame-analysis"
    if plan.published and run_locally(console, services, 3600, elsewhere=published) is None:
        return 0
    rows = analysis_report(services, plan.analyses)
    failed = _print_descriptions(console, [r for r in rows if r.get("clip") in plan.clip_names])
    spent = summarize_costs(services.documents, run=plan.run)
    described = sum(
        1
        for row in rows
        if row.get("clip") in plan.clip_names
        for frame in row.get("frames") or []
        if frame.get("description")
    )
    costs = cost_report(described, spent.input_tokens, spent.output_tokens, spent.cost_usd)
    console.print(
        f"this run: {costs['frames']} frame(s) described, {costs['input_tokens']} tokens in, "
        f"{costs['output_tokens']} out, ${costs['cost_usd']:.4f} "
        f"(${costs['cost_per_frame_usd']:.5f} per frame); `vidcurate costs` for every run"
    )
    if out is not None:
        run = {
            "id": plan.run,
            "dataset": request.dataset,
            "model": plan.model,
            "provider": plan.provider,
            "prompt": plan.prompt,
            "max_clips": request.max_clips,
            "clips_described": len(plan.clip_names),
            "clips_described_before": plan.done_before,
            "clips_deferred": plan.deferred,
        }
        write_whole(out, results_json(rows, run=run, costs=costs).encode())
        console.print(f"{out}: {len(rows)} clip(s) with their frame descriptions and cost report")
    return failed


def _print_analysis_plan(console: Console, plan: AnalysisPlan, *, dry_run: bool) -> None:
    """What an analysis would describe, with which model, at what estimated cost."""
    what = "would be described" if dry_run else "to describe"
    console.print(
        f"{plan.frames} frame(s) of {plan.clips} clip(s) {what} with {plan.model} "
        f"({plan.provider}, prompt {plan.prompt}); estimated ${plan.estimated_cost_usd:.4f}"
        + (f"; {plan.done_before} clip(s) already described" if plan.done_before else "")
        + (
            f"; {plan.deferred} clip(s) over --max-cost-usd, left for later"
            if plan.deferred
            else ""
        )
    )
    if plan.provider == "offline":
        console.print(
            f"[yellow]offline provider[/]: no API key for {plan.model}, descriptions are "
            f"rule-based and free (with a key: about ${plan.list_price_usd:.4f})"
        )


def _print_descriptions(console: Console, rows: list[dict[str, Any]]) -> int:
    """Each described frame of the clips (a failed clip: why); how many clips failed."""
    if not rows:
        console.print("nothing new to describe")
        return 0
    described = table(
        "Frame descriptions", ("clip", "t (s)", "description", "tokens in/out", "USD"), fold=True
    )
    failed = 0
    for row in rows:
        failed += row.get("status") == "failed"
        for frame in row.get("frames") or []:
            described.add_row(
                str(row["clip"]),
                f"{frame['timestamp']:.2f}",
                escape(frame["description"]),
                f"{frame['input_tokens']}/{frame['output_tokens']}",
                f"{frame['cost_usd']:.5f}",
            )
        if row.get("error"):
            error = escape(str(row["error"]))
            described.add_row(str(row["clip"]), "", f"[red]failed:[/] {error}", "", "")
    console.print(described)
    return failed

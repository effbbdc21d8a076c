"""``vidcurate``: run the pipeline locally, look at its state, handle dead letters."""

from __future__ import annotations

import json
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from types import FrameType
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from shared.bootstrap import (
    build_context,
    build_runtime,
    build_subscriber,
    provision_gcp,
    use_context,
)
from shared.captions.messages import ExportRequest
from shared.catalog import FUNCTIONS, function_spec
from shared.cli import captions as captions_cli
from shared.cli import demo as demo_module
from shared.cli.progress import runtime_progress
from shared.cli.status import collect_status
from shared.config import Settings
from shared.core.errors import VidcurateError
from shared.critiques.messages import CritiqueRequest
from shared.critiques.status import status_report
from shared.critiques.types import CRITIQUE_TYPES
from shared.platform.context import Context
from shared.platform.deadletters import list_dead_letters, replay_dead_letters
from shared.platform.logging import configure_logging
from shared.platform.runtime.catalog import FunctionSpec

app = typer.Typer(
    help="vidcurate: event-driven video-dataset pipeline (local stand-ins or Google Cloud).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
dlq_app = typer.Typer(help="Inspect and replay dead-lettered messages.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")

console = Console()
err_console = Console(stderr=True)


class _State:
    overrides: dict[str, Any] = {}
    verbose = False


def _settings(log_level: str = "WARNING", **extra: Any) -> Settings:
    level = "DEBUG" if _State.verbose else log_level
    return Settings(**{**_State.overrides, "log_level": level, **extra})


def _services(settings: Settings) -> Context[Settings]:
    configure_logging(settings.log_level)
    services = build_context(settings)
    use_context(services)  # entry points served in this process share these stores
    return services


@app.callback()
def main(
    home: Annotated[
        Path | None, typer.Option(help="Local data folder (VIDCURATE_HOME, default .vidcurate).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="'local' (default) or 'gcp' (VIDCURATE_BACKEND).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    """Global options apply to every command."""
    overrides: dict[str, Any] = {}
    if home is not None:
        overrides["home"] = home
    if backend is not None:
        overrides["backend"] = backend
    _State.overrides = overrides
    _State.verbose = verbose


@contextmanager
def _session(log_level: str = "WARNING", **extra: Any) -> Iterator[Context[Settings]]:
    """The stores of one command, closed afterwards; a bad flag or a failed step ends the
    command with its one-line reason (exit 2 or 1), never a traceback."""
    services = _services(_settings(log_level, **extra))
    try:
        yield services
    except (ValidationError, VidcurateError) as exc:
        _fail(exc)
    finally:
        services.close()


def _fail(exc: ValidationError | VidcurateError) -> NoReturn:
    """Report a bad flag (exit 2) or a failed command (exit 1) in one line, no traceback."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = f"{first['loc'][0]}: " if first["loc"] else ""  # model checks have no field
        err_console.print(f"[red]error:[/] {where}{first['msg']}")
        raise typer.Exit(2) from exc
    err_console.print(f"[red]error:[/] {exc}")
    raise typer.Exit(1) from exc


def _specs(function: list[str] | None) -> list[FunctionSpec]:
    try:
        return [function_spec(name) for name in function] if function else list(FUNCTIONS)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc


@app.command()
def serve(
    workers: Annotated[int | None, typer.Option(help="Worker threads.")] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when nothing is left to deliver.")
    ] = False,
    timeout: Annotated[float, typer.Option(help="With --until-idle: give up after seconds.")] = 300,
) -> None:
    """Serve every function: deliver bucket events and messages until stopped (Ctrl-C)."""
    with _session("INFO", **({"workers": workers} if workers else {})) as services:
        if until_idle:
            with runtime_progress(console, services) as on_progress:
                stats = build_runtime(services, on_progress=on_progress).run_until_idle(timeout)
        else:
            stop = threading.Event()

            def _stop(signum: int, frame: FrameType | None) -> None:
                del signum, frame
                stop.set()

            signal.signal(signal.SIGTERM, _stop)
            signal.signal(signal.SIGINT, _stop)
            err_console.print(
                f"[bold]vidcurate serve[/]: {len(FUNCTIONS)} functions, "
                f"{services.settings.workers} workers, home {services.settings.home} "
                "(Ctrl-C to stop)"
            )
            stats = build_runtime(services).serve(stop)
        err_console.print(
            f"handled {stats.total_handled} events, {stats.total_failed} failed attempts, "
            f"{stats.scanned_files} files picked up from bucket folders"
        )


@app.command()
def status(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """What is in the buckets, the bus (pending, in flight, dead-lettered) and the documents."""
    with _session() as services:
        report = collect_status(services, build_subscriber(services))
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    buckets = Table(title="Buckets")
    for column in ("role", "bucket", "objects", "bytes"):
        buckets.add_column(column, justify="right" if column in ("objects", "bytes") else "left")
    for row in report["buckets"]:
        buckets.add_row(row["role"], row["bucket"], str(row["objects"]), str(row["bytes"]))
    console.print(buckets)
    bus = Table(title="Message bus")
    for column in ("function", "topic", "pending", "in flight", "retrying", "dead-lettered"):
        bus.add_column(column, overflow="fold")
    for row in report["bus"]:
        bus.add_row(
            row["function"],
            row["topic"],
            *(str(row[k]) for k in ("pending", "in_flight", "retrying", "dead_lettered")),
        )
    console.print(bus)
    docs = Table(title="Documents")
    docs.add_column("collection")
    docs.add_column("documents", justify="right")
    for name, count in report["documents"].items():
        docs.add_row(name, str(count))
    console.print(docs)
    _print_caption_status(report)
    _print_video_status(report["videos"])


def _print_video_status(videos: dict[str, Any]) -> None:
    clips, analyses = videos["clips"], videos["analyses"]
    if not any(clips.values()) and not any(analyses.values()) and not videos["shards"]:
        return
    console.print(
        "Clips: " + ", ".join(f"{n} {status}" for status, n in clips.items())
        + " | frame analyses: " + ", ".join(f"{n} {status}" for status, n in analyses.items())
    )  # fmt: skip
    for row in videos["failed_clips"]:
        console.print(f"  [red]failed[/] {row['clip']}: {escape(str(row['error']))}")
    if videos["shards"]:
        shards = Table(title="Dataset shards")
        for column in ("dataset", "shard", "status", "clips written", "already there", "error"):
            shards.add_column(column, overflow="fold")
        for row in videos["shards"]:
            shards.add_row(str(row.get("dataset")), str(row.get("shard")),
                           str(row.get("status")), str(row.get("clips_written", "")),
                           str(row.get("clips_present", "")),
                           escape(str(row.get("error") or "")))  # fmt: skip
        console.print(shards)


def _print_caption_status(report: dict[str, Any]) -> None:
    statuses = ("not_completed", "completed_not_reviewed", "approved", "rejected")
    for config in report["captions"]:
        if not config["registered_videos"] and not any(
            sum(counts.values()) for counts in config["tasks"].values()
        ):
            continue
        table = Table(
            title=f"Caption tasks, config {config['config_type']!r}: "
            f"{config['registered_videos']} videos, {config['edge_case_tasks']} tasks with edge "
            f"cases, {config['quarantined_files']} quarantined files"
        )
        table.add_column("task")
        for status_name in statuses:
            table.add_column(status_name, justify="right")
        table.add_column("done", justify="right")
        for task_name, counts in config["tasks"].items():
            total = sum(counts.values())
            done = total - counts["not_completed"]
            share = f"{done / total:.0%}" if total else "-"
            table.add_row(task_name, *(str(counts[s]) for s in statuses), share)
        console.print(table)
    if report["exports"]:
        exports = Table(title="Latest exports")
        for column in ("folder", "state", "videos", "hub dataset"):
            exports.add_column(column)
        for row in report["exports"]:
            exports.add_row(
                row.get("folder", "?"),
                row.get("state", "?"),
                str((row.get("totals") or {}).get("videos", "")),
                row.get("hf_dataset") or "",
            )
        console.print(exports)
    if report["hub_uploads"]:
        uploads = Table(title="Hub uploads")
        for column in ("folder", "repo", "state", "attempts", "commit / last error"):
            uploads.add_column(column, overflow="fold")
        for row in report["hub_uploads"]:
            detail = row.get("commit_url") if row.get("state") == "done" else row.get("last_error")
            uploads.add_row(
                str(row.get("folder")),
                str(row.get("repo_id")),
                str(row.get("state")),
                str(row.get("attempts", "")),
                str(detail or ""),
            )
        console.print(uploads)


@dlq_app.command("list")
def dlq_list(
    function: Annotated[
        list[str] | None, typer.Option("--function", "-f", help="Only these functions.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Dead-lettered messages with the error that killed them."""
    with _session() as services:
        letters = list_dead_letters(build_subscriber(services), _specs(function))
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {
                        "function": d.function,
                        "message_id": d.message_id,
                        "source_message_id": d.source_message_id,
                        "error": d.error,
                        "attempts": d.attempts,
                        "published": d.published.isoformat(),
                        "data": d.data.decode("utf-8", errors="replace"),
                    }
                    for d in letters
                ]
            )
        )
        return
    if not letters:
        console.print("No dead letters.")
        return
    table = Table(title=f"{len(letters)} dead letters")
    for column in ("function", "message id", "attempts", "error", "data"):
        table.add_column(column, overflow="fold")
    for d in letters:
        preview = d.data[:80].decode("utf-8", errors="replace")
        table.add_row(d.function, d.message_id, d.attempts or "?", d.error or "?", preview)
    console.print(table)


@dlq_app.command("replay")
def dlq_replay(
    message_id: Annotated[
        list[str] | None,
        typer.Option("--message-id", "-m", help="Replay these (dead-letter or original id)."),
    ] = None,
    function: Annotated[
        list[str] | None, typer.Option("--function", "-f", help="Only these functions.")
    ] = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Publish dead letters back to their function's topic (then run `serve`)."""
    if not message_id and not replay_all:
        raise typer.BadParameter("name messages with --message-id, or pass --all")
    with _session() as services:
        replayed = replay_dead_letters(
            build_subscriber(services),
            services.bus,
            services.settings,
            _specs(function),
            None if replay_all else set(message_id or ()),
        )
    console.print(f"Replayed {len(replayed)} dead letters.")
    if message_id and not replay_all:
        missing = (
            set(message_id)
            - {d.message_id for d in replayed}
            - {d.source_message_id for d in replayed}
        )
        if missing:
            err_console.print(f"[yellow]not found:[/] {', '.join(sorted(missing))}")
            raise typer.Exit(1)


@app.command()
def publish(
    topic: Annotated[str, typer.Argument(help="Topic name, e.g. 'ping'.")],
    data: Annotated[str, typer.Argument(help="Message data (text or JSON).")] = "",
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", "-a", help="key=value, repeatable.")
    ] = None,
) -> None:
    """Publish one message to a topic."""
    attributes: dict[str, str] = {}
    for item in attribute or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"attribute {item!r} is not key=value")
        attributes[key] = value
    with _session() as services:
        message_id = services.bus.publish(topic, data.encode(), attributes)
    console.print(f"Published {message_id} to {topic}.")


@app.command()
def provision() -> None:
    """Create the buckets, topics and subscriptions (with dead-letter topics) the functions use.

    On the local backend this happens by itself; on the gcp backend it is for the emulators or
    a sandbox project: production gets the same shape from terraform.
    """
    with _session() as services:
        settings = services.settings
        if settings.backend == "gcp":
            provision_gcp(settings)
    console.print(
        f"Provisioned {len(FUNCTIONS)} function subscriptions with dead-letter topics "
        f"on the {settings.backend} backend."
    )


@app.command()
def ingest(
    folder: Annotated[
        Path,
        typer.Argument(
            help="Campaign folder: <task>/<video_id>_{feedback,feedback_prev,review}"
            ".json and videos/*.jsonl.",
            exists=True,
            file_okay=False,
        ),
    ],
    config_type: Annotated[str, typer.Option("--config-type", help="Task set to file under.")] = (
        "default"
    ),
    force: Annotated[
        bool,
        typer.Option(
            "--force", help="Upload unchanged files too (re-ingest, e.g. after a config change)."
        ),
    ] = False,
) -> None:
    """Upload a campaign folder into the annotations bucket and ingest it until idle."""
    with _session() as services:
        summary = captions_cli.ingest_folder(console, services, folder, config_type, force=force)
    if summary.failed_events:
        raise typer.Exit(1)


@app.command("export")
def export_(
    export_dir: Annotated[
        Path, typer.Option("--export-dir", help="Where export_YYYYMMDD_HHMM/ is written.")
    ] = Path("exports"),
    config_type: Annotated[str, typer.Option("--config-type", help="Task set to export.")] = (
        "default"
    ),
    only_reviewed: Annotated[
        bool, typer.Option("--only-reviewed", help="Only the reviewed videos and statistics.")
    ] = False,
    ignore_errors: Annotated[
        bool, typer.Option("--ignore-errors", help="Export even with edge cases or bad files.")
    ] = False,
    hf_dataset: Annotated[
        str | None, typer.Option("--hf-dataset", help="Publish to this dataset repo (OWNER/NAME).")
    ] = None,
    publish: Annotated[
        bool, typer.Option("--publish", help="Publish to the configured VIDCURATE_HF_DATASET.")
    ] = False,
    with_history: Annotated[
        bool, typer.Option("--with-history", help="Add each task's files and status changes.")
    ] = False,
) -> None:
    """Snapshot captions into export files (+ statistics); optionally publish to the Hub."""
    with _session() as services:
        request = ExportRequest(
            config_type=config_type,
            only_reviewed=only_reviewed,
            ignore_errors=ignore_errors,
            with_history=with_history,
            hf_dataset=hf_dataset,
            publish=publish,
        )
        ok = captions_cli.export(console, services, request, export_dir) is not None
    if not ok:
        raise typer.Exit(1)


critiques_app = typer.Typer(help="LLM critiques of reviewed captions.", no_args_is_help=True)
app.add_typer(critiques_app, name="critiques")


@critiques_app.command("run")
def critiques_run(
    export_folder: Annotated[
        str, typer.Option("--export-folder", help="export_YYYYMMDD_HHMM in the exports bucket.")
    ],
    critique_type: Annotated[
        str, typer.Option("--critique-type", help="One type, or 'all'.")
    ] = "all",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Count and estimate cost; call nothing.")
    ] = False,
    force_regenerate: Annotated[
        bool, typer.Option("--force-regenerate", help="Redo every item.")
    ] = False,
    new_only: Annotated[
        bool, typer.Option("--new-only", help="Only items never generated.")
    ] = False,
    max_retries: Annotated[
        int | None, typer.Option("--max-retries", help="Retries per model call (default 3).")
    ] = None,
    max_cost_usd: Annotated[
        float | None,
        typer.Option("--max-cost-usd", help="Start no call past this estimated spend."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log every model call and retry (JSON lines).")
    ] = False,
) -> None:
    """Generate critiques for every reviewed caption of an export; consolidate when done."""
    from shared.cli import critiques as critiques_cli  # noqa: PLC0415

    with _session("INFO" if verbose else "WARNING") as services:
        request = CritiqueRequest(
            export_folder=Path(export_folder).name,
            critique_types=tuple(CRITIQUE_TYPES) if critique_type == "all" else (critique_type,),
            dry_run=dry_run,
            force_regenerate=force_regenerate,
            new_only=new_only,
            max_retries=max_retries,
            max_cost_usd=max_cost_usd,
        )
        ok = critiques_cli.run(console, services, request)
    if not ok:
        raise typer.Exit(1)


@critiques_app.command("status")
def critiques_status(
    export_folder: Annotated[str, typer.Option("--export-folder", help="The export folder.")],
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Counts per critique type and status, and whether the run is consolidated."""
    from shared.cli import critiques as critiques_cli  # noqa: PLC0415

    with _session() as services:
        report = status_report(services, Path(export_folder).name)
    if as_json:
        console.print_json(json.dumps(report))
    else:
        critiques_cli.print_status(console, report)


videos_app = typer.Typer(help="Clips in the videos bucket.", no_args_is_help=True)
app.add_typer(videos_app, name="videos")


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
    from shared.cli import frames as frames_cli  # noqa: PLC0415

    metadata: dict[str, str] = {}
    for item in meta or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise typer.BadParameter(f"{item!r}: expected KEY=VALUE", param_hint="--meta")
        metadata[key.strip()] = value
    with _session() as services:
        failed = frames_cli.add_videos(console, services, files, prefix=prefix, metadata=metadata)
    if failed:
        raise typer.Exit(1)


@videos_app.command("pull")
def videos_pull(
    dataset: Annotated[str, typer.Option("--dataset", help="Hugging Face dataset OWNER/NAME.")],
    shard: Annotated[
        list[str] | None,
        typer.Option("--shard", help="Shard index (in the sorted .tar list) or file name."),
    ] = None,
    all_shards: Annotated[bool, typer.Option("--all", help="Every shard of the dataset.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Pull shards again that were pulled already.")
    ] = False,
) -> None:
    """Download whole tar shards and stream their clips (with their JSON) into the bucket."""
    from shared.cli import frames as frames_cli  # noqa: PLC0415

    if not shard and not all_shards:
        raise typer.BadParameter("name at least one --shard, or --all", param_hint="--shard")
    with _session() as services:
        failed = frames_cli.pull(console, services, dataset, shard or [], all_shards=all_shards,
                                 force=force)  # fmt: skip
    if failed:
        raise typer.Exit(1)


frames_app = typer.Typer(help="Sample frames from clips (PyAV).", no_args_is_help=True)
app.add_typer(frames_app, name="frames")


def _seconds_list(value: str | None) -> tuple[float, ...]:
    if not value:
        return ()
    try:
        return tuple(float(part) for part in value.split(",") if part.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"{value!r}: seconds separated by commas, e.g. 5,15,25") from exc


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
) -> None:
    """Sample frames of local clips: the frame on screen at each time, exactly."""
    from shared.cli import frames as frames_cli  # noqa: PLC0415
    from shared.media.sampling import Sampling  # noqa: PLC0415

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
            raise typer.BadParameter("--window START,END (seconds)")
        fields.update(mode="window", window_start=bounds[0], window_end=bounds[1])
    elif keyframes:
        fields["mode"] = "keyframes"
    try:
        sampling = Sampling(**fields)
    except ValidationError as exc:
        _fail(exc)
    failed = frames_cli.extract(console, videos, out, sampling, quality=quality, max_side=max_side)
    if failed:
        raise typer.Exit(1)


@frames_app.command("analyze")
def frames_analyze(
    dataset: Annotated[
        str | None, typer.Option("--dataset", help="Only clips under this object prefix.")
    ] = None,
    max_clips: Annotated[int | None, typer.Option("--max-clips", min=1)] = None,
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
        Path | None, typer.Option("--out", help="Write the per-clip results here (JSON).")
    ] = None,
) -> None:
    """Describe the sampled frames of clips with a vision model, watching the cost."""
    from shared.cli import frames as frames_cli  # noqa: PLC0415
    from shared.vision.messages import AnalysisRequest  # noqa: PLC0415

    with _session() as services:
        request = AnalysisRequest(dataset=dataset, max_clips=max_clips, prompt=prompt,
                                  model=model, max_cost_usd=max_cost_usd,
                                  dry_run=dry_run)  # fmt: skip
        failed = frames_cli.analyze(console, services, request, out=out)
    if failed:
        raise typer.Exit(1)


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
    from shared.cli import frames as frames_cli  # noqa: PLC0415

    with _session() as services:
        frames_cli.grid(console, services, sources, out, columns=columns, cell=cell)


@app.command()
def costs(
    as_json: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    """Model spend from the cost ledger, by model and by kind (critique type, vision...)."""
    from shared.llm.ledger import summarize_costs  # noqa: PLC0415

    with _session() as services:
        summary = summarize_costs(services.documents)
    if as_json:
        console.print_json(json.dumps(asdict(summary)))
        return
    for title, rows in (("By model", summary.by_model), ("By kind", summary.by_kind)):
        table = Table(title=title)
        for column in (title.split()[-1], "calls", "input tokens", "output tokens", "cost (USD)"):
            table.add_column(column, justify="left" if column in ("model", "kind") else "right")
        for key, row in rows.items():
            table.add_row(
                key,
                f"{int(row['calls']):,}",
                f"{int(row['input_tokens']):,}",
                f"{int(row['output_tokens']):,}",
                f"{row['cost_usd']:.4f}",
            )
        console.print(table)
    console.print(
        f"{summary.calls:,} calls, {summary.input_tokens:,} input and "
        f"{summary.output_tokens:,} output tokens, [bold]${summary.cost_usd:.4f}[/]"
        + (" (offline calls cost nothing)" if summary.calls else "")
    )
    if summary.unused_calls:
        console.print(
            f"of which {summary.unused_calls:,} answers were billed but not used (a reply "
            f"that did not fit its schema, or a refusal): ${summary.unused_cost_usd:.4f}"
        )


@app.command()
def demo(
    videos: Annotated[int, typer.Option(help="Videos in the generated campaign (>= 20).")] = 240,
    export_dir: Annotated[
        Path | None,
        typer.Option("--export-dir", help="Where the export goes (default: HOME/exports)."),
    ] = None,
) -> None:
    """Generate a caption campaign, ingest it through the bucket, export it (and publish it)."""
    # The demo explains each failure itself; its JSON logs would only bury the story.
    with _session("CRITICAL", min_backoff_seconds=0.1, max_backoff_seconds=0.5) as services:
        ok = demo_module.run_demo(services, console, videos=videos, export_dir=export_dir)
    if not ok:
        raise typer.Exit(1)


if __name__ == "__main__":  # pragma: no cover
    app()

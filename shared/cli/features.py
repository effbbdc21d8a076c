"""``vidcurate features run|status|export``: feature extraction over a collection, as local
processes or as the tasks of a Cloud Run job execution."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer

from shared.bootstrap import build_job_runner
from shared.cli.session import (
    JsonOption,
    Where,
    console,
    echo_json,
    err_console,
    fail_usage,
    output_console,
    session,
)
from shared.cli.tables import table
from shared.config import Settings
from shared.core.errors import ConfigError
from shared.features import EXTRACTORS
from shared.features.runs import Run, Selection, create_run, latest_run, load_run, read_filter
from shared.features.tables import RunStatus, consolidate, export, run_status
from shared.platform.context import Context
from shared.platform.sharding import TaskSlot

features_app = typer.Typer(
    help="Feature extraction over the videos bucket: five extractors, one decode per video.",
    no_args_is_help=True,
)


def _extractors(value: str | None) -> list[str]:
    if value is None:
        return list(EXTRACTORS)
    names = [name.strip() for name in value.split(",") if name.strip()]
    unknown = [name for name in names if name not in EXTRACTORS]
    if unknown or not names:
        fail_usage(
            f"--extractors: unknown {', '.join(unknown) or '(none given)'} "
            f"(known: {','.join(EXTRACTORS)})"
        )
    return names


@features_app.command("run")
def features_run(
    prefix: Annotated[
        str | None,
        typer.Option(help="Videos bucket prefix (default VIDCURATE_FEATURES_PREFIX, or all)."),
    ] = None,
    filter_file: Annotated[
        Path | None,
        typer.Option(
            "--filter",
            help="Only these videos: CSV with a video_id (or id) column, or JSONL with that key.",
        ),
    ] = None,
    extractors: Annotated[
        str | None,
        typer.Option(help=f"Comma-separated, of {','.join(EXTRACTORS)} (default: all)."),
    ] = None,
    tasks: Annotated[int, typer.Option(min=1, max=10_000, help="Tasks sharing the work.")] = 1,
    where: Annotated[
        Where, typer.Option(help="local: processes here; cloud: a Cloud Run job execution.")
    ] = Where.LOCAL,
    run: Annotated[
        str | None,
        typer.Option(help="Resume this run (its frozen manifest) instead of selecting anew."),
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Try the videos that failed before again.")
    ] = False,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow a cloud execution to its end.")
    ] = True,
) -> None:
    """Freeze the selection as a run's manifest, extract it in TASKS tasks (each video
    decoded once for all extractors; what is done is skipped), then write the run's Parquet
    tables."""
    names = _extractors(extractors) if extractors is not None else None
    ids = None
    if filter_file is not None:
        try:
            ids = read_filter(filter_file)
        except ConfigError as exc:
            fail_usage(f"--filter: {exc}")
    with session() as services:
        settings = services.settings
        if run is None:
            chosen = settings.features_prefix if prefix is None else prefix
            selection = Selection(
                prefix=chosen, ids=ids, filter_name=str(filter_file) if filter_file else None
            )
            record = create_run(services, selection, names or list(EXTRACTORS))
            console.print(
                f"run {record.run}: {record.videos} videos of {record.listed} under "
                f"gs://{settings.videos_bucket}/{record.prefix} "
                f"({record.filtered_out} not in the filter, {record.duplicates} duplicates)"
            )
        else:
            if prefix is not None or filter_file is not None:
                fail_usage("--run resumes a run: its manifest is frozen (no --prefix/--filter)")
            record = load_run(services, run)
            console.print(f"run {record.run}: resuming, {record.videos} videos")
        args = ["--run", record.run]
        if names is not None:
            args += ["--extractors", ",".join(names)]
        if retry_failed:
            args.append("--retry-failed")
        if where == Where.CLOUD:
            _cloud(services, record, args, tasks=tasks, wait=wait)
        else:
            _local(services, record, args, tasks=tasks)
        _finish(services, record.run, names)


def _finish(services: Context[Settings], run: str, names: list[str] | None) -> None:
    rows = consolidate(services, run, names)
    bucket = services.settings.features_bucket
    console.print(
        "tables: "
        + ", ".join(f"gs://{bucket}/tables/{run}/{name}.parquet ({n})" for name, n in rows.items())
    )
    status = run_status(services, run)
    _print_status(status)
    if any(row.failed for row in status.extractors):
        console.print("failed videos: vidcurate features status --run " + run)


def _local(services: Context[Settings], record: Run, args: list[str], *, tasks: int) -> None:
    settings = services.settings
    env = {
        **os.environ,
        "VIDCURATE_HOME": str(settings.home),
        "VIDCURATE_BACKEND": settings.backend,
        "VIDCURATE_LOG_LEVEL": "DEBUG" if settings.log_level == "DEBUG" else "ERROR",
    }
    command = [sys.executable, "-m", "shared.jobs.features", *args]
    console.print(f"{tasks} task(s) on this machine (python -m shared.jobs.features)")
    counts: Counter[str] = Counter()
    lock = threading.Lock()
    started = time.monotonic()

    def follow(stream: IO[str]) -> None:
        for line in stream:
            try:
                outcome = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if "kind" not in outcome:
                continue  # the task's summary
            with lock:
                counts[outcome["kind"]] += 1
                seen = sum(counts.values())
                if outcome["kind"] == "failed":
                    err_console.print(f"  failed {outcome['object']}: {outcome['failed']}")
                elif seen % max(1, record.videos // 20) == 0 or seen == record.videos:
                    rate = seen / max(time.monotonic() - started, 1e-3) * 3600
                    console.print(
                        f"  {seen}/{record.videos} videos ({counts['computed']} extracted, "
                        f"{counts['already_done']} already done, {counts['failed']} failed), "
                        f"{rate:.0f} videos/hour"
                    )

    processes = []
    readers = []
    for index in range(tasks):
        slot = TaskSlot(index, tasks)
        process = subprocess.Popen(
            command,
            env={**env, **slot.environment()},
            stdout=subprocess.PIPE,
            text=True,
        )
        assert process.stdout is not None  # piped
        reader = threading.Thread(target=follow, args=(process.stdout,), daemon=True)
        reader.start()
        processes.append(process)
        readers.append(reader)
    codes = [process.wait() for process in processes]
    for reader in readers:
        reader.join()
    failed = [i for i, code in enumerate(codes) if code]
    if failed:
        err_console.print(
            f"[red]error:[/] task(s) {', '.join(map(str, failed))} stopped early: rerun "
            f"`vidcurate features run --run {record.run} --tasks {tasks}` to resume"
        )
        raise typer.Exit(1)


def _cloud(
    services: Context[Settings], record: Run, args: list[str], *, tasks: int, wait: bool
) -> None:
    settings = services.settings
    runner = build_job_runner(settings, settings.features_job)
    execution = runner.run(args, tasks=tasks)
    console.print(f"run {record.run}: execution {execution.name} of {runner.job}, {tasks} tasks")
    if not wait:
        console.print(f"follow it: vidcurate features status --run {record.run}")
        raise typer.Exit(0)
    shown = ""
    while not execution.finished:
        time.sleep(settings.features_follow_seconds)  # a remote execution: bounded by its timeout
        execution = runner.execution(execution.name)
        status = run_status(services, record.run)
        line = (
            execution.state
            + ": "
            + ", ".join(f"{row.extractor} {row.done}/{status.videos}" for row in status.extractors)
        )
        if line != shown:
            console.print(f"  {line}")
            shown = line
    if execution.log_uri:
        console.print(f"  logs: {execution.log_uri}")
    if execution.state != "succeeded":
        err_console.print(
            f"[red]error:[/] run {record.run}: the execution {execution.state} "
            f"({execution.failed_tasks} failed tasks); resume with --run {record.run}"
        )
        raise typer.Exit(1)


def _chosen_run(services: Context[Settings], run: str | None) -> str:
    chosen = run or latest_run(services)
    if chosen is None:
        fail_usage("no feature run yet: vidcurate features run")
    return chosen


def _print_status(status: RunStatus) -> None:
    shown = table(
        f"Run {status.run}: {status.videos} videos",
        ["extractor", "version", "done", "failed", "remaining", "videos/hour", "ETA"],
    )
    for row in status.extractors:
        eta = ""
        if row.eta_seconds is not None:
            hours, rest = divmod(int(row.eta_seconds), 3600)
            eta = f"{hours}h{rest // 60:02d}m"
        shown.add_row(
            row.extractor,
            row.version,
            str(row.done),
            str(row.failed),
            str(row.remaining),
            f"{row.videos_per_hour:.0f}" if row.videos_per_hour else "",
            eta,
        )
    console.print(shown)


@features_app.command("status")
def features_status(
    run: Annotated[str | None, typer.Option(help="Default: the latest run.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Per extractor: done, failed, remaining, throughput and ETA; the failed videos."""
    with session(create_home=False) as services:
        status = run_status(services, _chosen_run(services, run))
    if as_json:
        echo_json(status.model_dump(mode="json"))
        return
    _print_status(status)
    for name, reason in status.failures.items():
        console.print(f"  failed {name}: {reason}")


@features_app.command("export")
def features_export(
    out: Annotated[Path, typer.Option(help="The Parquet file to write.")],
    run: Annotated[str | None, typer.Option(help="Default: the latest run.")] = None,
    as_json: JsonOption = False,
) -> None:
    """Write the run's features as one Parquet file: a row per video, a struct column per
    extractor, the failure's reason (readable by pandas and pyarrow, loadable to BigQuery);
    the per-extractor tables are refreshed in the features bucket too."""
    if out.suffix.lower() != ".parquet":
        fail_usage(f"--out: {out} should end in .parquet")
    with session(create_home=False) as services:
        chosen = _chosen_run(services, run)
        consolidate(services, chosen)
        rows = export(services, chosen, out)
    report = output_console(as_json)
    report.print(f"{out}: {rows} videos of run {chosen}")
    if as_json:
        echo_json({"run": chosen, "out": str(out), "rows": rows})

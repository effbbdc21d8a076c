"""``vidcurate ingest`` and ``vidcurate export``: what a user sees around the caption services."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape

from shared.captions.counts import recount as recount_tasks
from shared.captions.counts import start_counting
from shared.captions.export import ExportBlockedError, ExportResult, run_export
from shared.captions.messages import ExportRequest
from shared.captions.progress import caption_progress
from shared.captions.snapshot import Snapshot, take_snapshot
from shared.captions.store import QUARANTINE
from shared.captions.upload import UploadSummary, upload_folder
from shared.cli.running import run_locally, run_until_idle
from shared.cli.session import (
    JsonOption,
    console,
    echo_json,
    err_console,
    exit_if,
    output_console,
    session,
)
from shared.cli.tables import caption_tasks, counting_progress, table
from shared.config import Settings
from shared.platform.context import Context
from shared.ports import Filter

MAX_LISTED = 10


@dataclass(frozen=True)
class IngestReport:
    """Totals of one ``vidcurate ingest`` run."""

    uploaded: int
    unchanged: int
    refused: int
    quarantined: int
    edge_cases: int
    failed_events: int


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
    as_json: JsonOption = False,
) -> None:
    """Upload a campaign folder into the annotations bucket and ingest it until idle."""
    with session() as services:
        summary = ingest_folder(output_console(as_json), services, folder, config_type, force=force)
    if as_json:
        echo_json({"config_type": config_type, **asdict(summary)})
    exit_if(summary.failed_events)


def export_(
    export_dir: Annotated[
        Path, typer.Option("--export-dir", help="Where export_YYYYMMDD_HHMM/ is written.")
    ] = Path("caption_export"),
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
    as_json: JsonOption = False,
) -> None:
    """Snapshot captions into export files (+ statistics); optionally publish to the Hub."""
    with session() as services:
        request = ExportRequest(
            config_type=config_type,
            only_reviewed=only_reviewed,
            ignore_errors=ignore_errors,
            with_history=with_history,
            hf_dataset=hf_dataset,
            publish=publish,
        )
        result = export_captions(output_console(as_json), services, request, export_dir)
    if as_json and result is not None:
        echo_json(
            {
                "folder": result.folder,
                "bucket": result.bucket,
                "local_dir": result.local_dir,
                "files": result.files,
                "totals": result.statistics.get("totals"),
                "warnings": len(result.warnings),
                "hub_message_id": result.hub_message_id,
            }
        )
    exit_if(result is None)


def quarantine(
    config_type: Annotated[
        str | None, typer.Option("--config-type", help="Only the files of this task set.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """The annotation files kept out of the data (invalid JSON, failed checks, names outside
    the layout), with why; fixing a file and dropping it again takes it out. Then the files
    of local bucket folders that are no objects (links, FIFOs, unusable names), never read."""
    with session(create_home=False) as services:
        where: list[Filter] = [] if config_type is None else [("config_type", "==", config_type)]
        bucket = services.settings.annotations_bucket
        rows = [
            {
                "name": doc.data.get("name"),
                "bucket": bucket,
                "config_type": doc.data.get("config_type"),
                "generation": doc.data.get("generation"),
                "error": doc.data.get("error"),
                "time": doc.data.get("time"),
                "refused": False,
            }
            for doc in services.documents.query(QUARANTINE, where=where)
        ]
        refused = _refused_files(services, config_type)
    rows.sort(key=lambda row: str(row["name"]))
    if as_json:
        echo_json(rows + refused)
        return
    if not rows:
        console.print("No quarantined files.")
    else:
        listed = table(f"{len(rows)} quarantined file(s)", ("file", "why"), fold=True)
        for row in rows:
            why = str(row["error"]).removeprefix(f"{row['name']}: ")  # the name is in its column
            listed.add_row(escape(str(row["name"])), escape(why))
        console.print(listed)
    if refused:
        title = f"{len(refused)} file(s) refused in bucket folders (never read)"
        listed = table(title, ("file", "why"), fold=True)
        for row in refused:
            listed.add_row(escape(f"{row['bucket']}/{row['name']}"), escape(str(row["error"])))
        console.print(listed)


def recount(
    config_type: Annotated[
        str | None, typer.Option("--config-type", help="Only this task set (default: every one).")
    ] = None,
) -> None:
    """Count each task set's tasks by status once, by queries, and keep the counts from then
    on (status reads them instead of counting): for campaigns ingested by a version before
    the counts. Stop ingestion (`vidcurate serve`, the functions) while it runs."""
    with session(create_home=False) as services:
        task_sets = services.settings.task_sets
        if config_type is not None and config_type not in task_sets:
            known = ", ".join(sorted(task_sets))
            console.print(f"--config-type {config_type}: no such task set (known: {known})")
            raise typer.Exit(2)
        for name in [config_type] if config_type is not None else sorted(task_sets):
            recount_tasks(services.documents, name, task_sets[name])
            console.print(f"{name}: counted; status reads the kept counts from now on")


def _refused_files(services: Context[Settings], config_type: str | None) -> list[dict[str, Any]]:
    """Files of local bucket folders that are no objects (only the local backend has them);
    with a config type, those of its annotations folder."""
    refused_files = getattr(services.blobs, "refused_files", None)
    if refused_files is None:
        return []
    annotations = services.settings.annotations_bucket
    return [
        {
            "name": item.name,
            "bucket": item.bucket,
            "config_type": config_type,
            "generation": None,
            "error": item.reason,
            "time": item.seen.isoformat(),
            "refused": True,
        }
        for item in refused_files()
        if config_type is None
        or (item.bucket == annotations and item.name.startswith(f"{config_type}/"))
    ]


def ingest_folder(
    console: Console,
    services: Context[Settings],
    folder: Path,
    config_type: str,
    *,
    force: bool = False,
) -> IngestReport:
    """Upload ``folder`` as an annotation tool would, then process the events until idle."""
    start_counting(services.documents, config_type)  # a new campaign: its counts kept
    summary = _upload(console, services, folder, config_type, force=force)
    stats = run_until_idle(console, services, timeout=3600)
    (progress_row,) = [
        p
        for p in caption_progress(services.documents, services.settings)
        if p.config_type == config_type
    ]
    console.print(caption_tasks(f"Caption tasks of config {config_type!r}", progress_row.tasks))
    snapshot = take_snapshot(services.documents, services.settings, config_type)
    _print_problems(console, snapshot)
    refused = _refused_files(services, config_type)
    if refused:
        console.print(
            f"[yellow]{len(refused)} file(s) of the bucket folder refused[/] (links, special "
            "files or unusable names: never read; vidcurate quarantine lists them)"
        )
    failed = stats.total_failed
    console.print(
        f"[bold]ingested[/] {stats.handled.get('ingest_feedback', 0)} events; config "
        f"{config_type!r} now holds {progress_row.registered_videos} registered videos, "
        f"{len(snapshot.quarantined)} quarantined files and {len(snapshot.edge_cases)} edge "
        f"cases (all runs; {progress_row.edge_case_tasks} of them on tasks of the config, "
        "the others on tasks not in it or videos no list registers)"
        + (f", [red]{failed} failed attempts[/] (see vidcurate dlq list)" if failed else "")
    )
    return IngestReport(
        uploaded=len(summary.uploaded),
        unchanged=len(summary.unchanged),
        refused=len(summary.refused),
        quarantined=len(snapshot.quarantined),
        edge_cases=len(snapshot.edge_cases),
        failed_events=failed,
    )


def _upload(
    console: Console, services: Context[Settings], folder: Path, config_type: str, *, force: bool
) -> UploadSummary:
    """Upload the folder's files into the annotations bucket with a progress bar."""
    files = sum(1 for path in folder.rglob("*") if not path.is_dir())
    with counting_progress(console, "[bold]uploading files") as progress:
        task = progress.add_task("upload", total=files)
        summary = upload_folder(
            services, folder, config_type, force=force, on_file=lambda _n: progress.advance(task)
        )
    console.print(
        f"uploaded {len(summary.uploaded)} new or changed files to "
        f"gs://{services.settings.annotations_bucket}/{config_type}/, "
        f"{len(summary.unchanged)} unchanged"
    )
    if summary.refused:
        console.print(f"[yellow]{len(summary.refused)} file(s) refused[/] (never uploaded):")
        _print_listed(console, summary.refused)
    if summary.not_in_layout:
        console.print(
            f"[yellow]{len(summary.not_in_layout)} file(s) not uploaded[/]: not in the drop "
            "layout <task>/<video_id>_{feedback,feedback_prev,review}.json or videos/*.jsonl"
        )
        _print_listed(console, summary.not_in_layout)
    return summary


def _print_listed(console: Console, lines: list[str]) -> None:
    """The first ``MAX_LISTED`` lines as bullets, and how many more there are."""
    for line in lines[:MAX_LISTED]:
        console.print(f"  • {escape(line)}")
    if len(lines) > MAX_LISTED:
        console.print(f"  ... {len(lines) - MAX_LISTED} more")


def _print_problems(console: Console, snapshot: Snapshot) -> None:
    """The edge cases (by code, with an example) and the first quarantined files."""
    edge_counts = Counter(e["code"] for e in snapshot.edge_cases)
    if snapshot.edge_cases:
        edges = table(
            "Edge cases (exports stop on these unless --ignore-errors)",
            ("code", "count", "example"),
            right=("count",),
        )
        for code, count in sorted(edge_counts.items()):
            example = next(e for e in snapshot.edge_cases if e["code"] == code)
            where = f"{example['video_id']}" + (f"/{example['task']}" if example["task"] else "")
            edges.add_row(code, str(count), f"{where}: {example['reason']}")
        console.print(edges)
    if snapshot.quarantined:
        console.print(
            f"[yellow]quarantined {len(snapshot.quarantined)} file(s)[/] (kept, not used):"
        )
        for item in snapshot.quarantined[:MAX_LISTED]:
            console.print(f"  • {item['error']}")
        if len(snapshot.quarantined) > MAX_LISTED:
            console.print(
                f"  ... {len(snapshot.quarantined) - MAX_LISTED} more in the "
                f"'{QUARANTINE}' collection (vidcurate status)"
            )


def export_captions(
    console: Console, services: Context[Settings], request: ExportRequest, export_dir: Path
) -> ExportResult | None:
    """Run an export and report it; with a Hub repo, publish it (locally: right away).

    Returns the export, or None when it was refused or its publication failed.
    """
    try:
        result = run_export(
            services,
            request,
            request_id=f"cli-{uuid.uuid4().hex}",
            export_dir=export_dir,
            refuse_empty=True,
        )
    except ExportBlockedError as exc:
        err_console.print(f"[red]{escape(str(exc))}[/]")
        return None
    files = table(
        f"{result.folder} (config {request.config_type!r})", ("file", "bytes"), right=("bytes",)
    )
    for name, size in result.files.items():
        files.add_row(name, f"{size:,}")
    console.print(files)
    totals = result.statistics["totals"]
    console.print(
        f"{totals['videos']} videos: {totals['videos_with_any_completed_task']} with a completed "
        f"task, {totals['videos_with_any_reviewed_task']} reviewed, "
        f"{totals['videos_not_started']} not started"
    )
    if result.warnings:
        console.print(
            f"[yellow]exported despite {totals['edge_cases']} edge case(s) and "
            f"{totals['quarantined_files']} quarantined file(s) (--ignore-errors); they are "
            "listed in the statistics file[/]"
        )
    console.print(f"written to {result.local_dir} and gs://{result.bucket}/{result.folder}/")
    if result.hub_message_id is None:
        return result
    queued = f"queued the Hub upload (message {result.hub_message_id} on hub-uploads)"
    if run_locally(console, services, timeout=600, elsewhere=queued) is None:
        return result
    return result if _report_hub_upload(console, services, result.folder) else None


def _report_hub_upload(console: Console, services: Context[Settings], folder: str) -> bool:
    from shared.publishing.store import hub_upload_status  # noqa: PLC0415 (only when publishing)

    rows = [row for row in hub_upload_status(services.documents) if row.get("folder") == folder]
    if not rows:
        console.print("[red]the Hub upload did not run (see vidcurate status / dlq list)[/]")
        return False
    row = rows[0]
    if row.get("state") == "done":
        console.print(f"published to {row.get('repo_id')}: {row.get('commit_url')}")
        return True
    request = json.dumps({"folder": folder, "repo_id": row.get("repo_id")})
    console.print(
        f"[red]Hub upload {row.get('state')}:[/] {row.get('last_error')}\n"
        f"The export stays in the exports bucket. Once fixed, publish it again with: "
        f"vidcurate publish hub-uploads '{request}'"
    )
    return False

"""``vidcurate ingest`` and ``vidcurate export``: what a user sees around the caption services."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from shared.bootstrap import build_runtime
from shared.captions.export import ExportBlockedError, ExportResult, run_export
from shared.captions.messages import ExportRequest
from shared.captions.progress import caption_progress
from shared.captions.snapshot import take_snapshot
from shared.captions.store import QUARANTINE
from shared.captions.upload import upload_folder
from shared.cli.progress import runtime_progress
from shared.config import Settings
from shared.platform.context import Context

MAX_LISTED = 10


@dataclass(frozen=True)
class IngestReport:
    """Totals of one ``vidcurate ingest`` run."""

    uploaded: int
    unchanged: int
    skipped: int
    quarantined: int
    edge_cases: int
    failed_events: int


def ingest_folder(
    console: Console,
    services: Context[Settings],
    folder: Path,
    config_type: str,
    *,
    force: bool = False,
) -> IngestReport:
    """Upload ``folder`` as an annotation tool would, then process the events until idle."""
    files = sum(1 for path in folder.rglob("*") if not path.is_dir())
    with Progress(
        TextColumn("[bold]uploading files"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("upload", total=files)
        summary = upload_folder(
            services, folder, config_type, force=force, on_file=lambda _n: progress.advance(task)
        )
    console.print(
        f"uploaded {len(summary.uploaded)} new or changed files to "
        f"gs://{services.settings.annotations_bucket}/{config_type}/, "
        f"{len(summary.unchanged)} unchanged"
        + (f", {len(summary.skipped)} skipped (not regular files)" if summary.skipped else "")
    )
    with runtime_progress(console, services) as on_progress:
        stats = build_runtime(services, on_progress=on_progress).run_until_idle(timeout=3600)

    (progress_row,) = [
        p for p in caption_progress(services.documents, services.settings)
        if p.config_type == config_type
    ]  # fmt: skip
    table = Table(title=f"Caption tasks of config {config_type!r}")
    table.add_column("task")
    statuses = ("not_completed", "completed_not_reviewed", "approved", "rejected")
    for status in statuses:
        table.add_column(status, justify="right")
    for task_name, counts in progress_row.tasks.items():
        table.add_row(task_name, *(str(counts[s]) for s in statuses))
    console.print(table)

    snapshot = take_snapshot(services.documents, services.settings, config_type)
    edge_counts = Counter(e["code"] for e in snapshot.edge_cases)
    if snapshot.edge_cases:
        edges = Table(title="Edge cases (exports stop on these unless --ignore-errors)")
        edges.add_column("code")
        edges.add_column("count", justify="right")
        edges.add_column("example")
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
    failed = stats.total_failed
    console.print(
        f"[bold]ingested[/] {stats.handled.get('ingest_feedback', 0)} events: "
        f"{progress_row.registered_videos} videos registered, "
        f"{len(snapshot.quarantined)} files quarantined, {len(snapshot.edge_cases)} edge cases"
        + (f", [red]{failed} failed attempts[/] (see vidcurate dlq list)" if failed else "")
    )
    return IngestReport(
        uploaded=len(summary.uploaded),
        unchanged=len(summary.unchanged),
        skipped=len(summary.skipped),
        quarantined=len(snapshot.quarantined),
        edge_cases=len(snapshot.edge_cases),
        failed_events=failed,
    )


def export(
    console: Console, services: Context[Settings], request: ExportRequest, export_dir: Path
) -> ExportResult | None:
    """Run an export and report it; with a Hub repo, publish it (locally: right away).

    Returns the export, or None when it was refused or its publication failed.
    """
    try:
        result = run_export(
            services, request, request_id=f"cli-{uuid.uuid4().hex}", export_dir=export_dir
        )
    except ExportBlockedError as exc:
        console.print(f"[red]{exc}[/]")
        return None
    table = Table(title=f"{result.folder} (config {request.config_type!r})")
    table.add_column("file")
    table.add_column("bytes", justify="right")
    for name, size in result.files.items():
        table.add_row(name, f"{size:,}")
    console.print(table)
    totals = result.statistics["totals"]
    console.print(
        f"{totals['videos']} videos: {totals['videos_with_any_completed_task']} with a completed "
        f"task, {totals['videos_with_any_reviewed_task']} reviewed, "
        f"{totals['videos_not_started']} not started"
    )
    if result.warnings:
        console.print(
            f"[yellow]exported despite {len(result.warnings)} edge case(s)/quarantined "
            "file(s) (--ignore-errors); they are listed in the statistics file[/]"
        )
    console.print(f"written to {result.local_dir} and gs://{result.bucket}/{result.folder}/")
    if result.hub_message_id is None:
        return result
    if services.settings.backend != "local":
        console.print(f"queued the Hub upload (message {result.hub_message_id} on hub-uploads)")
        return result
    with runtime_progress(console, services) as on_progress:
        build_runtime(services, on_progress=on_progress).run_until_idle(timeout=600)
    return result if _report_hub_upload(console, services, result.folder) else None


def _report_hub_upload(console: Console, services: Context[Settings], folder: str) -> bool:
    from shared.publishing.upload import hub_upload_status  # noqa: PLC0415 (only when publishing)

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

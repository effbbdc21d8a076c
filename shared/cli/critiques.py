"""``vidcurate critiques run|status``: plan, fan out, watch and summarise a critique run."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from tenacity import (
    Retrying,
    retry_if_exception_type,
    retry_if_not_exception_type,
    stop_after_delay,
    wait_exponential,
)

from shared.cli.running import run_locally
from shared.cli.session import JsonOption, console, echo_json, exit_if, output_console, session
from shared.cli.tables import table
from shared.config import Settings
from shared.core.errors import StorageError, TransientError
from shared.critiques.consolidate import copy_outputs
from shared.critiques.messages import CritiqueRequest
from shared.critiques.plan import Plan, TypeCounts, plan_run
from shared.critiques.status import status_report
from shared.critiques.types import CRITIQUE_TYPES
from shared.llm.ledger import summarize_costs
from shared.platform.context import Context

critiques_app = typer.Typer(help="LLM critiques of reviewed captions.", no_args_is_help=True)


EXPORT_FOLDER_HELP = (
    "export_YYYYMMDD_HHMM in the exports bucket, or the local export folder "
    "(caption_export/export_YYYYMMDD_HHMM), which then also gets output_critiques/ and the "
    "consolidated file."
)


@dataclass(frozen=True)
class ExportFolder:
    """An ``--export-folder``: the folder's name in the exports bucket, and the local export
    folder when one was given."""

    name: str
    local: Path | None = None


def export_folder_option(value: str) -> ExportFolder:
    """Parse ``--export-folder``: a local folder (as ``vidcurate export`` prints it) or the
    bare name of one in the exports bucket."""
    path = Path(value).expanduser()
    if path.is_dir():
        return ExportFolder(path.resolve().name, path)
    if len(path.parts) > 1 or path.exists():
        raise typer.BadParameter(f"{value}: no such local export folder")
    if not EXPORT_FOLDER_NAME.fullmatch(value):
        raise typer.BadParameter(
            f"{value!r} is not an export folder: export_YYYYMMDD_HHMM as `vidcurate export` "
            "prints it, or its local path"
        )
    return ExportFolder(value)


EXPORT_FOLDER_NAME = re.compile(r"export_\d{8}_\d{4}(_\d+)?")


ExportFolderOption = Annotated[
    ExportFolder,
    typer.Option("--export-folder", help=EXPORT_FOLDER_HELP, parser=export_folder_option),
]


@critiques_app.command("run")
def critiques_run(
    export_folder: ExportFolderOption,
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
        int | None,
        typer.Option(
            "--max-retries", min=1, help="At most this many attempts per model call (default 3)."
        ),
    ] = None,
    max_cost_usd: Annotated[
        float | None,
        typer.Option("--max-cost-usd", help="Start no call past this estimated spend."),
    ] = None,
    verbose: Annotated[
        bool, typer.Option("--verbose", help="Log every model call and retry (JSON lines).")
    ] = False,
    config_type: Annotated[
        str | None,
        typer.Option("--config-type", help="Task set for long task names (default: the export's)."),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Generate critiques for every reviewed caption of an export; consolidate when done."""
    with session("INFO" if verbose else "WARNING") as services:
        request = CritiqueRequest(
            export_folder=export_folder.name,
            critique_types=tuple(CRITIQUE_TYPES) if critique_type == "all" else (critique_type,),
            dry_run=dry_run,
            force_regenerate=force_regenerate,
            new_only=new_only,
            max_retries=max_retries,
            max_cost_usd=max_cost_usd,
            config_type=config_type,
        )
        plans: list[Plan] = []
        ok = run(output_console(as_json), services, request, local=export_folder.local,
                 planned=plans.append)  # fmt: skip
        if as_json:
            report = None if request.dry_run else status_report(services, request.export_folder)
            echo_json({"plan": asdict(plans[0]) if plans else None, "status": report})
    exit_if(not ok)


@critiques_app.command("status")
def critiques_status(
    export_folder: ExportFolderOption,
    as_json: JsonOption = False,
) -> None:
    """Counts per critique type and status, and whether the run is consolidated (a local
    export folder is brought up to date with the outputs finished so far)."""
    with session() as services:
        report = status_report(services, export_folder.name)
        if export_folder.local is not None:
            copied = copy_outputs(services, export_folder.name, export_folder.local)
            report["local_copy"] = {"folder": str(export_folder.local), **asdict(copied)}
    if as_json:
        console.print_json(json.dumps(report))
    else:
        print_status(console, report)


PLAN_COLUMNS: dict[str, Callable[[TypeCounts], int]] = {
    "generate": lambda c: c.generate,
    "skipped": lambda c: c.skipped,
    "unchanged": lambda c: c.unchanged,
    "reused": lambda c: c.reused,
    "retry": lambda c: c.failed_before,
    "deferred": lambda c: c.deferred,
}
PLAN_LEGEND = {
    "skipped": "skipped: perfect pre-caption",
    "unchanged": "unchanged: done in this run",
    "reused": "reused: same inputs done in an earlier run",
    "retry": "retry: failed before",
    "deferred": "deferred: over --max-cost-usd",
}


def print_plan(console: Console, plan: Plan, *, dry_run: bool) -> None:
    """Per type: to generate, skipped, unchanged, reused, retried, deferred, and the cost."""
    title = "Dry run: nothing is called" if dry_run else f"Critique plan for {plan.run}"
    # Only the columns with something in them (plus generate): a table that fits 80 columns.
    shown = [
        name
        for name, value in PLAN_COLUMNS.items()
        if name == "generate" or any(value(c) for c in plan.by_type.values())
    ]
    caption = "; ".join(PLAN_LEGEND[n] for n in shown if n in PLAN_LEGEND)
    rows = table(title, (), caption=caption)
    rows.add_column("critique type", no_wrap=True)
    for name in (*shown, "est. USD"):
        rows.add_column(name, justify="right")
    total = listed = 0.0
    for name, counts in plan.by_type.items():
        total += counts.estimated_cost_usd
        listed += counts.list_price_usd
        cells = [str(PLAN_COLUMNS[column](counts)) for column in shown]
        rows.add_row(name, *cells, f"{counts.estimated_cost_usd:.4f}")
    console.print(rows)
    console.print(
        f"{plan.items} items; estimated cost ${total:.4f} from the price table (unchanged "
        "and reused items cost nothing)"
    )
    if plan.offline_models:
        console.print(
            f"[yellow]offline provider[/] for {', '.join(plan.offline_models)}: no API key "
            "configured here (OPENAI_API_KEY / GEMINI_API_KEY), so answers are rule-based, "
            f"labelled offline-<model> and free; with keys, this plan would cost about "
            f"${listed:.2f} at list prices"
        )


def print_status(console: Console, report: dict[str, object]) -> None:
    """Counts per type and status, and the consolidated file when there is one."""
    statuses = ("pending", "running", "deferred", "success", "skipped", "failed")
    rows = table(
        f"Critiques of {report['export_folder']}", ("critique type", *statuses), right=statuses
    )
    by_type = report["by_type"]
    assert isinstance(by_type, dict)
    for name, row in by_type.items():
        rows.add_row(name, *(str(row[s]) for s in statuses))
    console.print(rows)
    copy = report.get("local_copy")
    if isinstance(copy, dict):
        console.print(
            f"{copy['folder']}: {copy['copied']} output file(s) copied, "
            f"{copy['unchanged']} already there"
        )
    consolidated = report.get("consolidated_file")
    waiting = report.get("waiting_for") or {}
    assert isinstance(waiting, dict)
    if consolidated:
        console.print(f"consolidated: {consolidated}")
    elif waiting:
        reasons = ", ".join(f"{name} ({why})" for name, why in waiting.items())
        console.print(
            f"not consolidated yet: waiting for: {reasons} (the export consolidates when all "
            "seven types are success or skipped; a re-run retries the failed ones)"
        )
    else:
        console.print(
            "not consolidated yet (every item must be success or skipped; a re-run retries "
            "the failed ones)"
        )


PLAN_WAIT_SECONDS = 900.0
"""How long a run waits for its turn while another plan of the same export is written (runs
of one type each, started in parallel terminals, plan one after the other)."""


def plan_in_turn(services: Context[Settings], request: CritiqueRequest) -> Plan:
    """Plan the run, waiting (with backoff) while another plan of the export is written."""
    retrying = Retrying(
        # Waiting helps a plan in progress, not a full or read-only disk.
        retry=retry_if_exception_type(TransientError) & retry_if_not_exception_type(StorageError),
        stop=stop_after_delay(PLAN_WAIT_SECONDS),
        wait=wait_exponential(multiplier=0.5, max=10),
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            return plan_run(services, request)
    raise AssertionError("unreachable: the retry loop returns or raises")  # pragma: no cover


def run(
    console: Console,
    services: Context[Settings],
    request: CritiqueRequest,
    *,
    local: Path | None = None,
    planned: Callable[[Plan], None] | None = None,
) -> bool:
    """Plan (and unless a dry run, process until idle locally); whether nothing failed.
    With a ``local`` export folder, its outputs are copied there once the run is idle;
    ``planned`` is told the plan."""
    plan = plan_in_turn(services, request)
    if planned is not None:
        planned(plan)
    print_plan(console, plan, dry_run=request.dry_run)
    if request.dry_run:
        return True
    published = f"published {plan.published} jobs to critique-jobs"
    if run_locally(console, services, timeout=24 * 3600, elsewhere=published) is None:
        if local is not None:
            console.print(
                f"{local}: the outputs are copied there by `vidcurate critiques status "
                f"--export-folder {local}` once the run has made them"
            )
        return True
    report = status_report(services, request.export_folder)
    if local is not None:
        copied = copy_outputs(services, request.export_folder, local)
        report["local_copy"] = {"folder": str(local), **asdict(copied)}
    print_status(console, report)
    costs = summarize_costs(services.documents)
    console.print(f"model spend so far (all runs): ${costs.cost_usd:.4f} in {costs.calls} calls")
    totals = report["totals"]
    return isinstance(totals, dict) and not totals.get("failed")

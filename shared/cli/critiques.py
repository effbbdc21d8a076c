"""``vidcurate critiques run|status``: plan, fan out, watch and summarise a critique run."""

from __future__ import annotations

from collections.abc import Callable

from rich.console import Console
from rich.table import Table

from shared.bootstrap import build_runtime
from shared.cli.progress import runtime_progress
from shared.config import Settings
from shared.critiques.messages import CritiqueRequest
from shared.critiques.plan import Plan, TypeCounts, plan_run
from shared.critiques.status import status_report
from shared.llm.ledger import summarize_costs
from shared.platform.context import Context


def print_plan(console: Console, plan: Plan, *, dry_run: bool) -> None:
    """Per type: to generate, skipped, unchanged, reused, retried, deferred, and the cost."""
    title = "Dry run: nothing is called" if dry_run else f"Critique plan for {plan.run}"
    columns: dict[str, Callable[[TypeCounts], int]] = {
        "generate": lambda c: c.generate,
        "skipped": lambda c: c.skipped,
        "unchanged": lambda c: c.unchanged,
        "reused": lambda c: c.reused,
        "retry": lambda c: c.failed_before,
        "deferred": lambda c: c.deferred,
    }
    # Only the columns with something in them (plus generate): a table that fits 80 columns.
    shown = [
        name
        for name, value in columns.items()
        if name == "generate" or any(value(c) for c in plan.by_type.values())
    ]
    legend = {
        "skipped": "skipped: perfect pre-caption",
        "unchanged": "unchanged: done in this run",
        "reused": "reused: same inputs done in an earlier run",
        "retry": "retry: failed before",
        "deferred": "deferred: over --max-cost-usd",
    }
    table = Table(title=title, caption="; ".join(legend[n] for n in shown if n in legend))
    table.add_column("critique type", no_wrap=True)
    for name in (*shown, "est. USD"):
        table.add_column(name, justify="right")
    total = listed = 0.0
    for name, counts in plan.by_type.items():
        total += counts.estimated_cost_usd
        listed += counts.list_price_usd
        cells = [str(columns[column](counts)) for column in shown]
        table.add_row(name, *cells, f"{counts.estimated_cost_usd:.4f}")
    console.print(table)
    console.print(
        f"{plan.items} items; estimated cost ${total:.4f} from the price table (unchanged "
        "and reused items cost nothing)"
    )
    if plan.unpriced_models:
        console.print(
            f"[yellow]no price[/] for {', '.join(plan.unpriced_models)}: estimated and "
            "recorded as $0 (add it to VIDCURATE_MODEL_PRICES)"
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
    table = Table(title=f"Critiques of {report['export_folder']}")
    statuses = ("pending", "running", "deferred", "success", "skipped", "failed")
    for column in ("critique type", *statuses):
        table.add_column(column, justify="left" if column == "critique type" else "right")
    by_type = report["by_type"]
    assert isinstance(by_type, dict)
    for name, row in by_type.items():
        table.add_row(name, *(str(row[s]) for s in statuses))
    console.print(table)
    consolidated = report.get("consolidated_file")
    console.print(
        f"consolidated: {consolidated}"
        if consolidated
        else "not consolidated yet "
        "(every item must be success or skipped; a re-run retries the failed ones)"
    )


def run(console: Console, services: Context[Settings], request: CritiqueRequest) -> bool:
    """Plan (and unless a dry run, process until idle locally); whether nothing failed."""
    plan = plan_run(services, request)
    print_plan(console, plan, dry_run=request.dry_run)
    if request.dry_run:
        return True
    if services.settings.backend != "local":
        console.print(f"published {plan.published} jobs to critique-jobs")
        return True
    with runtime_progress(console, services) as on_progress:
        build_runtime(services, on_progress=on_progress).run_until_idle(timeout=24 * 3600)
    report = status_report(services, request.export_folder)
    print_status(console, report)
    costs = summarize_costs(services.documents)
    console.print(f"model spend so far (all runs): ${costs.cost_usd:.4f} in {costs.calls} calls")
    totals = report["totals"]
    return isinstance(totals, dict) and not totals.get("failed")

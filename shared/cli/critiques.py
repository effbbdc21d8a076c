"""``vidcurate critiques run|status``: plan, fan out, watch and summarise a critique run."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from shared.bootstrap import Services, build_runtime
from shared.cli.progress import runtime_progress
from shared.services.critiques import CritiqueRequest, Plan, plan_run, status_report
from shared.services.models import summarize_costs


def print_plan(console: Console, plan: Plan, *, dry_run: bool) -> None:
    """Per type: generated, skipped (perfect score), unchanged (cached), failed before."""
    title = "Dry run: nothing is called" if dry_run else f"Critique plan for {plan.run}"
    table = Table(title=title)
    for column in ("critique type", "generate", "skipped (perfect)", "unchanged",
                   "failed before", "over budget", "est. cost (USD)"):  # fmt: skip
        table.add_column(column, justify="left" if column == "critique type" else "right")
    total = 0.0
    for name, counts in plan.by_type.items():
        total += counts.estimated_cost_usd
        table.add_row(
            name,
            str(counts.generate),
            str(counts.skipped),
            str(counts.unchanged),
            str(counts.failed_before),
            str(counts.deferred),
            f"{counts.estimated_cost_usd:.4f}",
        )
    console.print(table)
    console.print(f"{plan.items} items; estimated cost ${total:.4f} (price table)")
    if plan.offline_models:
        console.print(
            f"[yellow]offline provider[/] for {', '.join(plan.offline_models)}: no API key "
            "configured here (OPENAI_API_KEY / GEMINI_API_KEY), so answers are rule-based "
            "and labelled offline-<model>"
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


def run(console: Console, services: Services, request: CritiqueRequest) -> bool:
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

"""What the costs page shows (and its CSV downloads): spend per day and by model, kind and
run, tokens, requests per minute against each model's limit, and the budget caps runs were
planned under.

Read from the spend kept beside the ledger (:mod:`shared.llm.ledger`): a few documents per
day and per hour, never the ledger itself, however many calls it holds.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta
from typing import Any, Literal

from shared.config import Settings
from shared.critiques.store import RUNS as CRITIQUE_RUNS
from shared.discovery.runs import RUNS as DISCOVERY_RUNS
from shared.llm.ledger import recent_requests, spend_report
from shared.platform.context import Context

__all__ = ["COST_TABLES", "WINDOWS", "CostTable", "collect_costs", "costs_csv"]

WINDOWS = (7, 30, 90)  # days the page offers
RATE_MINUTES = 60  # requests per minute are shown over the last hour
CAPPED_RUNS_SHOWN = 50
CostTable = Literal["days", "models", "kinds", "runs", "minutes"]
COST_TABLES: tuple[CostTable, ...] = ("days", "models", "kinds", "runs", "minutes")


def collect_costs(services: Context[Settings], *, days: int, now: datetime) -> dict[str, Any]:
    """Everything the page draws, for the ``days`` ending today (UTC)."""
    documents = services.documents
    first = (now - timedelta(days=days - 1)).date()
    spend = spend_report(documents, since=first)
    every_day = [(first + timedelta(days=n)).isoformat() for n in range(days)]
    empty = {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
    summary = spend.summary
    models = sorted({m for per_day in spend.days_by_model.values() for m in per_day})
    recent = recent_requests(documents, now=now, minutes=RATE_MINUTES)
    return {
        "days": days,
        "since": first.isoformat(),
        "until": every_day[-1],
        "totals": {
            "calls": summary.calls,
            "input_tokens": summary.input_tokens,
            "output_tokens": summary.output_tokens,
            "cost_usd": summary.cost_usd,
            "unused_calls": summary.unused_calls,
            "unused_cost_usd": summary.unused_cost_usd,
        },
        "per_day": [{"day": day, **spend.days.get(day, empty)} for day in every_day],
        "per_day_by_model": {
            model: [spend.days_by_model.get(day, {}).get(model, 0.0) for day in every_day]
            for model in models
        },
        "by_model": summary.by_model,
        "by_kind": summary.by_kind,
        "by_run": dict(
            sorted(spend.by_run.items(), key=lambda item: item[1]["cost_usd"], reverse=True)
        ),
        "rates": _rates(services.settings, recent.minutes, recent.calls, recent.tokens),
        "caps": _caps(services, spend.by_run),
    }


def _rates(
    settings: Settings,
    minutes: list[str],
    calls: dict[str, list[int]],
    tokens: dict[str, list[int]],
) -> dict[str, Any]:
    """Requests (and tokens) per minute of each model over the last hour, with its limit."""
    rows = []
    for model, per_minute in calls.items():
        requests_limit, tokens_limit = _limits(settings, model)
        used = tokens[model]
        rows.append(
            {
                "model": model,
                "calls": per_minute,
                "tokens": used,
                "last_minute": per_minute[-2] if len(per_minute) > 1 else per_minute[-1],
                "peak": max(per_minute),
                "peak_tokens": max(used),
                "limit": requests_limit,
                "tokens_limit": tokens_limit,
            }
        )
    return {"minutes": minutes, "models": rows}


def _limits(settings: Settings, model: str) -> tuple[int, int | None]:
    """A model's requests per minute (and tokens per minute, for text models) as limited."""
    if model in settings.image_prices:
        return settings.image_limit(model), None
    if model in settings.transcription_prices:
        return settings.transcription_limit(model), None
    limit = settings.model_limit(model)
    return limit.requests_per_minute, limit.tokens_per_minute


def _caps(services: Context[Settings], by_run: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    """Runs planned under a budget cap (--max-cost-usd): the cap and what they spent."""
    documents = services.documents
    found = []
    for doc in documents.query(
        CRITIQUE_RUNS, where=[("request.max_cost_usd", ">", 0)], limit=CAPPED_RUNS_SHOWN
    ):
        request = doc.data.get("request") or {}
        found.append(("critiques", doc.id, float(request["max_cost_usd"]), None))
    for doc in documents.query(
        DISCOVERY_RUNS, where=[("max_cost_usd", ">", 0)], limit=CAPPED_RUNS_SHOWN
    ):
        estimate = doc.data.get("estimate_usd")
        found.append(("discovery", doc.id, float(doc.data["max_cost_usd"]), estimate))
    caps = []
    for kind, run, cap, estimate in found:
        spent = float(by_run.get(run, {}).get("cost_usd", 0.0))
        caps.append(
            {
                "kind": kind,
                "run": run,
                "cap_usd": cap,
                "estimate_usd": estimate,
                "spent_usd": spent,
                "used": round(spent / cap, 4) if cap else None,
            }
        )
    return sorted(caps, key=lambda row: row["used"] or 0.0, reverse=True)


def costs_csv(report: dict[str, Any], table: CostTable) -> str:
    """One table of the report as CSV (a header row first)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    measures = ["calls", "input_tokens", "output_tokens", "cost_usd"]
    if table == "days":
        models = list(report["per_day_by_model"])
        writer.writerow(["day", *measures, *(_cell(f"cost_usd {model}") for model in models)])
        for index, row in enumerate(report["per_day"]):
            by_model = [report["per_day_by_model"][model][index] for model in models]
            writer.writerow([row["day"], *(row[m] for m in measures), *by_model])
    elif table == "minutes":
        writer.writerow(["minute", "model", "calls", "tokens", "requests_per_minute_limit"])
        minutes = report["rates"]["minutes"]
        for row in report["rates"]["models"]:
            for index, minute in enumerate(minutes):
                calls, tokens = row["calls"][index], row["tokens"][index]
                writer.writerow([minute, _cell(row["model"]), calls, tokens, row["limit"]])
    else:
        key = {"models": "by_model", "kinds": "by_kind", "runs": "by_run"}[table]
        writer.writerow([table[:-1], *measures])
        for name, row in report[key].items():
            writer.writerow([_cell(name), *(row[m] for m in measures)])
    return out.getvalue()


def _cell(text: str) -> str:
    """A name as a spreadsheet shows it, never as a formula (a run or model name that
    starts with = + - @ would otherwise be evaluated)."""
    return f"'{text}" if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text

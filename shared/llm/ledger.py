"""The model_calls ledger: what each call cost, summaries by model and kind."""

from __future__ import annotations

from dataclasses import dataclass

from shared.llm.settings import LlmSettings
from shared.ports import DocumentStore

MODEL_CALLS = "model_calls"


def cost_usd(settings: LlmSettings, model: str, input_tokens: int, output_tokens: int) -> float:
    """What ``model`` charges for these tokens by the price table (0 if it is not listed)."""
    price = settings.model_prices.get(model)
    if price is None:
        return 0.0
    return round(
        (input_tokens * price.input_per_million + output_tokens * price.output_per_million)
        / 1_000_000,
        8,
    )


@dataclass(frozen=True)
class CostSummary:
    """Spend summed from the ledger."""

    calls: int  # every billed call, used or not
    input_tokens: int
    output_tokens: int
    cost_usd: float
    by_model: dict[str, dict[str, float]]
    by_kind: dict[str, dict[str, float]]
    unused_calls: int = 0  # billed answers that did not fit or were refused (in calls)
    unused_cost_usd: float = 0.0


def summarize_costs(
    documents: DocumentStore, *, kind_label: str = "kind", run: str | None = None
) -> CostSummary:
    """Totals by model and by ``labels[kind_label]`` (critique type, "vision", ...); with
    ``run``, of the calls labelled with that run only."""
    by_model: dict[str, dict[str, float]] = {}
    by_kind: dict[str, dict[str, float]] = {}
    calls = input_tokens = output_tokens = unused_calls = 0
    total = unused_cost = 0.0
    calls_made = (
        documents.iter_collection(MODEL_CALLS)
        if run is None
        else documents.query(MODEL_CALLS, where=[("labels.run", "==", run)])
    )
    for doc in calls_made:
        data = doc.data
        calls += 1
        if data.get("outcome", "success") != "success":
            unused_calls += 1
            unused_cost += float(data["cost_usd"])
        input_tokens += int(data["input_tokens"])
        output_tokens += int(data["output_tokens"])
        total += float(data["cost_usd"])
        kind = (data.get("labels") or {}).get(kind_label) or data["prompt_name"]
        for table, key in ((by_model, data["model"]), (by_kind, kind)):
            row = table.setdefault(
                key, {"calls": 0, "input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0}
            )
            row["calls"] += 1
            row["input_tokens"] += int(data["input_tokens"])
            row["output_tokens"] += int(data["output_tokens"])
            row["cost_usd"] = round(row["cost_usd"] + float(data["cost_usd"]), 8)
    return CostSummary(
        calls=calls,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost_usd=round(total, 8),
        by_model=dict(sorted(by_model.items())),
        by_kind=dict(sorted(by_kind.items())),
        unused_calls=unused_calls,
        unused_cost_usd=round(unused_cost, 8),
    )

"""The model_calls ledger: what each call cost, and the spend kept beside it.

Every call is one ``model_calls`` document (thousands of workers write side by side). In the
same batch it is added, with :class:`~shared.ports.Increment`, to two kinds of totals that the
cost views read instead of the ledger (a million calls are summed from a few hundred
documents):

``model_spend_days/<day>-<shard>``
    the day's calls, tokens and dollars: in all, by model, by kind (``labels.kind``, else the
    prompt's name) and by run (``labels.run``);
``model_spend_hours/<day>T<hour>-<shard>``
    calls and tokens by minute and model: requests per minute against each model's limit.

A call adds to one of :data:`SPEND_SHARDS` documents (by a hash of its id), so that one document
is never written faster than Firestore sustains.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from shared.llm.settings import LlmSettings
from shared.ports import SERVER_TIMESTAMP, DocumentStore, Increment

MODEL_CALLS = "model_calls"
SPEND_DAYS = "model_spend_days"
SPEND_HOURS = "model_spend_hours"
SPEND_SHARDS = 8
MEASURES = ("calls", "input_tokens", "output_tokens", "cost_usd")


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


def call_kind(entry: Mapping[str, Any]) -> str:
    """What a ledger entry is spent on: its ``labels.kind`` (critique type, "vision", ...),
    else its prompt's name."""
    return str((entry.get("labels") or {}).get("kind") or entry["prompt_name"])


def record_call(
    documents: DocumentStore,
    call_id: str,
    entry: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> None:
    """Write one ledger entry (``outcome``, ``model``, ``prompt_name``, tokens, ``cost_usd``,
    ``labels``, ...) and add it to its day's and hour's spend, all in one batch: the totals
    never count a call the ledger lacks, nor miss one it has."""
    at = (now or datetime.now(UTC)).astimezone(UTC)
    day = at.strftime("%Y-%m-%d")
    used = entry.get("outcome", "success") == "success"
    inputs, outputs = int(entry["input_tokens"]), int(entry["output_tokens"])
    cost = float(entry["cost_usd"])
    measures = {
        "calls": Increment(1),
        "input_tokens": Increment(inputs),
        "output_tokens": Increment(outputs),
        "cost_usd": Increment(cost),
    }
    totals: dict[str, Any] = dict(measures)
    if not used:
        totals |= {"unused_calls": Increment(1), "unused_cost_usd": Increment(cost)}
    spent: dict[str, Any] = {
        "day": day,
        "total": totals,
        "by_model": {entry["model"]: measures},
        "by_kind": {call_kind(entry): measures},
    }
    run = (entry.get("labels") or {}).get("run")
    if run:
        spent["by_run"] = {str(run): measures}
    minute = {
        "calls": Increment(1),
        "tokens": Increment(inputs + outputs),
    }
    shard = zlib.crc32(call_id.encode()) % SPEND_SHARDS
    hour = at.strftime("%Y-%m-%dT%H")
    with documents.batch() as batch:
        batch.create(
            f"{MODEL_CALLS}/{call_id}", {**entry, "day": day, "recorded_at": SERVER_TIMESTAMP}
        )
        batch.set(f"{SPEND_DAYS}/{day}-{shard}", spent, merge=True)
        batch.set(
            f"{SPEND_HOURS}/{hour}-{shard}",
            {"hour": hour, "minutes": {at.strftime("%M"): {entry["model"]: minute}}},
            merge=True,
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


def summarize_costs(documents: DocumentStore, *, run: str | None = None) -> CostSummary:
    """Totals by model and by kind: of every call (from the day totals), or with ``run``, of
    the calls labelled with that run (from their ledger entries)."""
    if run is None:
        return spend_report(documents).summary
    rows = _Rows()
    for doc in documents.query(MODEL_CALLS, where=[("labels.run", "==", run)]):
        data = doc.data
        used = data.get("outcome", "success") == "success"
        measures = {
            "calls": 1,
            "input_tokens": int(data["input_tokens"]),
            "output_tokens": int(data["output_tokens"]),
            "cost_usd": float(data["cost_usd"]),
        }
        rows.add("total", "", measures)
        if not used:
            rows.add("total", "", {"unused_calls": 1, "unused_cost_usd": measures["cost_usd"]})
        rows.add("by_model", data["model"], measures)
        rows.add("by_kind", call_kind(data), measures)
    return rows.summary()


@dataclass(frozen=True)
class SpendReport:
    """Spend per day (in all and by model) and over the days read, by model, kind and run."""

    summary: CostSummary
    days: dict[str, dict[str, float]]  # day -> calls, tokens, dollars
    days_by_model: dict[str, dict[str, float]]  # day -> model -> dollars
    by_run: dict[str, dict[str, float]]


def spend_report(documents: DocumentStore, *, since: date | None = None) -> SpendReport:
    """The day totals from ``since`` (every day without it), read from
    :data:`SPEND_DAYS` (a few documents per day, however many calls)."""
    if since is None:
        found: Iterable[Any] = documents.iter_collection(SPEND_DAYS)
    else:
        found = documents.query(SPEND_DAYS, where=[("day", ">=", since.isoformat())])
    rows = _Rows()
    days: dict[str, dict[str, float]] = {}
    days_by_model: dict[str, dict[str, float]] = {}
    for doc in found:
        data = doc.data
        day = str(data["day"])
        rows.add("total", "", data.get("total") or {})
        _add(days.setdefault(day, _zero()), data.get("total") or {})
        per_model = days_by_model.setdefault(day, {})
        for table in ("by_model", "by_kind", "by_run"):
            for key, measures in (data.get(table) or {}).items():
                rows.add(table, key, measures)
                if table == "by_model":
                    per_model[key] = per_model.get(key, 0.0) + float(measures.get("cost_usd", 0))
    return SpendReport(
        summary=rows.summary(),
        days={day: _rounded(days[day]) for day in sorted(days)},
        days_by_model={
            day: {model: round(cost, 8) for model, cost in sorted(days_by_model[day].items())}
            for day in sorted(days_by_model)
        },
        by_run=rows.table("by_run"),
    )


@dataclass(frozen=True)
class RecentRequests:
    """Calls and tokens per minute and model over the last minutes (oldest first), the
    current minute last."""

    minutes: list[str]  # "2026-12-04T19:05", ...
    calls: dict[str, list[int]]  # model -> calls in each minute
    tokens: dict[str, list[int]]


def recent_requests(
    documents: DocumentStore, *, now: datetime, minutes: int = 60
) -> RecentRequests:
    """Requests per minute of each model, read from :data:`SPEND_HOURS` (the hours the
    window touches, a few documents each)."""
    now = now.astimezone(UTC).replace(second=0, microsecond=0)
    window = [now - timedelta(minutes=back) for back in range(minutes - 1, -1, -1)]
    first_hour = window[0].strftime("%Y-%m-%dT%H")
    position = {at.strftime("%Y-%m-%dT%H:%M"): index for index, at in enumerate(window)}
    calls: dict[str, list[int]] = {}
    tokens: dict[str, list[int]] = {}
    for doc in documents.query(SPEND_HOURS, where=[("hour", ">=", first_hour)]):
        hour = str(doc.data["hour"])
        for minute, per_model in (doc.data.get("minutes") or {}).items():
            index = position.get(f"{hour}:{minute}")
            if index is None:
                continue
            for model, measures in per_model.items():
                calls.setdefault(model, [0] * minutes)[index] += int(measures.get("calls", 0))
                tokens.setdefault(model, [0] * minutes)[index] += int(measures.get("tokens", 0))
    return RecentRequests(
        minutes=list(position),
        calls=dict(sorted(calls.items())),
        tokens={model: tokens[model] for model in sorted(tokens)},
    )


def _zero() -> dict[str, float]:
    return dict.fromkeys(MEASURES, 0.0)


def _add(row: dict[str, float], measures: Mapping[str, Any]) -> None:
    for name, value in measures.items():
        row[name] = row.get(name, 0.0) + float(value)


def _rounded(row: Mapping[str, float]) -> dict[str, float]:
    return {
        name: round(value, 8) if name.endswith("usd") else int(value) for name, value in row.items()
    }


@dataclass
class _Rows:
    """Measures summed per table and key."""

    tables: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)

    def add(self, table: str, key: str, measures: Mapping[str, Any]) -> None:
        _add(self.tables.setdefault(table, {}).setdefault(key, _zero()), measures)

    def table(self, name: str) -> dict[str, dict[str, float]]:
        rows = self.tables.get(name, {})
        return {key: _rounded(rows[key]) for key in sorted(rows)}

    def summary(self) -> CostSummary:
        total = self.table("total").get("", _zero())
        return CostSummary(
            calls=int(total["calls"]),
            input_tokens=int(total["input_tokens"]),
            output_tokens=int(total["output_tokens"]),
            cost_usd=float(total["cost_usd"]),
            by_model=self.table("by_model"),
            by_kind=self.table("by_kind"),
            unused_calls=int(total.get("unused_calls", 0)),
            unused_cost_usd=float(total.get("unused_cost_usd", 0.0)),
        )

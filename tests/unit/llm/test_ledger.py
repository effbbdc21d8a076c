"""The spend kept beside the ledger: the day and hour totals equal sums over the ledger,
whatever the models, kinds, runs, outcomes and days, and however many writers at once."""

from __future__ import annotations

import random
import threading
from datetime import UTC, date, datetime, timedelta

import pytest

from shared.adapters.local import SqliteDocumentStore
from shared.llm.ledger import (
    MODEL_CALLS,
    SPEND_DAYS,
    SPEND_SHARDS,
    call_kind,
    recent_requests,
    record_call,
    spend_report,
    summarize_costs,
)

START = datetime(2026, 12, 3, 22, 58, 30, tzinfo=UTC)


@pytest.fixture
def documents(tmp_path):
    store = SqliteDocumentStore(tmp_path / "documents.sqlite")
    yield store
    store.close()


def _entry(rng: random.Random) -> dict:
    labels = {"kind": rng.choice(["vision", "blind_model_critique", ""])}
    if rng.random() < 0.7:
        labels["run"] = rng.choice(["r1", "r2"])
    return {
        "outcome": rng.choice(["success", "success", "success", "malformed"]),
        "model": rng.choice(["gpt-4.1", "gpt-4o-mini", "o3"]),
        "prompt_name": rng.choice(["describe", "critique"]),
        "input_tokens": rng.randrange(2000),
        "output_tokens": rng.randrange(300),
        "cost_usd": round(rng.random() / 100, 8),
        "labels": labels,
    }


def _ledger_sums(documents, key) -> dict[str, dict[str, float]]:
    sums: dict[str, dict[str, float]] = {}
    for doc in documents.iter_collection(MODEL_CALLS):
        row = sums.setdefault(key(doc.data), {"calls": 0, "cost_usd": 0.0, "input_tokens": 0})
        row["calls"] += 1
        row["cost_usd"] += doc.data["cost_usd"]
        row["input_tokens"] += doc.data["input_tokens"]
    return sums


def _matches(report: dict[str, dict[str, float]], sums: dict[str, dict[str, float]]) -> None:
    assert set(report) == set(sums)
    for key, row in sums.items():
        assert report[key]["calls"] == row["calls"], key
        assert report[key]["input_tokens"] == row["input_tokens"], key
        assert report[key]["cost_usd"] == pytest.approx(row["cost_usd"], abs=1e-7), key


def test_day_totals_equal_sums_over_the_ledger(documents):
    rng = random.Random(7)
    # 300 calls over three days (the first two minutes before midnight)
    for index in range(300):
        record_call(documents, f"c{index}", _entry(rng), now=START + timedelta(minutes=index * 10))

    report = spend_report(documents)
    summary = report.summary

    _matches(summary.by_model, _ledger_sums(documents, lambda d: d["model"]))
    _matches(summary.by_kind, _ledger_sums(documents, call_kind))
    by_run = _ledger_sums(documents, lambda d: d["labels"].get("run"))
    assert by_run.pop(None)["calls"] > 0  # calls of no run are in no run's row
    _matches(report.by_run, by_run)
    assert summary.calls == 300 == documents.count(MODEL_CALLS)
    unused = [d.data for d in documents.iter_collection(MODEL_CALLS)]
    unused = [d for d in unused if d["outcome"] != "success"]
    assert summary.unused_calls == len(unused) > 0
    assert summary.unused_cost_usd == pytest.approx(sum(d["cost_usd"] for d in unused), abs=1e-7)
    by_day = _ledger_sums(documents, lambda d: d["day"])
    _matches(report.days, by_day)
    assert list(report.days) == ["2026-12-03", "2026-12-04", "2026-12-05", "2026-12-06"]
    for day, models in report.days_by_model.items():
        assert sum(models.values()) == pytest.approx(report.days[day]["cost_usd"], abs=1e-7)
    # A few documents per day, however many calls.
    assert documents.count(SPEND_DAYS) <= 4 * SPEND_SHARDS


def test_runs_without_a_label_are_not_a_run_and_a_run_reads_its_own_calls(documents):
    rng = random.Random(3)
    for index in range(120):
        record_call(documents, f"c{index}", _entry(rng), now=START)

    report = spend_report(documents)
    assert set(report.by_run) == {"r1", "r2"}
    for run in ("r1", "r2"):
        own = summarize_costs(documents, run=run)
        assert own.calls == report.by_run[run]["calls"]
        assert own.cost_usd == pytest.approx(report.by_run[run]["cost_usd"], abs=1e-7)


def test_since_reads_only_the_days_from_then(documents):
    rng = random.Random(5)
    for index in range(60):
        record_call(documents, f"c{index}", _entry(rng), now=START + timedelta(hours=index))

    report = spend_report(documents, since=date(2026, 12, 5))

    assert min(report.days) == "2026-12-05"
    assert report.summary.calls == sum(
        1 for d in documents.iter_collection(MODEL_CALLS) if d.data["day"] >= "2026-12-05"
    )


def test_requests_per_minute_of_the_last_hour_by_model(documents):
    rng = random.Random(11)
    made: dict[tuple[str, str], int] = {}
    for index in range(400):
        at = START + timedelta(seconds=rng.randrange(0, 3 * 3600))
        entry = _entry(rng)
        record_call(documents, f"c{index}", entry, now=at)
        key = (entry["model"], at.strftime("%Y-%m-%dT%H:%M"))
        made[key] = made.get(key, 0) + 1
    now = START + timedelta(hours=2, minutes=13, seconds=40)

    recent = recent_requests(documents, now=now, minutes=60)

    assert len(recent.minutes) == 60
    assert recent.minutes[-1] == now.strftime("%Y-%m-%dT%H:%M")
    assert recent.minutes[0] == (now - timedelta(minutes=59)).strftime("%Y-%m-%dT%H:%M")
    for model, per_minute in recent.calls.items():
        assert per_minute == [made.get((model, minute), 0) for minute in recent.minutes]
    assert sum(map(sum, recent.calls.values())) == sum(
        count for (_, minute), count in made.items() if minute in set(recent.minutes)
    )


def test_concurrent_writers_lose_no_call(documents):
    def write(worker: int) -> None:
        rng = random.Random(worker)
        for index in range(50):
            record_call(documents, f"w{worker}-{index}", _entry(rng), now=START)

    threads = [threading.Thread(target=write, args=(worker,)) for worker in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    summary = summarize_costs(documents)
    assert summary.calls == 300
    assert summary.cost_usd == pytest.approx(
        sum(d.data["cost_usd"] for d in documents.iter_collection(MODEL_CALLS)), abs=1e-7
    )

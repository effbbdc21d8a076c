"""The costs page over HTTP: what it draws equals the ledger's sums, for the period asked;
its tables download as CSV (names never as formulas); bad periods and tables are a 422,
and nothing is shown before sign-in."""

from __future__ import annotations

import csv
import io
import random
from datetime import UTC, datetime, timedelta

import pytest
import requests
from labelling_support import web_app

from shared.critiques.store import runs_path
from shared.discovery.runs import RUNS as DISCOVERY_RUNS
from shared.learning import invite
from shared.llm.ledger import MODEL_CALLS, record_call


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    return session


def seed(documents, now: datetime) -> None:
    rng = random.Random(1)
    for index in range(200):
        at = now - timedelta(minutes=rng.randrange(0, 60 * 24 * 40))
        if index < 30:
            at = now - timedelta(seconds=rng.randrange(0, 50 * 60))  # some in the last hour
        run = rng.choice(["export_20261201_1200", "disc_1", '=HYPERLINK("x")'])
        record_call(
            documents,
            f"call{index}",
            {
                "outcome": "success",
                "model": rng.choice(["gpt-4.1", "gpt-4o-mini"]),
                "prompt_name": "p",
                "input_tokens": rng.randrange(1000),
                "output_tokens": rng.randrange(100),
                "cost_usd": round(rng.random() / 50, 6),
                "labels": {"kind": rng.choice(["vision", "blind_model_critique"]), "run": run},
            },
            now=at,
        )
    documents.set(
        runs_path("export_20261201_1200"),
        {"folder": "export_20261201_1200", "request": {"max_cost_usd": 0.5}},
    )
    documents.set(f"{DISCOVERY_RUNS}/disc_1", {"max_cost_usd": 2.0, "estimate_usd": 1.5})


@pytest.fixture
def site(make_services):
    services = make_services()
    seed(services.documents, datetime.now(UTC))
    with web_app(services) as base:
        yield services, base, signed_in(base, invite(services.documents, "viv"))


def ledger_since(documents, first_day: str) -> list[dict]:
    return [d.data for d in documents.iter_collection(MODEL_CALLS) if d.data["day"] >= first_day]


@pytest.mark.parametrize("days", [7, 30])
def test_the_report_equals_the_ledger_of_the_period(site, days):
    services, base, viewer = site

    report = viewer.get(f"{base}/api/costs", params={"days": days}, timeout=10).json()

    calls = ledger_since(services.documents, report["since"])
    assert len(report["per_day"]) == days
    assert report["per_day"][-1]["day"] == datetime.now(UTC).date().isoformat()
    assert report["totals"]["calls"] == len(calls) > 0
    assert report["totals"]["cost_usd"] == pytest.approx(sum(c["cost_usd"] for c in calls))
    for model, row in report["by_model"].items():
        own = [c for c in calls if c["model"] == model]
        assert row["calls"] == len(own)
        assert sum(report["per_day_by_model"][model]) == pytest.approx(row["cost_usd"])
    assert sum(r["calls"] for r in report["by_kind"].values()) == len(calls)
    # the last hour: every call made in it is a request of its minute
    recent = report["rates"]
    assert len(recent["minutes"]) == 60
    assert sum(sum(m["calls"]) for m in recent["models"]) >= 30
    assert all(m["limit"] > 0 for m in recent["models"])
    caps = {c["run"]: c for c in report["caps"]}
    assert caps["export_20261201_1200"]["cap_usd"] == 0.5
    assert caps["disc_1"]["estimate_usd"] == 1.5
    spent = sum(c["cost_usd"] for c in calls if c["labels"]["run"] == "disc_1")
    assert caps["disc_1"]["spent_usd"] == pytest.approx(spent)


def test_the_page_and_its_downloads(site):
    _services, base, viewer = site

    page = viewer.get(f"{base}/costs", params={"days": 7}, timeout=10)
    assert page.status_code == 200
    for chart in ("chart-days", "chart-tokens", "chart-models", "chart-kinds", "chart-runs"):
        assert f'id="{chart}"' in page.text
    assert "/static/chart.umd.min.js" in page.text
    assert viewer.get(f"{base}/static/chart.umd.min.js", timeout=10).status_code == 200

    days = viewer.get(f"{base}/costs/days.csv", params={"days": 7}, timeout=10)
    assert days.headers["content-type"].startswith("text/csv")
    assert "vidcurate-costs-days-7d.csv" in days.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(days.text)))
    assert len(rows) == 7
    report = viewer.get(f"{base}/api/costs", params={"days": 7}, timeout=10).json()
    assert sum(float(r["cost_usd"]) for r in rows) == pytest.approx(report["totals"]["cost_usd"])

    runs = list(csv.reader(io.StringIO(viewer.get(f"{base}/costs/runs.csv", timeout=10).text)))
    names = [row[0] for row in runs[1:]]
    assert '\'=HYPERLINK("x")' in names  # shown as text by a spreadsheet, never run
    minutes = list(csv.DictReader(io.StringIO(viewer.get(f"{base}/costs/minutes.csv").text)))
    assert sum(int(r["calls"]) for r in minutes) == sum(
        sum(m["calls"]) for m in report["rates"]["models"]
    )


@pytest.mark.parametrize(
    "path",
    ["/costs?days=0", "/costs?days=91", "/costs?days=x", "/costs/ledger.csv", "/api/costs?days=-1"],
)
def test_bad_periods_and_tables_are_refused(site, path):
    _services, base, viewer = site

    answer = viewer.get(f"{base}{path}", timeout=10)

    assert answer.status_code == 422
    assert "Traceback" not in answer.text


def test_nothing_before_sign_in(site):
    _services, base, _viewer = site
    assert requests.get(f"{base}/api/costs", timeout=10).status_code == 401
    for path in ("/costs", "/costs/days.csv"):  # a page sends the browser to sign in
        answer = requests.get(f"{base}{path}", timeout=10, allow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin")

"""The fan-out / fan-in primitive over the local stores: items recorded, the barrier asked by
finishers, the consolidation of a plan claimed once, whatever the duplicates, crashes and
concurrency. Judged by what the stores hold and what the bus carries."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from pydantic import BaseModel

from shared.adapters.local.bus import SqliteMessageBus
from shared.adapters.local.documents import SqliteDocumentStore
from shared.platform.fanout import FanIn, any_open, record_items
from shared.platform.topics import Topic

RUN = "run-1"
FINISHERS = 16


class Consolidate(BaseModel):
    run: str
    plan_id: str


CONSOLIDATIONS = Topic("test-consolidations", Consolidate)
BARRIER = FanIn(
    topic=CONSOLIDATIONS,
    run_path=lambda run: f"runs/{run}",
    items_path=lambda run: f"runs/{run}/items",
    open_statuses=("pending", "running", "failed"),
    request=lambda run, plan_id: Consolidate(run=run, plan_id=plan_id),
    lease_seconds=600.0,
)


@pytest.fixture
def documents(tmp_path: Path) -> SqliteDocumentStore:
    return SqliteDocumentStore(tmp_path / "docs.sqlite")


@pytest.fixture
def bus(tmp_path: Path) -> SqliteMessageBus:
    built = SqliteMessageBus(tmp_path / "bus.sqlite")
    built.create_subscription("probe", CONSOLIDATIONS.name)
    return built


def plan(documents: SqliteDocumentStore, items: int, plan_id: str = "p1") -> None:
    """A run planned with ``items`` pending items."""
    record_items(
        documents,
        BARRIER.items_path(RUN),
        [(f"i{n:03d}", {"status": "pending"}) for n in range(items)],
    )
    documents.set(BARRIER.run_path(RUN), {"plan_id": plan_id, "timestamp": "20260101_1200"})


def asks(bus: SqliteMessageBus) -> list[dict[str, str]]:
    return [json.loads(m.data) for m in bus.pull("probe", max_messages=1000)]


def test_items_are_recorded_in_batches_and_the_barrier_stays_shut_while_one_is_open(documents, bus):
    # GIVEN a run of 450 items (more than one write batch), all finished but one
    plan(documents, 450)
    for n in range(449):
        documents.update(f"{BARRIER.items_path(RUN)}/i{n:03d}", {"status": "success"})

    # WHEN a finisher asks, THEN nothing is requested
    assert documents.count(BARRIER.items_path(RUN)) == 450
    assert any_open(documents, BARRIER.items_path(RUN), BARRIER.open_statuses)
    assert BARRIER.ask(documents, bus, RUN) is False
    assert asks(bus) == []

    # WHEN the last one finishes, THEN its finisher asks for this plan's consolidation
    documents.update(f"{BARRIER.items_path(RUN)}/i449", {"status": "skipped"})
    assert BARRIER.ask(documents, bus, RUN) is True
    assert asks(bus) == [{"run": RUN, "plan_id": "p1"}]


def test_sixteen_concurrent_finishers_lead_to_one_consolidation(documents, bus):
    # GIVEN a run of 16 items, one per finisher
    plan(documents, FINISHERS)
    start = threading.Barrier(FINISHERS)
    claimed: list[str] = []
    refused: list[str] = []
    lock = threading.Lock()

    def finisher(n: int) -> None:
        # each finishes its item and asks; then handles a consolidation request (as the
        # consolidation function would, duplicates included) and ends what it claimed
        documents.update(f"{BARRIER.items_path(RUN)}/i{n:03d}", {"status": "success"})
        start.wait()
        BARRIER.ask(documents, bus, RUN)
        state = BARRIER.begin(documents, RUN, "p1", f"d{n}")
        with lock:
            (claimed if isinstance(state, dict) else refused).append(str(state))
        if isinstance(state, dict):
            assert BARRIER.end(documents, RUN, "p1", f"d{n}", result={"file": f"f{n}"})

    threads = [threading.Thread(target=finisher, args=(n,)) for n in range(FINISHERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # THEN exactly one consolidation ran; every other delivery was told held or done
    assert len(claimed) == 1
    assert set(refused) <= {"held", "done"}
    assert len(refused) == FINISHERS - 1
    run = documents.get(BARRIER.run_path(RUN)).data
    assert run["consolidated_plan"] == "p1"
    assert run["consolidating"] is None
    assert BARRIER.claimed_by(documents, RUN, "p1")["done_at"] is not None
    # at least one request was published, and asking again after the fan-in is a no-op
    assert asks(bus)
    assert BARRIER.ask(documents, bus, RUN) is False
    assert BARRIER.begin(documents, RUN, "p1", "late") == "done"


def test_a_duplicate_request_for_a_consolidated_plan_does_nothing(documents, bus):
    plan(documents, 1)
    documents.update(f"{BARRIER.items_path(RUN)}/i000", {"status": "success"})
    assert isinstance(BARRIER.begin(documents, RUN, "p1", "d1"), dict)
    assert BARRIER.end(documents, RUN, "p1", "d1", result={"file": "f"}, claim_fields={"n": 1})

    # WHEN the same request is delivered again, THEN it finds the plan done
    assert BARRIER.begin(documents, RUN, "p1", "d1") == "done"
    assert BARRIER.begin(documents, RUN, "p1", "d2") == "done"
    assert BARRIER.claimed_by(documents, RUN, "p1")["n"] == 1


def test_a_crashed_consolidation_releases_its_claim_and_another_finishes_it(documents, bus):
    # GIVEN a consolidation that failed half-way (it ends without a result)
    plan(documents, 1)
    documents.update(f"{BARRIER.items_path(RUN)}/i000", {"status": "success"})
    assert isinstance(BARRIER.begin(documents, RUN, "p1", "d1"), dict)
    assert BARRIER.end(documents, RUN, "p1", "d1", result=None) is False

    # WHEN the request is delivered again, THEN the redelivery claims and marks it
    assert isinstance(BARRIER.begin(documents, RUN, "p1", "d2"), dict)
    assert BARRIER.end(documents, RUN, "p1", "d2", result={"file": "f"})
    assert documents.get(BARRIER.run_path(RUN)).data["consolidated_plan"] == "p1"


def test_a_consolidation_overtaken_by_a_new_plan_is_not_marked(documents, bus):
    # GIVEN plan p1's consolidation under way
    plan(documents, 1)
    documents.update(f"{BARRIER.items_path(RUN)}/i000", {"status": "success"})
    assert isinstance(BARRIER.begin(documents, RUN, "p1", "d1"), dict)
    assert BARRIER.begin(documents, RUN, "p1", "d2") == "held"

    # WHEN the run is planned again before p1 ends
    documents.update(BARRIER.run_path(RUN), {"plan_id": "p2"})

    # THEN p1 is not marked, its lease is free, and p1's late requests are stale
    assert BARRIER.end(documents, RUN, "p1", "d1", result={"file": "f"}) is False
    run = documents.get(BARRIER.run_path(RUN)).data
    assert run.get("consolidated_plan") is None
    assert run["consolidating"] is None
    assert BARRIER.begin(documents, RUN, "p1", "d3") == "stale"
    assert BARRIER.ask(documents, bus, RUN) is True
    assert asks(bus) == [{"run": RUN, "plan_id": "p2"}]

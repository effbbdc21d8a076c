"""The shared rate gate over the local SQLite document store: four workers, each with its own
gate object and its own connection (as four function instances would have), never exceed the
quota in any rolling window together, yet keep it busy; a full gate refuses instead of making
a caller wait past its bound; a provider's 429 holds every caller back."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import pytest
from support import ManualClock, max_in_window

from shared.adapters.local.documents import SqliteDocumentStore
from shared.core.errors import BusyError
from shared.platform.ratelimit import RateGate


def test_four_workers_share_one_quota(tmp_path: Path):
    # GIVEN 1,200 requests a minute (20 a second) for the whole account, and four workers
    # that each hold their own gate and store connection
    per_minute, per_worker = 1200, 12
    sent: list[float] = []
    lock = threading.Lock()
    stores = [SqliteDocumentStore(tmp_path / "docs.sqlite") for _ in range(4)]

    def work(store: SqliteDocumentStore) -> None:
        gate = RateGate(store, "search", per_minute)
        for _ in range(per_worker):
            gate.acquire(max_wait=30)
            with lock:
                sent.append(time.time())

    # WHEN they all send as fast as the gate lets them
    threads = [threading.Thread(target=work, args=(store,)) for store in stores]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    for store in stores:
        store.close()

    # THEN no rolling second held more than 20 of the 48 requests, and the quota was used:
    # together they ran at the gate's pace (not 4x it, not a fraction of it)
    assert len(sent) == 4 * per_worker
    assert max_in_window(sent, 1.0) <= per_minute / 60
    span = max(sent) - min(sent)
    interval = 60 / per_minute
    assert span >= (len(sent) - 1) * interval * 0.99
    assert span <= (len(sent) - 1) * interval * 1.5


@pytest.fixture
def store(tmp_path: Path):
    documents = SqliteDocumentStore(tmp_path / "docs.sqlite")
    yield documents
    documents.close()


def test_a_full_gate_refuses_without_reserving(store):
    # GIVEN 10 a minute (one every 6.12 s) and ten callers queued on a fake clock
    clock = ManualClock(1_000_000.0)
    gate = RateGate(store, "clipcafe", 10, clock=clock, sleep=clock.sleep)
    instants = [gate.reserve(max_wait=60) for _ in range(10)]
    # THEN they are spaced one interval apart, the tenth within the minute
    assert instants[0] == clock.now
    assert all(b - a == pytest.approx(gate.interval) for a, b in itertools.pairwise(instants))
    # WHEN the next would wait longer than it may
    before = store.get(gate.path).data["next_free"]
    # THEN it is refused (BusyError: retried later) and nothing is reserved
    with pytest.raises(BusyError, match="requests/minute are taken"):
        gate.acquire(max_wait=60)
    assert store.get(gate.path).data["next_free"] == before


def test_a_429_holds_every_caller_back(store):
    clock = ManualClock(1_000_000.0)
    first = RateGate(store, "clipcafe", 10, clock=clock, sleep=clock.sleep)
    other = RateGate(store, "clipcafe", 10, clock=clock, sleep=clock.sleep)
    first.acquire(max_wait=60)
    # WHEN the provider answers 429 asking for 30 s
    first.push_back(30)
    # THEN another instance's next request waits those 30 s
    waited = other.acquire(max_wait=60)
    assert waited == pytest.approx(30)
    # and a push back shorter than what is reserved already changes nothing
    first.push_back(1)
    assert store.get(first.path).data["next_free"] == pytest.approx(clock.now + first.interval)


def test_a_gate_needs_a_rate(store):
    with pytest.raises(ValueError, match="per_minute"):
        RateGate(store, "x", 0)

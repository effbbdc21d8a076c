"""The lease primitive over the local SQLite document store: claim, back off, take over,
finish, renew and release, judged by what the store holds. Time is an injected clock."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shared.adapters.local.documents import SqliteDocumentStore
from shared.core.errors import TransientError
from shared.platform.leases import (
    REQUEST,
    Keep,
    Lease,
    LeaseFields,
    Take,
    View,
    in_map,
    lease_end,
    lease_live,
)

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
SECONDS = 60.0
PATH = "jobs/a"


class Clock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def store(tmp_path: Path) -> SqliteDocumentStore:
    return SqliteDocumentStore(tmp_path / "docs.sqlite")


@pytest.fixture
def clock() -> Clock:
    return Clock()


def lease(
    store: SqliteDocumentStore, holder: str, clock: Clock, fields: LeaseFields | None = None
) -> Lease:
    if fields is None:
        return Lease(store, PATH, holder, seconds=SECONDS, clock=clock)
    return Lease(store, PATH, holder, seconds=SECONDS, clock=clock, fields=fields)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


class Decider:
    """Takes the lease (status ``working``) unless another holder has it live; keeps what
    it saw."""

    def __init__(self) -> None:
        self.seen: list[View] = []

    def __call__(self, view: View) -> Take[str] | Keep[str]:
        self.seen.append(view)
        if view.held:
            return Keep("held")
        return Take("taken", {**view.data, "status": "working"})


def stored(store: SqliteDocumentStore, path: str = PATH) -> dict[str, Any]:
    doc = store.get(path)
    assert doc is not None
    return doc.data


def test_a_claim_writes_the_holder_and_the_end_of_the_lease(store, clock):
    # GIVEN no document yet
    decide = Decider()

    # WHEN one holder claims it
    answer = lease(store, "h1", clock).claim(decide)

    # THEN it is taken: the decision saw no document, and the store holds the lease
    assert answer == "taken"
    assert not decide.seen[0].exists
    assert stored(store) == {"status": "working", "holder": "h1", "lease_until": at(SECONDS)}


def test_a_second_holder_backs_off_while_the_lease_is_live(store, clock):
    # GIVEN h1 holds the lease
    lease(store, "h1", clock).claim(Decider())
    before = store.get(PATH)

    # WHEN h2 claims it before the lease ends
    clock.advance(SECONDS - 1)
    decide = Decider()
    answer = lease(store, "h2", clock).claim(decide)

    # THEN its decision sees the lease held by h1, and nothing is written
    view = decide.seen[0]
    assert (answer, view.held, view.live, view.mine) == ("held", True, True, False)
    assert (view.holder, view.until, view.now) == ("h1", at(SECONDS), at(SECONDS - 1))
    assert store.get(PATH) == before


def test_a_lease_that_ran_out_is_taken_over(store, clock):
    # GIVEN h1's lease, run out
    lease(store, "h1", clock).claim(Decider())
    clock.advance(SECONDS)

    # WHEN h2 claims it
    decide = Decider()
    answer = lease(store, "h2", clock).claim(decide)

    # THEN h2 holds it, from now on
    assert (answer, decide.seen[0].held, decide.seen[0].live) == ("taken", False, False)
    assert stored(store)["holder"] == "h2"
    assert stored(store)["lease_until"] == at(2 * SECONDS)


def test_the_same_holder_claiming_again_takes_its_own_lease_back(store, clock):
    # GIVEN h1 holds a live lease (its earlier delivery crashed)
    lease(store, "h1", clock).claim(Decider())

    # WHEN h1 claims again
    clock.advance(10)
    decide = Decider()
    answer = lease(store, "h1", clock).claim(decide)

    # THEN it is not held against itself: taken again, the lease extended from now
    assert (answer, decide.seen[0].mine, decide.seen[0].held) == ("taken", True, False)
    assert stored(store)["holder"] == "h1"
    assert stored(store)["lease_until"] == at(10 + SECONDS)


def test_a_decision_that_raises_commits_nothing(store, clock):
    # GIVEN a document
    store.set(PATH, {"status": "new"})

    def decide(view: View) -> Take[None]:
        raise TransientError("busy")

    # WHEN the decision raises
    with pytest.raises(TransientError, match="busy"):
        lease(store, "h1", clock).claim(decide)

    # THEN the document is as it was
    assert stored(store) == {"status": "new"}


def test_keep_answers_without_taking_and_may_update(store, clock):
    # GIVEN a document done already
    store.set(PATH, {"status": "done"})

    # WHEN the decision keeps it, with an update
    answer = lease(store, "h1", clock).claim(lambda view: Keep("done", {"seen": True}))

    # THEN only the update is written: no lease
    assert answer == "done"
    assert stored(store) == {"status": "done", "seen": True}


def test_only_the_holder_finishes(store, clock):
    # GIVEN h1's lease was taken over by h2 after it ran out
    first, second = lease(store, "h1", clock), lease(store, "h2", clock)
    first.claim(Decider())
    clock.advance(SECONDS + 1)
    second.claim(Decider())
    before = store.get(PATH)

    # WHEN h1 finishes late
    late = first.finish({"status": "done", "by": "h1"})

    # THEN it is told so, and nothing is written
    assert late is False
    assert store.get(PATH) == before

    # WHEN h2 finishes
    finished = second.finish({"status": "done", "by": "h2"})

    # THEN its outcome is written and the lease is freed
    assert finished is True
    assert stored(store) == {"status": "done", "by": "h2", "holder": None, "lease_until": None}


def test_finish_checks_require_and_writes_also_in_the_same_transaction(store, clock):
    # GIVEN h1 holds the lease
    held = lease(store, "h1", clock)
    held.claim(Decider())

    # WHEN it finishes with a requirement that does not hold
    refused = held.finish({"status": "done"}, require=lambda data: data["status"] == "other")

    # THEN nothing is written
    assert refused is False
    assert stored(store)["holder"] == "h1"

    # WHEN it finishes with one that holds, and a second write
    finished = held.finish(
        {"status": "done"},
        require=lambda data: data["status"] == "working",
        also=lambda tx: tx.set("results/a", {"ok": True}),
    )

    # THEN both are written
    assert finished is True
    assert stored(store)["status"] == "done"
    assert stored(store, "results/a") == {"ok": True}


def test_finishing_a_missing_document_writes_nothing(store, clock):
    # GIVEN no document
    # WHEN a holder finishes and releases
    results = (
        lease(store, "h1", clock).finish({"status": "done"}),
        lease(store, "h1", clock).release(),
    )

    # THEN neither did anything, and no document appeared
    assert results == (False, False)
    assert store.get(PATH) is None


def test_only_the_holder_releases(store, clock):
    # GIVEN h1 holds the lease
    first, second = lease(store, "h1", clock), lease(store, "h2", clock)
    first.claim(Decider())
    before = store.get(PATH)

    # WHEN h2 releases it
    # THEN nothing is written
    assert second.release({"status": "pending"}) is False
    assert store.get(PATH) == before

    # WHEN h1 releases it
    assert first.release({"status": "pending"}) is True

    # THEN the lease is free, and h2 takes it at once
    assert stored(store) == {"status": "pending", "holder": None, "lease_until": None}
    assert second.claim(Decider()) == "taken"
    assert stored(store)["holder"] == "h2"


def test_the_holder_renews(store, clock):
    # GIVEN h1 holds the lease, about to end
    first, second = lease(store, "h1", clock), lease(store, "h2", clock)
    first.claim(Decider())
    clock.advance(SECONDS - 5)

    # WHEN h1 renews it with progress
    renewed = first.renew({"progress": 3})

    # THEN the lease ends a full term from now, and the progress is written
    assert renewed is True
    assert stored(store)["lease_until"] == at(2 * SECONDS - 5)
    assert (stored(store)["holder"], stored(store)["progress"]) == ("h1", 3)

    # WHEN h2 renews it
    before = store.get(PATH)

    # THEN it is refused, and nothing is written
    assert second.renew({"progress": 99}) is False
    assert store.get(PATH) == before


def test_renew_after_the_lease_ran_out_but_nobody_took_it(store, clock):
    # GIVEN h1's lease ran out, untaken
    held = lease(store, "h1", clock)
    held.claim(Decider())
    clock.advance(2 * SECONDS)

    # WHEN h1 renews
    # THEN it still may: only the holder is checked
    assert held.renew() is True
    assert stored(store)["lease_until"] == at(3 * SECONDS)


def test_a_lease_in_a_map_field(store, clock):
    # GIVEN a run document with other fields
    store.set(PATH, {"plan_id": "p1", "timestamp": "t"})
    fields = in_map("planning")
    first, second = lease(store, "h1", clock, fields), lease(store, "h2", clock, fields)

    # WHEN h1 takes the map lease with an extra key, merging
    first.claim(lambda view: Take(None, write="merge", lease_extra={"plan_id": "p1"}))

    # THEN the map holds it, and the other fields stay
    lease_map = {"holder": "h1", "plan_id": "p1", "until": at(SECONDS)}
    assert stored(store) == {"plan_id": "p1", "timestamp": "t", "planning": lease_map}

    # WHEN h2 claims it while live
    decide = Decider()
    assert second.claim(decide) == "held"

    # THEN it saw h1's map lease
    assert (decide.seen[0].holder, decide.seen[0].until) == ("h1", at(SECONDS))

    # WHEN h1 renews, then finishes
    clock.advance(10)
    assert first.renew() is True
    renewed = stored(store)["planning"]
    assert first.finish({"done": True}) is True

    # THEN renewing moved only the end; finishing freed the whole map
    assert renewed == {"holder": "h1", "plan_id": "p1", "until": at(10 + SECONDS)}
    assert stored(store) == {"plan_id": "p1", "timestamp": "t", "planning": None, "done": True}


def test_a_lease_whose_holder_is_kept_and_end_removed(store, clock):
    # GIVEN a Hub-upload-like lease (request_id kept, lease_until deleted when freed)
    held = lease(store, "m1", clock, REQUEST)
    held.claim(lambda view: Take(None, {"state": "uploading"}))
    assert stored(store) == {"state": "uploading", "request_id": "m1", "lease_until": at(SECONDS)}

    # WHEN it finishes
    assert held.finish({"state": "done"}) is True

    # THEN who did it stays, and the end of the lease is gone
    assert stored(store) == {"state": "done", "request_id": "m1"}


def test_sixteen_concurrent_claims_take_it_once(store, clock):
    # GIVEN sixteen holders that claim at the same moment
    holders = [f"h{i}" for i in range(16)]
    start = threading.Barrier(len(holders))
    answers: dict[str, str] = {}

    def claim(holder: str) -> None:
        start.wait()
        answers[holder] = lease(store, holder, clock).claim(Decider())

    # WHEN they all claim it
    threads = [threading.Thread(target=claim, args=(holder,)) for holder in holders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    # THEN exactly one took it, and it is the one the store holds
    winners = [holder for holder, answer in answers.items() if answer == "taken"]
    assert len(answers) == len(holders)
    assert len(winners) == 1
    assert sorted(answers.values()).count("held") == len(holders) - 1
    assert stored(store)["holder"] == winners[0]


def test_stored_lease_times_without_a_zone_are_utc():
    # GIVEN a naive and an aware end
    naive = datetime(2026, 1, 1, 12, 0)

    # THEN both read as aware UTC, and liveness compares them so
    assert lease_end(naive) == T0
    assert lease_end("not a time") is None
    assert lease_live(naive, now=T0 - timedelta(seconds=1))
    assert not lease_live(naive, now=T0)
    assert not lease_live(None, now=T0)

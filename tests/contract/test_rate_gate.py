"""The shared rate gate on both document stores (the local SQLite one and Firestore's
emulator): turns spaced by the quota, a full gate refusing without reserving, a 429 pushing
every caller back. The gate uses the store's transactions only, so what holds here holds
for every instance of a function sharing one project."""

from __future__ import annotations

import itertools
import uuid

import pytest
from support import ManualClock

from shared.core.errors import BusyError
from shared.platform.ratelimit import RateGate
from shared.ports import DocumentStore


def test_turns_are_spaced_and_a_full_gate_refuses(documents: DocumentStore):
    clock = ManualClock(5_000.0)
    name = f"gate-{uuid.uuid4().hex[:8]}"
    one = RateGate(documents, name, 10, clock=clock, sleep=clock.sleep)
    other = RateGate(documents, name, 10, clock=clock, sleep=clock.sleep)  # another instance
    instants = [gate.reserve(max_wait=30) for gate in (one, other, one, other, one)]
    assert all(at is not None for at in instants)
    assert all(b - a == pytest.approx(one.interval) for a, b in itertools.pairwise(instants))
    with pytest.raises(BusyError):
        other.acquire(max_wait=30)  # the sixth turn is more than 30 s away
    # a 429: every caller waits what the source asked
    one.push_back(120)
    assert other.reserve(max_wait=60) is None
    assert other.reserve(max_wait=130) == pytest.approx(clock.now + 120)

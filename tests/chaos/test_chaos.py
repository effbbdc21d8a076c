"""Chaos: duplicates, crashes before and after side effects, poison messages, killed runtimes.

Whatever happens, the final state must equal a clean run's, poison messages must sit in the
dead letter with their error, and nothing may be left undelivered.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from support import poll

from chaos.worker import POISON_EVERY, SPEC, build_runtime, settings_for, setup
from shared.platform.deadletters import list_dead_letters
from shared.ports import OutgoingMessage

pytestmark = pytest.mark.slow

KEYS = 2000


def publish_twice(bus) -> None:
    batch = [OutgoingMessage(json.dumps({"k": k}).encode()) for k in range(KEYS)]
    bus.publish_many("chaos", batch)
    bus.publish_many("chaos", batch)  # at-least-once: every message arrives twice


def final_state(documents) -> dict:
    counters = sum(d.data["count"] for d in documents.iter_collection("counters"))
    results = {d.id: d.data for d in documents.iter_collection("results")}
    return {"counter_total": counters, "results": results}


def expected_keys() -> set[int]:
    return {k for k in range(KEYS) if k % POISON_EVERY}


@pytest.fixture(scope="module")
def clean_state(tmp_path_factory) -> dict:
    settings = settings_for(tmp_path_factory.mktemp("clean"))
    runtime, documents, bus = build_runtime(settings, crash_rate=0.0)
    publish_twice(bus)
    runtime.run_until_idle(timeout=300)
    state = final_state(documents)
    assert state["counter_total"] == len(expected_keys())
    assert {int(k) for k in state["results"]} == expected_keys()
    return state


def assert_dead_letters(bus) -> None:
    letters = list_dead_letters(bus, [SPEC], limit=10_000)
    poison = [k for k in range(KEYS) if k % POISON_EVERY == 0]
    assert sorted(json.loads(d.data)["k"] for d in letters) == sorted(poison * 2)
    assert all(d.error and "poison key" in d.error for d in letters)
    assert bus.backlog([SPEC.subscription]) == 0


def test_crashes_and_duplicates_end_in_the_clean_state(tmp_path, clean_state):
    settings = settings_for(tmp_path)
    runtime, documents, bus = build_runtime(settings, crash_rate=0.10)
    publish_twice(bus)

    stats = runtime.run_until_idle(timeout=300)

    assert stats.total_failed > 400  # the crashes really happened
    assert final_state(documents) == clean_state
    assert_dead_letters(bus)


def _count_results(documents) -> int:
    return documents.count("results")


def test_killed_runtime_restarts_into_the_clean_state(tmp_path, clean_state):
    settings = settings_for(tmp_path)
    _blobs, documents, bus = setup(settings)
    publish_twice(bus)
    worker = Path(__file__).with_name("worker.py")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}

    first = subprocess.Popen([sys.executable, str(worker), str(tmp_path), "0.1"], env=env)

    def progressed() -> bool:
        if _count_results(documents) >= 300:
            return True
        assert first.poll() is None, "the worker ended before it could be killed"
        return False

    try:
        poll(progressed, timeout=120, interval=0.02, message="the worker made no progress")
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
    assert _count_results(documents) < len(expected_keys()), "killed too late to matter"

    second = subprocess.run(
        [sys.executable, str(worker), str(tmp_path), "0.1"], env=env, timeout=600, check=False
    )

    assert second.returncode == 0
    assert final_state(documents) == clean_state
    assert_dead_letters(bus)

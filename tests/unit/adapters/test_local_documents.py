"""The SQLite document store: separate processes, time semantics, misuse."""

from __future__ import annotations

import multiprocessing
from datetime import datetime
from pathlib import Path

import pytest

from shared.adapters.local.documents import SqliteDocumentStore
from shared.core.errors import ContentionError, VidcurateError

INCREMENTS = 50


def _increment(path: str) -> None:
    store = SqliteDocumentStore(Path(path))

    def bump(tx):
        doc = tx.get("counters/c")
        tx.set("counters/c", {"n": (doc.data["n"] if doc else 0) + 1})

    for _ in range(INCREMENTS):
        store.run_transaction(bump)


def _open_at_once(path: str, barrier, results) -> None:
    barrier.wait(timeout=30)
    try:
        SqliteDocumentStore(Path(path))
        results.put("opened")
    except VidcurateError as exc:
        results.put(str(exc))


def test_processes_opening_a_new_database_at_the_same_moment_all_open_it(tmp_path):
    # Switching a brand-new file to WAL answers "locked" at once (no busy wait) while
    # another process is creating it; every opener must still get the database.
    ctx = multiprocessing.get_context("fork")
    outcomes = []
    for attempt in range(5):
        path = str(tmp_path / f"fresh-{attempt}.sqlite")
        barrier, results = ctx.Barrier(8), ctx.Queue()
        procs = [ctx.Process(target=_open_at_once, args=(path, barrier, results)) for _ in range(8)]
        for proc in procs:
            proc.start()
        outcomes += [results.get(timeout=60) for _ in procs]
        for proc in procs:
            proc.join(timeout=60)
    assert outcomes == ["opened"] * 40


def test_transactions_in_separate_processes_lose_no_update(tmp_path):
    path = str(tmp_path / "docs.sqlite")
    SqliteDocumentStore(tmp_path / "docs.sqlite")  # schema first
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_increment, args=(path,)) for _ in range(4)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout=120)
        assert proc.exitcode == 0

    doc = SqliteDocumentStore(tmp_path / "docs.sqlite").get("counters/c")
    assert doc is not None
    assert doc.data["n"] == 4 * INCREMENTS


def test_naive_datetimes_in_filters_compare_as_utc_like_writes(tmp_path):
    store = SqliteDocumentStore(tmp_path / "docs.sqlite")
    store.set("runs/a", {"at": datetime(2026, 1, 1, 12, 0)})

    assert [d.id for d in store.query("runs", [("at", "==", datetime(2026, 1, 1, 12, 0))])] == ["a"]
    assert [d.id for d in store.query("runs", [("at", "<", datetime(2026, 1, 2))])] == ["a"]


def test_descending_order_breaks_ties_by_id_descending_like_firestore(tmp_path):
    store = SqliteDocumentStore(tmp_path / "docs.sqlite")
    for doc_id in ("x", "y", "z"):
        store.set(f"items/{doc_id}", {"rank": 1})

    ordered = store.query("items", order_by=[("rank", "desc")])

    assert [d.id for d in ordered] == ["z", "y", "x"]


def test_a_write_inside_a_transaction_on_the_same_store_is_a_clear_error(tmp_path):
    store = SqliteDocumentStore(tmp_path / "docs.sqlite")

    def nested(tx):
        tx.get("a/1")
        store.set("a/2", {"n": 1})

    with pytest.raises(VidcurateError, match="inside another write") as caught:
        store.run_transaction(nested)
    assert not isinstance(caught.value, ContentionError)  # not retried as contention
    assert store.get("a/2") is None

"""The SQLite document store under concurrent writers in separate processes."""

from __future__ import annotations

import multiprocessing

from shared.adapters.local.documents import SqliteDocumentStore

INCREMENTS = 50


def _increment(path: str) -> None:
    store = SqliteDocumentStore(__import__("pathlib").Path(path))

    def bump(tx):
        doc = tx.get("counters/c")
        tx.set("counters/c", {"n": (doc.data["n"] if doc else 0) + 1})

    for _ in range(INCREMENTS):
        store.run_transaction(bump)


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

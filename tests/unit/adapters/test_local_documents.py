"""The SQLite document store: separate processes, time semantics, misuse."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.local.docquery import matches
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


# --- indexes ---------------------------------------------------------------------------------


def test_queries_and_counts_seek_an_index_made_on_first_use(tmp_path):
    store = SqliteDocumentStore(tmp_path / "docs.sqlite")
    with store.batch() as batch:
        for i in range(200):
            batch.set(f"items/i{i:03d}", {"status": ("done", "open")[i % 2], "n": i, "t": "x"})
    conn = store._db.connection()
    statements: list[str] = []
    conn.set_trace_callback(statements.append)

    assert store.count("items", [("status", "==", "open"), ("t", "==", "x")]) == 100
    assert [d.id for d in store.query("items", [("n", ">=", 150)], [("n", "asc")], limit=2)] == [
        "i150", "i151"]  # fmt: skip
    assert len(store.query("items", [("status", "in", ["open", "done"])], limit=3)) == 3

    conn.set_trace_callback(None)
    reads = [s for s in statements if s.startswith("SELECT") and "FROM documents" in s]
    assert len(reads) >= 3
    for sql in reads:
        plan = " ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "INDEX ix_" in plan, (sql, plan)
        assert "SCAN" not in plan, (sql, plan)
        assert "TEMP B-TREE" not in plan, (sql, plan)  # ordered by the index itself


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_indexed_answers_equal_a_full_scan(tmp_path_factory, data):
    from shared.adapters.local.documents import _ordered  # noqa: PLC0415

    store = SqliteDocumentStore(tmp_path_factory.mktemp("q") / "docs.sqlite")
    values = st.one_of(
        st.none(), st.booleans(), st.integers(-3, 3), st.floats(-3, 3, allow_nan=False),
        st.sampled_from(["a", "B", "ab", "é", ""]), st.lists(st.integers(0, 2), max_size=2),
        st.datetimes(timezones=st.just(UTC)).map(lambda d: d.replace(microsecond=0)),
    )  # fmt: skip
    docs = data.draw(st.lists(st.dictionaries(st.sampled_from(["v", "w"]), values), max_size=25))
    with store.batch() as batch:
        for i, doc in enumerate(docs):
            batch.set(f"c/d{i:02d}", doc)
    op = data.draw(st.sampled_from(["==", "in", "<", "<=", ">", ">=", "!="]))
    value = data.draw(st.lists(values, min_size=1, max_size=3) if op == "in" else values)
    where = [(data.draw(st.sampled_from(["v", "w"])), op, value)]
    order = data.draw(st.sampled_from([(), [("v", "asc")], [("w", "desc")]]))
    limit = data.draw(st.sampled_from([None, 1, 3]))

    everything = list(store.iter_collection("c"))
    expected = _ordered([d for d in everything if matches(d.data, where[0])], order, limit)
    assert [d.id for d in store.query("c", where, order, limit)] == [d.id for d in expected]
    all_matching = [d for d in everything if matches(d.data, where[0])]
    assert store.count("c", where) == len(all_matching)

"""The document store contract: SQLite and Firestore (emulator) behave alike."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest

from shared.core.errors import AlreadyExistsError, NotFoundError, VidcurateError
from shared.ports import DELETE_FIELD, SERVER_TIMESTAMP, Increment

CLOCK_SKEW = timedelta(seconds=5)


def ids(documents):
    return [doc.id for doc in documents]


# --- single documents ------------------------------------------------------------------------


def test_set_then_get_round_trips_values(documents):
    moment = datetime(2024, 5, 17, 8, 30, 15, 123000, tzinfo=UTC)
    data = {
        "text": "a dog runs",
        "count": 3,
        "score": 0.75,
        "ok": True,
        "nothing": None,
        "tags": ["a", "b"],
        "nested": {"inner": {"deep": 1}},
        "when": moment,
        "raw": b"\x00\x01",
    }

    documents.set("videos/v1", data)
    doc = documents.get("videos/v1")

    assert doc is not None
    assert doc.path == "videos/v1"
    assert doc.id == "v1"
    assert doc.data == data
    assert doc.create_time is not None
    assert doc.update_time is not None


def test_get_missing_is_none(documents):
    assert documents.get("videos/none") is None


def test_set_replaces_and_merge_deep_merges(documents):
    documents.set("videos/v1", {"a": 1, "m": {"x": 1, "y": 1}})

    documents.set("videos/v1", {"m": {"y": 2, "z": 3}, "b": 2}, merge=True)
    assert documents.get("videos/v1").data == {"a": 1, "b": 2, "m": {"x": 1, "y": 2, "z": 3}}

    documents.set("videos/v1", {"c": 3})
    assert documents.get("videos/v1").data == {"c": 3}


def test_update_changes_dotted_fields_only(documents):
    documents.set("videos/v1", {"a": 1, "counts": {"done": 1, "todo": 4}})

    documents.update("videos/v1", {"counts.done": 2, "b": "new"})

    assert documents.get("videos/v1").data == {
        "a": 1,
        "b": "new",
        "counts": {"done": 2, "todo": 4},
    }


def test_delete_field_in_update_and_merge(documents):
    documents.set("videos/v1", {"a": 1, "b": 2, "m": {"x": 1, "y": 2}})

    documents.update("videos/v1", {"a": DELETE_FIELD, "m.x": DELETE_FIELD})
    assert documents.get("videos/v1").data == {"b": 2, "m": {"y": 2}}

    documents.set("videos/v1", {"b": DELETE_FIELD, "c": 3}, merge=True)
    assert documents.get("videos/v1").data == {"c": 3, "m": {"y": 2}}


def test_increments_add_to_the_stored_number_in_merges_updates_and_batches(documents):
    # A merge into a missing document and missing fields starts from 0 (nested maps too,
    # with names holding dots and dashes as model names do)
    documents.set(
        "spend/d1", {"calls": Increment(1), "by": {"gpt-4.1": {"usd": Increment(0.5)}}}, merge=True
    )
    documents.set(
        "spend/d1",
        {"calls": Increment(2), "by": {"gpt-4.1": {"usd": Increment(0.25)}, "o3": {"usd": 1}}},
        merge=True,
    )
    documents.update("spend/d1", {"calls": Increment(-1), "label": "x"})
    with documents.batch() as batch:
        batch.set("spend/d1", {"calls": Increment(10)}, merge=True)
        batch.create("spend/d2", {"calls": Increment(4)})

    assert documents.get("spend/d1").data == {
        "calls": 12,
        "by": {"gpt-4.1": {"usd": 0.75}, "o3": {"usd": 1}},
        "label": "x",
    }
    assert documents.get("spend/d2").data == {"calls": 4}


def test_server_timestamp_becomes_the_commit_time(documents):
    before = datetime.now(UTC)

    documents.set("videos/v1", {"at": SERVER_TIMESTAMP, "m": {"at": SERVER_TIMESTAMP}})
    documents.update("videos/v1", {"later": SERVER_TIMESTAMP})

    data = documents.get("videos/v1").data
    after = datetime.now(UTC)
    for value in (data["at"], data["m"]["at"], data["later"]):
        assert isinstance(value, datetime)
        assert before - CLOCK_SKEW <= value <= after + CLOCK_SKEW
    assert data["later"] >= data["at"]


def test_create_only_once(documents):
    documents.create("claims/k1", {"owner": "first"})

    with pytest.raises(AlreadyExistsError):
        documents.create("claims/k1", {"owner": "second"})
    assert documents.get("claims/k1").data == {"owner": "first"}


def test_update_of_a_missing_document_raises_not_found(documents):
    with pytest.raises(NotFoundError):
        documents.update("videos/missing", {"a": 1})
    assert documents.get("videos/missing") is None


def test_delete_and_delete_missing(documents):
    documents.set("videos/v1", {"a": 1})

    documents.delete("videos/v1")
    documents.delete("videos/v1")

    assert documents.get("videos/v1") is None


def test_update_time_moves_and_create_time_stays(documents):
    documents.set("videos/v1", {"a": 1})
    first = documents.get("videos/v1")

    documents.update("videos/v1", {"a": 2})
    second = documents.get("videos/v1")

    assert second.create_time == first.create_time
    assert second.update_time > first.update_time


def test_invalid_paths_are_rejected(documents):
    with pytest.raises(VidcurateError):
        documents.get("videos")
    with pytest.raises(VidcurateError):
        documents.set("videos/v1/frames", {"a": 1})
    with pytest.raises(VidcurateError):
        documents.query("videos/v1")


# --- queries ---------------------------------------------------------------------------------


@pytest.fixture
def videos(documents):
    rows = {
        "v1": {"n": 1, "tag": "cat", "tags": ["red", "big"], "status": "approved"},
        "v2": {"n": 2, "tag": "dog", "tags": ["blue"], "status": "rejected"},
        "v3": {"n": 3, "tag": "dog", "tags": ["red"], "status": "approved"},
        "v4": {"n": 4, "tag": "eel", "tags": [], "status": "not_completed"},
        "v5": {"tag": "fox", "status": "approved"},  # no "n": left out by filters on n
    }
    for doc_id, data in rows.items():
        documents.set(f"videos/{doc_id}", data)
    documents.set("other/o1", {"n": 1})
    return documents


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ([("n", "==", 2)], {"v2"}),
        ([("tag", "==", "dog")], {"v2", "v3"}),
        ([("n", "!=", 2)], {"v1", "v3", "v4"}),
        ([("n", "<", 3)], {"v1", "v2"}),
        ([("n", "<=", 3)], {"v1", "v2", "v3"}),
        ([("n", ">", 3)], {"v4"}),
        ([("n", ">=", 3)], {"v3", "v4"}),
        ([("tag", "in", ["cat", "eel"])], {"v1", "v4"}),
        ([("n", "not-in", [1, 4])], {"v2", "v3"}),
        ([("tags", "array-contains", "red")], {"v1", "v3"}),
        ([("status", "==", "approved"), ("n", ">=", 2)], {"v3"}),
        ([("status", "==", "missing")], set()),
    ],
)
def test_query_filters(videos, where, expected):
    assert set(ids(videos.query("videos", where=where))) == expected
    assert videos.count("videos", where=where) == len(expected)


def test_query_order_and_limit(videos):
    by_n = videos.query("videos", order_by=[("n", "asc")])
    top_two = videos.query("videos", order_by=[("n", "desc")], limit=2)
    two_keys = videos.query("videos", order_by=[("tag", "asc"), ("n", "desc")], limit=3)
    dogs = videos.query("videos", where=[("tag", "==", "dog")], order_by=[("n", "desc")])

    assert ids(by_n) == ["v1", "v2", "v3", "v4"]
    assert ids(top_two) == ["v4", "v3"]
    assert ids(two_keys) == ["v1", "v3", "v2"]
    assert ids(dogs) == ["v3", "v2"]
    assert len(videos.query("videos", limit=3)) == 3


@pytest.fixture
def mixed(documents):
    """One field, every kind of value Firestore orders (and one document without it)."""
    when = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
    rows = {
        "a": None, "b": True, "c": False, "d": 0, "e": 2.5, "f": when,
        "g": "abc", "h": "B", "j": [1], "k": {"x": 1}, "l": b"x",
    }  # fmt: skip
    for doc_id, value in rows.items():
        documents.set(f"mixed/{doc_id}", {"v": value, "kind": "any"})
    documents.set("mixed/i", {"kind": "any"})
    return documents, when


def test_filters_and_ordering_follow_firestore_typing_across_kinds(mixed):
    documents, when = mixed

    def found(where=(), order_by=(), limit=None):
        return ids(documents.query("mixed", where=list(where), order_by=list(order_by),
                                   limit=limit))  # fmt: skip

    # null < bool < number < timestamp < string (UTF-8 bytes) < bytes < array < map
    assert found(order_by=[("v", "asc")]) == ["a", "c", "b", "d", "e", "f", "h", "g", "l",
                                              "j", "k"]  # fmt: skip
    assert found(order_by=[("v", "desc")], limit=3) == ["k", "j", "l"]
    assert found(order_by=[("v", "asc")], limit=4) == ["a", "c", "b", "d"]
    assert found([("kind", "==", "any")], [("v", "asc")], limit=2) == ["a", "c"]
    # equality never crosses kinds: True is not 1, 0 is not False
    assert found([("v", "==", True)]) == ["b"]
    assert found([("v", "==", 0)]) == ["d"]
    assert set(found([("v", "in", ["abc", "B"])])) == {"g", "h"}
    assert found([("v", "in", [0, 2.5])]) == ["d", "e"]
    # ranges stay within the value's kind
    assert found([("v", ">", 0)]) == ["e"]
    assert set(found([("v", ">=", "A")])) == {"g", "h"}
    assert found([("v", "<", when + timedelta(days=1))]) == ["f"]
    assert found([("v", ">", 0)], [("v", "desc")], limit=1) == ["e"]
    assert documents.count("mixed", [("v", "==", False)]) == 1
    assert documents.count("mixed", [("v", ">", -1)]) == 2
    assert documents.count("mixed", [("kind", "==", "any")]) == 12


def test_query_returns_full_documents(videos):
    (doc,) = videos.query("videos", where=[("n", "==", 1)])

    assert doc.path == "videos/v1"
    assert doc.data == {"n": 1, "tag": "cat", "tags": ["red", "big"], "status": "approved"}
    assert doc.update_time is not None


def test_count_without_filters(videos):
    assert videos.count("videos") == 5
    assert videos.count("other") == 1
    assert videos.count("empty") == 0


def test_count_up_to_stops_at_the_bound(videos):
    everything = videos.count("videos")
    approved = videos.count("videos", [("status", "==", "approved")])

    assert videos.count("videos", up_to=2) == min(2, everything)
    assert videos.count("videos", up_to=everything + 5) == everything
    assert videos.count("videos", [("status", "==", "approved")], up_to=1) == min(1, approved)
    assert videos.count("videos", up_to=0) == 0
    assert everything > 2


def test_collections_lists_top_level_ids(videos):
    videos.set("videos/v1/frames/f1", {"i": 1})

    assert videos.collections() == ["other", "videos"]


def test_subcollections_hold_only_their_direct_children(documents):
    documents.set("runs/r1", {"name": "one"})
    documents.set("runs/r1/jobs/j1", {"n": 1})
    documents.set("runs/r1/jobs/j2", {"n": 2})
    documents.set("runs/r2/jobs/j3", {"n": 3})
    documents.set("runs/r1/jobs/j1/steps/s1", {"n": 4})

    assert sorted(ids(documents.query("runs/r1/jobs"))) == ["j1", "j2"]
    assert documents.count("runs/r1/jobs") == 2
    assert ids(documents.query("runs")) == ["r1"]
    assert documents.get("runs/r1/jobs/j1/steps/s1").data == {"n": 4}
    assert documents.collections() == ["runs"]


def test_iter_collection_pages_through_everything_in_id_order(documents):
    for i in range(7):
        documents.set(f"items/i{i:02d}", {"i": i})
    documents.set("items/i03/sub/x", {"i": 99})

    seen = list(documents.iter_collection("items", page_size=3))

    assert ids(seen) == [f"i{i:02d}" for i in range(7)]
    assert [doc.data["i"] for doc in seen] == list(range(7))
    assert list(documents.iter_collection("nothing", page_size=3)) == []


def test_get_many_returns_the_existing_documents_by_path(documents):
    for i in range(0, 620, 2):  # more than one chunk of a batched read
        documents.set(f"cache/k{i:04d}", {"i": i})
    documents.set("other/x", {"i": -1})
    paths = [f"cache/k{i:04d}" for i in range(620)] + ["other/x", "other/missing"]

    found = documents.get_many(paths)

    assert sorted(found) == sorted([f"cache/k{i:04d}" for i in range(0, 620, 2)] + ["other/x"])
    assert found["cache/k0100"].data == {"i": 100}
    assert found["other/x"].id == "x"
    assert documents.get_many([]) == {}


def test_iter_collection_with_fields_returns_only_those_fields(documents):
    for i in range(5):
        documents.set(f"items/i{i}", {"i": i, "big": "x" * 100, "nested": {"a": i}})
    documents.set("items/i5", {"big": "only"})

    seen = list(documents.iter_collection("items", page_size=2, fields=["i", "nested"]))

    assert ids(seen) == [f"i{i}" for i in range(6)]
    assert [doc.data for doc in seen] == [{"i": i, "nested": {"a": i}} for i in range(5)] + [{}]


# --- batches ---------------------------------------------------------------------------------


def test_batch_commits_every_write(documents):
    documents.set("videos/old", {"a": 1})
    documents.set("videos/upd", {"a": 1, "m": {"x": 1}})

    with documents.batch() as batch:
        batch.create("videos/new", {"a": 2})
        batch.set("videos/merged", {"a": 3}, merge=True)
        batch.update("videos/upd", {"m.x": 2})
        batch.delete("videos/old")

    assert documents.get("videos/new").data == {"a": 2}
    assert documents.get("videos/merged").data == {"a": 3}
    assert documents.get("videos/upd").data == {"a": 1, "m": {"x": 2}}
    assert documents.get("videos/old") is None


def test_a_failing_batch_writes_nothing(documents):
    documents.set("videos/taken", {"a": 1})

    def conflicting_batch():
        with documents.batch() as batch:
            batch.set("videos/b1", {"a": 1})
            batch.create("videos/taken", {"a": 2})
            batch.set("videos/b2", {"a": 1})

    with pytest.raises(AlreadyExistsError):
        conflicting_batch()

    assert documents.get("videos/b1") is None
    assert documents.get("videos/b2") is None
    assert documents.get("videos/taken").data == {"a": 1}


def test_an_error_inside_the_batch_block_writes_nothing(documents):
    def crashing_block():
        with documents.batch() as batch:
            batch.set("videos/b1", {"a": 1})
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        crashing_block()

    assert documents.get("videos/b1") is None


# --- transactions ----------------------------------------------------------------------------


def test_transaction_read_modify_write(documents):
    documents.set("counters/c", {"n": 1})

    def bump(tx):
        current = tx.get("counters/c")
        missing = tx.get("counters/none")
        tx.update("counters/c", {"n": current.data["n"] + 1})
        tx.create("counters/new", {"from": current.data["n"]})
        return current.data["n"], missing

    assert documents.run_transaction(bump) == (1, None)
    assert documents.get("counters/c").data == {"n": 2}
    assert documents.get("counters/new").data == {"from": 1}


def test_transaction_read_after_write_raises(documents):
    def bad(tx):
        tx.set("counters/a", {"n": 1})
        tx.get("counters/b")

    with pytest.raises(VidcurateError):
        documents.run_transaction(bad)
    assert documents.get("counters/a") is None


def test_a_failing_transaction_writes_nothing(documents):
    documents.set("counters/c", {"n": 1})

    def crash(tx):
        tx.get("counters/c")
        tx.set("counters/c", {"n": 2})
        tx.set("counters/d", {"n": 2})
        raise RuntimeError("crash before commit")

    with pytest.raises(RuntimeError, match="crash before commit"):
        documents.run_transaction(crash)
    assert documents.get("counters/c").data == {"n": 1}
    assert documents.get("counters/d") is None


def test_transaction_create_conflict_raises_already_exists(documents):
    documents.set("claims/k", {"owner": "first"})

    def claim(tx):
        tx.get("claims/k")
        tx.create("claims/k", {"owner": "second"})

    with pytest.raises(AlreadyExistsError):
        documents.run_transaction(claim)
    assert documents.get("claims/k").data == {"owner": "first"}


def test_concurrent_transactions_lose_no_update(documents, backend):
    # The Firestore emulator resolves each conflict by a lock wait of about two seconds:
    # a few increments show the property without making the suite slow.
    threads, increments = (2, 4) if backend == "gcp" else (4, 25)
    documents.set("counters/c", {"n": 0})
    errors = []

    def bump(tx):
        current = tx.get("counters/c")
        tx.set("counters/c", {"n": current.data["n"] + 1})

    def work():
        try:
            for _ in range(increments):
                documents.run_transaction(bump, max_attempts=20)
        except Exception as exc:  # reported below, with the thread's error
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)

    assert errors == []
    assert documents.get("counters/c").data == {"n": threads * increments}

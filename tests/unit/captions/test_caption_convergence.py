"""Random drop sequences, delivered in random order with duplicates, end where a from-scratch
recomputation ends (every generation ingested once, in upload order, into an empty store):
status never depends on event order or on duplicates."""

from __future__ import annotations

import contextlib
import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

from captions_support import captured_events, dumps, feedback, review, video_list, watch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shared.adapters.local import SqliteDocumentStore
from shared.bootstrap import Context, build_context
from shared.captions.counts import counted_tasks
from shared.captions.ingest import ingest_event
from shared.captions.slots import task_contents
from shared.captions.snapshot import registered_videos
from shared.captions.status import Status
from shared.captions.store import QUARANTINE, tasks_collection
from shared.config import Settings
from shared.core.errors import NotFoundError

NAMES = {
    "default/subject/v1_feedback.json": [
        dumps(feedback("alice", "a dog")),
        dumps(feedback("rita", "a brown dog")),
    ],
    "default/subject/v1_feedback_prev.json": [
        dumps(feedback("alice", "a dog")),
        dumps(feedback("bob", "a cat")),
    ],
    "default/subject/v1_review.json": [dumps(review(True)), dumps(review(False))],
    "default/videos/a.jsonl": [video_list("v1"), video_list("v1", "v2")],
}
BAD = [b"", b"{not json", dumps({"user": "x"})]
TASKS = ("subject", "scene")

write_op = st.tuples(
    st.just("write"),
    st.sampled_from(sorted(NAMES)),
    st.integers(min_value=0, max_value=4),
)
delete_op = st.tuples(st.just("delete"), st.sampled_from(sorted(NAMES)), st.just(0))


def _content(name: str, variant: int) -> bytes:
    options = NAMES[name] + BAD
    return options[variant % len(options)]


@contextlib.contextmanager
def _home() -> Iterator[Context]:
    """A new home per example (hypothesis runs many in one test), removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="converge-") as folder:
        built = build_context(Settings(home=Path(folder), log_level="CRITICAL"))
        try:
            watch(built)
            yield built
        finally:
            built.close()


def _state(services: Context) -> str:
    """Everything derived, without generations (two stores number them differently)."""
    tasks = {}
    for doc in services.documents.iter_collection(tasks_collection("default")):
        data = doc.data
        valid = task_contents(data["files"])
        tasks[doc.id] = [
            data["status"],
            sorted(e["code"] for e in data["edge_cases"]),
            valid,
            data["annotator"],
            data["reviewer"],
            data["quarantined_files"],
        ]
    # Tasks with no live file and the not_completed status are the same as no document.
    tasks = {
        key: value
        for key, value in tasks.items()
        if value[0] != "not_completed" or value[1] or value[2] or value[5]
    }
    quarantined = sorted(d.data["name"] for d in services.documents.iter_collection(QUARANTINE))
    videos = registered_videos(services.documents, "default")
    return json.dumps({"tasks": tasks, "quarantine": quarantined, "videos": videos}, sort_keys=True)


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(ops=st.lists(st.one_of(write_op, delete_op), min_size=1, max_size=12), data=st.data())
def test_random_drops_in_random_order_converge_to_a_from_scratch_ingestion(ops, data):
    with (
        _home() as incremental,
        contextlib.closing(
            SqliteDocumentStore(incremental.settings.home / "scratch.sqlite")
        ) as scratch_documents,
    ):
        scratch = Context(
            incremental.settings, incremental.blobs, scratch_documents, incremental.bus
        )
        bucket = incremental.settings.annotations_bucket
        assert counted_tasks(incremental.documents, "default", TASKS) is not None  # kept now
        # GIVEN a sequence of uploads, replacements and deletions
        for action, name, variant in ops:
            if action == "write":
                incremental.blobs.write(bucket, name, _content(name, variant))
            else:
                with contextlib.suppress(NotFoundError):
                    incremental.blobs.delete(bucket, name)
        events = captured_events(incremental)

        # WHEN their events arrive in any order, some more than once
        extra = (
            data.draw(st.lists(st.sampled_from(range(len(events))), max_size=len(events)))
            if events
            else []
        )
        order = data.draw(st.permutations(list(range(len(events))) + extra))
        for index in order:
            ingest_event(incremental, events[index])

        # THEN the state equals ingesting each generation once, in order, from scratch
        for event in events:  # the bus keeps publish order
            ingest_event(scratch, event)
        assert _state(incremental) == _state(scratch)
        # ... and the counts kept beside the tasks are what count queries find
        kept, edge_cases = counted_tasks(incremental.documents, "default", TASKS)
        collection = tasks_collection("default")
        for task in TASKS:
            for status in Status:
                where = [("task", "==", task), ("status", "==", status.value)]
                assert kept[task][status.value] == incremental.documents.count(collection, where)
        assert edge_cases == incremental.documents.count(
            collection, [("has_edge_cases", "==", True)]
        )


def test_an_old_deletion_delivered_last_does_not_revive_a_deleted_file():
    with _home() as services:
        bucket = services.settings.annotations_bucket
        name = "default/subject/v1_feedback.json"
        for caption in ("first", "second"):
            services.blobs.write(bucket, name, dumps(feedback("alice", caption)))
            services.blobs.delete(bucket, name)
        events = captured_events(services)
        assert [e.removed for e in events] == [False, True, False, True]

        for event in reversed(events):
            ingest_event(services, event)

        assert json.loads(_state(services))["tasks"] == {}

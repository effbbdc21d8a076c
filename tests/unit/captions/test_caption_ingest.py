"""Ingesting annotation files: statuses, edge cases, quarantine, replacement, deletion, order."""

from __future__ import annotations

import itertools
import json

import pytest
from captions_support import captured_events, dumps, feedback, review, video_list, watch

from shared.adapters.local import SqliteDocumentStore
from shared.bootstrap import Context, build_context
from shared.captions.ingest import ingest_event
from shared.captions.snapshot import take_snapshot
from shared.captions.store import QUARANTINE, file_id, task_doc_id, tasks_collection
from shared.captions.upload import upload_folder
from shared.config import Settings
from shared.platform.events import StorageEvent


@pytest.fixture
def services(tmp_path):
    settings = Settings(
        home=tmp_path / "home",
        log_level="CRITICAL",
        max_annotation_bytes=4096,
        task_sets={"lighting": {"light": "lighting_conditions"}},
    )
    built = build_context(settings)
    watch(built)
    yield built
    built.close()


def drop(services: Context, name: str, data: bytes):
    return services.blobs.write(services.settings.annotations_bucket, name, data)


def ingest_all(services: Context) -> list:
    return [ingest_event(services, event) for event in captured_events(services)]


def task(services: Context, video_id: str, name: str, config: str = "default") -> dict:
    doc = services.documents.get(f"{tasks_collection(config)}/{task_doc_id(video_id, name)}")
    assert doc is not None, f"no document for {video_id}/{name}"
    return doc.data


def edge_codes(data: dict) -> list[str]:
    return [e["code"] for e in data["edge_cases"]]


def test_a_video_with_five_tasks_in_five_different_states(services):
    # GIVEN one registered video whose five tasks are at different points of the workflow
    drop(services, "default/videos/batch.jsonl", video_list("v1", "v2"))
    drop(services, "default/scene/v1_feedback.json", dumps(feedback("alice")))
    drop(services, "default/motion/v1_feedback.json", dumps(feedback("bob")))
    drop(services, "default/motion/v1_review.json", dumps(review(approved=True)))
    drop(services, "default/spatial/v1_feedback.json", dumps(feedback("rita", "improved")))
    drop(services, "default/spatial/v1_feedback_prev.json", dumps(feedback("alice", "first")))
    drop(services, "default/spatial/v1_review.json", dumps(review(approved=False)))
    drop(services, "default/camera/v1_review.json", dumps(review(approved=True)))

    # WHEN the events are ingested
    results = ingest_all(services)

    # THEN every task has its status, and only the review without feedback is an edge case
    assert {r.outcome for r in results} == {"applied"}
    snapshot = take_snapshot(services.documents, services.settings, "default")
    assert snapshot.statuses["v1"] == {
        "subject": "not_completed",
        "scene": "completed_not_reviewed",
        "motion": "approved",
        "spatial": "rejected",
        "camera": "not_completed",
    }
    assert snapshot.statuses["v2"] == dict.fromkeys(snapshot.tasks, "not_completed")
    assert edge_codes(task(services, "v1", "camera")) == ["review_without_feedback"]
    spatial = task(services, "v1", "spatial")
    assert spatial["annotator"] == "alice"  # the original annotator, not the reviewer
    assert spatial["reviewer"] == "rita"
    assert edge_codes(spatial) == []


@pytest.mark.parametrize(
    ("files", "status", "codes"),
    [
        ({"review": review(True)}, "not_completed", ["review_without_feedback"]),
        (
            {"feedback": feedback(), "review": review(False)},
            "rejected",
            ["rejected_without_feedback_prev"],
        ),
        (
            {"feedback": feedback(caption="same"), "feedback_prev": feedback(caption="same"),
             "review": review(False)},
            "rejected",
            ["feedback_prev_identical_to_feedback"],
        ),
        (
            {"feedback": feedback(), "feedback_prev": feedback(caption="old"),
             "review": review(True)},
            "approved",
            ["approved_with_feedback_prev"],
        ),
        (
            {"feedback": feedback(), "feedback_prev": feedback(caption="old")},
            "completed_not_reviewed",
            ["feedback_prev_without_review"],
        ),
    ],
)  # fmt: skip
def test_edge_cases_are_recorded_with_a_reason(services, files, status, codes):
    for kind, content in files.items():
        drop(services, f"default/subject/v9_{kind}.json", dumps(content))

    ingest_all(services)

    data = task(services, "v9", "subject")
    assert data["status"] == status
    assert edge_codes(data) == codes
    assert all(e["reason"] for e in data["edge_cases"])
    assert data["has_edge_cases"] is True


def test_a_task_outside_the_config_and_an_unregistered_video_are_edge_cases(services):
    drop(services, "default/videos/a.jsonl", video_list("v1"))
    drop(services, "default/lighting/v1_feedback.json", dumps(feedback()))
    drop(services, "default/subject/ghost_feedback.json", dumps(feedback()))

    ingest_all(services)

    assert task(services, "v1", "lighting")["status"] == "completed_not_reviewed"
    snapshot = take_snapshot(services.documents, services.settings, "default")
    codes = {(e["code"], e["video_id"]) for e in snapshot.edge_cases}
    assert codes == {("task_not_in_config", "v1"), ("video_not_registered", "ghost")}
    assert "ghost" not in snapshot.entries  # listed as an edge case, not exported as a video
    assert "lighting" not in snapshot.entries["v1"]["captions"]


def test_a_second_task_set_comes_from_configuration(services):
    drop(services, "lighting/videos/a.jsonl", video_list("v1"))
    drop(services, "lighting/light/v1_feedback.json", dumps(feedback()))

    ingest_all(services)

    assert task(services, "v1", "light", config="lighting")["status"] == "completed_not_reviewed"
    snapshot = take_snapshot(services.documents, services.settings, "lighting")
    assert snapshot.statuses == {"v1": {"light": "completed_not_reviewed"}}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b'{"final_caption": "a dog", "user": ', "not valid JSON: unexpected end of data"),
        (b"[1, 2]", "expected a JSON object, got list"),
        (b"\xff\xfe{}", "not UTF-8"),
        (dumps({"user": "alice"}), "field final_caption: Field required"),
        (dumps(feedback(initial_caption_rating_score=7)), "field initial_caption_rating_score"),
        (dumps(feedback(pre_caption_mode="Audio")), "field pre_caption_mode"),
        (dumps(feedback(user="  ")), "field user: Value error, must not be empty"),
    ],
)
def test_bad_files_are_quarantined_naming_the_file_and_field(services, data, named):
    # GIVEN an approved task
    drop(services, "default/videos/a.jsonl", video_list("v1"))
    drop(services, "default/subject/v1_review.json", dumps(review(True)))
    name = "default/subject/v1_feedback.json"
    drop(services, name, data)

    # WHEN ingested
    ingest_all(services)

    # THEN the file is quarantined with the reason, kept in the bucket, and counts as absent
    record = services.documents.get(f"{QUARANTINE}/{file_id(name)}")
    assert record is not None
    assert record.data["error"].startswith(name)
    assert named in record.data["error"]
    assert services.blobs.exists(services.settings.annotations_bucket, name)
    data_doc = task(services, "v1", "subject")
    assert data_doc["status"] == "not_completed"
    assert data_doc["quarantined_files"] == [name]

    # WHEN a valid version replaces it THEN the quarantine entry goes and the status follows
    drop(services, name, dumps(feedback()))
    ingest_all(services)
    assert services.documents.get(f"{QUARANTINE}/{file_id(name)}") is None
    assert task(services, "v1", "subject")["status"] == "approved"


@pytest.mark.parametrize(
    "replacement",
    [b"", b'{"final_caption": "x", ', dumps({"user": "alice"})],
    ids=["zero bytes", "truncated", "invalid"],
)
def test_an_invalid_or_empty_replacement_does_not_change_the_status(services, replacement):
    # GIVEN an approved task
    name = "default/subject/v1_feedback.json"
    drop(services, name, dumps(feedback()))
    drop(services, "default/subject/v1_review.json", dumps(review(True)))
    ingest_all(services)

    # WHEN the feedback is replaced by a bad or empty upload
    bad = drop(services, name, replacement)
    ingest_all(services)

    # THEN the approved version still counts; a bad file is quarantined, an empty one waits
    data = task(services, "v1", "subject")
    assert data["status"] == "approved"
    assert data["edge_cases"] == []
    assert data["files"]["feedback"]["latest"]["generation"] == bad.generation
    quarantined = services.documents.get(f"{QUARANTINE}/{file_id(name)}")
    assert (quarantined is not None) == bool(replacement)

    # WHEN the bad upload is deleted THEN nothing is left to count
    services.blobs.delete(services.settings.annotations_bucket, name)
    ingest_all(services)
    assert task(services, "v1", "subject")["status"] == "not_completed"
    assert services.documents.get(f"{QUARANTINE}/{file_id(name)}") is None


def test_an_invalid_video_list_replacement_keeps_its_videos_registered(services):
    drop(services, "default/videos/a.jsonl", video_list("v1", "v2"))
    ingest_all(services)
    drop(services, "default/videos/a.jsonl", b"not json\n")
    ingest_all(services)

    assert set(take_snapshot(services.documents, services.settings, "default").entries) == {
        "v1", "v2"
    }  # fmt: skip
    assert services.documents.get(f"{QUARANTINE}/{file_id('default/videos/a.jsonl')}")


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (b'{"final_caption": "a", "user": "u", "score": NaN}', "NaN is not a JSON number"),
        (b'{"final_caption": "a", "user": "u", "x": -Infinity}', "-Infinity is not a JSON"),
        (b'{"final_caption": "a", "user": "u", "n": 123456789012345678901234567890}',
         "does not fit in 64 bits"),
        (dumps(feedback(initial_caption_rating_score="3")), "field initial_caption_rating_score"),
        (dumps(feedback(caption_rating_score=4.0)), "field caption_rating_score"),
    ],
)  # fmt: skip
def test_values_the_document_store_cannot_hold_are_quarantined(services, data, named):
    name = "default/subject/v1_feedback.json"
    drop(services, name, data)

    (result,) = ingest_all(services)

    assert result.outcome == "quarantined"
    assert named in result.reason


def test_unusual_but_valid_extra_fields_are_kept_exactly(services):
    content = feedback(boxes=[[0, 0, 1, 1]], __name__="x", **{"a.b": {"c": [1, {"d": None}]}})
    drop(services, "default/videos/a.jsonl", video_list("v1"))
    drop(services, "default/subject/v1_feedback.json", dumps(content))

    ingest_all(services)

    entry = take_snapshot(services.documents, services.settings, "default").entries["v1"]
    exported = entry["captions"]["subject"]["caption_data"]
    assert exported == content
    assert list(exported) == list(content)  # the tool's key order too


def test_a_review_whose_decision_is_not_a_boolean_is_quarantined(services):
    name = "default/subject/v1_review.json"
    drop(services, name, dumps({"reviewer": "rita", "reviewer_double_check": "yes"}))

    ingest_all(services)

    error = services.documents.get(f"{QUARANTINE}/{file_id(name)}").data["error"]
    assert "field reviewer_double_check: Input should be a valid boolean" in error


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("default/subject/../../etc/passwd_feedback.json", "'..' path segment"),
        ("default/subject/./v1_feedback.json", "'.' or '..' path segment"),
        ("default//v1_feedback.json", "empty"),
        ("default/subject/v1_feedback.txt", "file name must be"),
        ("default/subject/nested/v1_feedback.json", "not in the drop layout"),
        ("default/subject/.hidden_feedback.json", "invalid video_id"),
        ("default/subj ect/v1_feedback.json", "invalid task name"),
        ("default/subject/v1\\x_feedback.json", "backslashes"),
        ("default/subject/v\u00e9_feedback.json", "invalid video_id"),
        ("nosuch/subject/v1_feedback.json", "config type 'nosuch' is not configured"),
        ("default/videos/list.csv", "must be .jsonl"),
        ("README.md", "not in the drop layout"),
    ],
)
def test_names_outside_the_layout_are_quarantined_with_the_reason(services, name, why):
    if any(part in ("", ".", "..") for part in name.split("/")):
        # The local store refuses such names but GCS holds them: deliver their event as is.
        event = StorageEvent.model_validate(
            {
                "context": {"id": "e1", "type": "google.cloud.storage.object.v1.finalized",
                            "source": "//storage.googleapis.com/projects/_/buckets/b"},
                "object": {"bucket": services.settings.annotations_bucket, "name": name,
                           "generation": 1, "size": 2},
            }
        )  # fmt: skip
        result = ingest_event(services, event)
    else:
        drop(services, name, dumps(feedback()))
        (result,) = ingest_all(services)

    assert result.outcome == "quarantined"
    assert why in result.reason
    assert services.documents.get(f"{QUARANTINE}/{file_id(name)}") is not None
    assert services.documents.count(tasks_collection("default")) == 0


def test_oversized_files_are_quarantined_without_being_read(services):
    name = "default/subject/v1_feedback.json"
    drop(services, name, dumps(feedback(notes="x" * 5000)))

    (result,) = ingest_all(services)

    assert result.outcome == "quarantined"
    assert "larger than the 4096-byte limit" in result.reason


def test_a_replaced_file_replaces_its_predecessor_and_history_traces_it(services):
    drop(services, "default/subject/v1_feedback.json", dumps(feedback()))
    first = drop(services, "default/subject/v1_review.json", dumps(review(True)))
    ingest_all(services)
    second = drop(services, "default/subject/v1_review.json", dumps(review(False)))
    drop(services, "default/subject/v1_feedback_prev.json", dumps(feedback(caption="before")))
    ingest_all(services)

    data = task(services, "v1", "subject")
    assert data["status"] == "rejected"
    assert data["files"]["review"]["valid"]["generation"] == second.generation
    seen = [(h["name"].rsplit("/", 1)[-1], h["generation"]) for h in data["history"]]
    assert ("v1_review.json", first.generation) in seen
    assert ("v1_review.json", second.generation) in seen
    assert [(t["from"], t["to"]) for t in data["transitions"]] == [
        ("not_completed", "completed_not_reviewed"),
        ("completed_not_reviewed", "approved"),
        ("approved", "rejected"),
    ]


def test_a_deleted_file_is_forgotten(services):
    drop(services, "default/subject/v1_feedback.json", dumps(feedback()))
    drop(services, "default/subject/v1_review.json", dumps(review(True)))
    ingest_all(services)

    services.blobs.delete(services.settings.annotations_bucket, "default/subject/v1_review.json")
    ingest_all(services)

    data = task(services, "v1", "subject")
    assert data["status"] == "completed_not_reviewed"
    assert data["files"]["review"]["latest"]["state"] == "deleted"
    assert data["transitions"][-1]["from"] == "approved"


def test_a_deleted_video_list_unregisters_its_videos(services):
    drop(services, "default/videos/a.jsonl", video_list("v1", "v2"))
    drop(services, "default/videos/b.jsonl", video_list("v2", "v3"))
    ingest_all(services)
    drop(services, "default/videos/a.jsonl", video_list("v1"))  # v2 stays through b.jsonl
    ingest_all(services)
    assert set(take_snapshot(services.documents, services.settings, "default").entries) == {
        "v1", "v2", "v3"
    }  # fmt: skip

    services.blobs.delete(services.settings.annotations_bucket, "default/videos/b.jsonl")
    ingest_all(services)

    assert set(take_snapshot(services.documents, services.settings, "default").entries) == {"v1"}


def test_a_bad_video_list_is_quarantined_naming_the_line_and_field(services):
    name = "default/videos/a.jsonl"
    drop(services, name, video_list("v1") + b'{"video_id": "v2"}\n')

    (result,) = ingest_all(services)

    assert result.outcome == "quarantined"
    assert result.reason == f"{name} line 2: field video_url: Field required"
    assert take_snapshot(services.documents, services.settings, "default").entries == {}


def test_zero_byte_objects_wait_for_real_content(services):
    name = "default/subject/v1_feedback.json"
    drop(services, name, b"")
    ingest_all(services)
    assert task(services, "v1", "subject")["status"] == "not_completed"
    assert services.documents.count(QUARANTINE) == 0

    drop(services, name, dumps(feedback()))
    ingest_all(services)
    assert task(services, "v1", "subject")["status"] == "completed_not_reviewed"


def test_duplicate_and_stale_events_change_nothing(services):
    drop(services, "default/subject/v1_feedback.json", dumps(feedback()))
    events = captured_events(services)
    first = [ingest_event(services, e) for e in events]
    before = task(services, "v1", "subject")

    again = [ingest_event(services, e) for e in events]

    assert [r.outcome for r in first] == ["applied"]
    assert [r.outcome for r in again] == ["unchanged"]
    after = task(services, "v1", "subject")
    before.pop("updated_at"), after.pop("updated_at")
    assert after == before


def _state(services: Context) -> dict:
    """What must not depend on delivery order: statuses, edge cases, valid contents."""
    out = {}
    for doc in services.documents.iter_collection(tasks_collection("default")):
        data = doc.data
        out[doc.id] = (
            data["status"],
            edge_codes(data),
            {k: s["latest"]["generation"] for k, s in data["files"].items()},
            data["annotator"],
            data["reviewer"],
        )
    return out


def test_every_order_of_a_tasks_three_files_each_delivered_twice_gives_one_state(tmp_path):
    # GIVEN the three files of a rejected task, and their six deliveries (each twice)
    base = build_context(Settings(home=tmp_path / "source", log_level="CRITICAL"))
    watch(base)
    drop(base, "default/subject/v1_feedback.json", dumps(feedback("rita", "improved")))
    drop(base, "default/subject/v1_feedback_prev.json", dumps(feedback("alice", "first")))
    drop(base, "default/subject/v1_review.json", dumps(review(False)))
    events = captured_events(base)
    assert len(events) == 3
    orders = set(itertools.permutations([0, 0, 1, 1, 2, 2]))
    assert len(orders) == 90

    # WHEN every distinct order is delivered into a fresh document store
    states = []
    for n, order in enumerate(sorted(orders)):
        documents = SqliteDocumentStore(tmp_path / f"docs-{n}.sqlite")
        isolated = Context(base.settings, base.blobs, documents, base.bus)
        for index in order:
            ingest_event(isolated, events[index])
        states.append(json.dumps(_state(isolated), sort_keys=True))
        documents.close()

    # THEN they all agree, on the rejected status
    assert len(set(states)) == 1
    assert '"rejected"' in states[0]
    base.close()


def test_uploading_a_folder_twice_changes_nothing(services, tmp_path):
    source = tmp_path / "campaign"
    (source / "subject").mkdir(parents=True)
    (source / "videos").mkdir()
    (source / "videos" / "a.jsonl").write_bytes(video_list("v1"))
    (source / "subject" / "v1_feedback.json").write_bytes(dumps(feedback()))

    first = upload_folder(services, source, "default")
    second = upload_folder(services, source, "default")

    assert sorted(first.uploaded) == ["default/subject/v1_feedback.json", "default/videos/a.jsonl"]
    assert second.uploaded == []
    assert len(second.unchanged) == 2

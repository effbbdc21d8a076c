"""Exports of a small hand-written campaign, compared field by field with the expected JSON."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from captions_support import (
    captured_events,
    dumps,
    feedback,
    ingested_home,
    review,
    video_list,
)

from shared.captions.export import ExportBlockedError, run_export
from shared.captions.ingest import ingest_event
from shared.captions.messages import ExportRequest, ExportRequestError
from shared.publishing.messages import HubUploadRequest

NOW = datetime(2026, 11, 23, 14, 5, 9, tzinfo=UTC)
TS = "20261123_1405"

ALICE = feedback("alice", "a dog runs on the beach", annotation_tool_version="2.3.1")
ALICE_FIRST = feedback("alice", "a dog on sand")
RITA_IMPROVED = feedback("rita", "a brown dog sprints along the shoreline")
BOB = feedback("bob", "the dog runs left to right")
REVIEW_OK = review(True)
REVIEW_NO = review(False)


@pytest.fixture
def services(tmp_path):
    files = {
        "default/videos/batch.jsonl": video_list("v1", "v2", "v3"),
        "default/subject/v1_feedback.json": dumps(ALICE),
        "default/subject/v1_review.json": dumps(REVIEW_OK),
        "default/scene/v1_feedback.json": dumps(RITA_IMPROVED),
        "default/scene/v1_feedback_prev.json": dumps(ALICE_FIRST),
        "default/scene/v1_review.json": dumps(REVIEW_NO),
        "default/motion/v2_feedback.json": dumps(BOB),
    }
    built = ingested_home(tmp_path / "home", files)
    yield built
    built.close()


NOT_DONE = {"status": "not_completed"}
V1 = {
    "video_id": "v1",
    "video_url": "https://example.org/v1.mp4",
    "captions": {
        "subject": {
            "status": "approved",
            "caption_data": {
                **ALICE,
                "reviewer": "rita",
                "review_timestamp": "2026-11-02T09:00:00Z",
                "reviewer_double_check": True,
            },
        },
        "scene": {
            "status": "rejected",
            "caption_data": {
                **RITA_IMPROVED,
                "reviewer": "rita",
                "review_timestamp": "2026-11-02T09:00:00Z",
                "reviewer_double_check": False,
                "original_annotator": "alice",
            },
            "negative_example": ALICE_FIRST,
        },
        "motion": NOT_DONE,
        "spatial": NOT_DONE,
        "camera": NOT_DONE,
    },
}
V2 = {
    "video_id": "v2",
    "video_url": "https://example.org/v2.mp4",
    "captions": {
        "subject": NOT_DONE,
        "scene": NOT_DONE,
        "motion": {"status": "completed_not_reviewed", "caption_data": BOB},
        "spatial": NOT_DONE,
        "camera": NOT_DONE,
    },
}
V3 = {
    "video_id": "v3",
    "video_url": "https://example.org/v3.mp4",
    "captions": dict.fromkeys(("subject", "scene", "motion", "spatial", "camera"), NOT_DONE),
}


def read(folder, name):
    return json.loads((folder / name).read_text())


def test_the_export_files_match_the_expected_json(services, tmp_path):
    result = run_export(
        services, ExportRequest(), request_id="r1", now=NOW, export_dir=tmp_path / "out"
    )

    folder = tmp_path / "out" / f"export_{TS}"
    assert result.folder == f"export_{TS}"
    assert sorted(p.name for p in folder.iterdir()) == [
        f"all_videos_with_captions_{TS}.json",
        f"comprehensive_statistics_{TS}.json",
        f"not_completed_videos_{TS}.json",
        f"reviewed_videos_{TS}.json",
    ]
    assert read(folder, f"all_videos_with_captions_{TS}.json") == [V1, V2]
    assert read(folder, f"reviewed_videos_{TS}.json") == [V1]
    assert read(folder, f"not_completed_videos_{TS}.json") == [V3]
    # key order follows the workflow (stage 1, stage 2, final), unknown fields last
    caption_data = read(folder, f"reviewed_videos_{TS}.json")[0]["captions"]["subject"]
    assert list(caption_data["caption_data"])[:2] == ["pre_caption", "pre_caption_prompt"]

    stats = read(folder, f"comprehensive_statistics_{TS}.json")
    assert stats["export_timestamp"] == TS
    assert stats["generated_at"] == "2026-11-23T14:05:09Z"
    assert stats["totals"] == {
        "videos": 3,
        "videos_with_any_completed_task": 2,
        "videos_with_any_reviewed_task": 1,
        "videos_not_started": 1,
        "tasks_total": 15,
        "status_counts": {
            "not_completed": 12,
            "completed_not_reviewed": 1,
            "approved": 1,
            "rejected": 1,
        },
        "edge_cases": 0,
        "quarantined_files": 0,
    }
    subject = stats["per_task"]["subject"]
    assert subject["long_name"] == "subject_description"
    assert subject["status_counts"] == {
        "not_completed": 2,
        "completed_not_reviewed": 0,
        "approved": 1,
        "rejected": 0,
    }
    assert (subject["completion_rate"], subject["review_rate"], subject["approval_rate"]) == (
        0.3333,
        1.0,
        1.0,
    )
    assert stats["per_task"]["motion"]["review_rate"] == 0.0
    assert stats["per_task"]["camera"]["approval_rate"] is None  # nothing reviewed
    assert subject["rating_distributions"] == {
        "initial_caption_rating_score": {"3": 1},
        "feedback_rating_score": {"4": 1},
        "caption_rating_score": {"4": 1},
    }
    assert subject["workflow_types"] == {"improved_precaption": 1}
    assert stats["annotators"] == {
        "alice": {"tasks": 2, "approved": 1, "rejected": 1, "pending_review": 0,
                  "approval_rate": 0.5},
        "bob": {"tasks": 1, "approved": 0, "rejected": 0, "pending_review": 1,
                "approval_rate": None},
    }  # fmt: skip
    assert stats["reviewers"] == {
        "rita": {"reviews": 2, "approved": 1, "rejected": 1, "approval_rate": 0.5}
    }
    assert stats["edge_cases"] == []
    assert stats["edge_case_counts"] == {}

    # the same folder is in the exports bucket, byte for byte
    bucket = services.settings.exports_bucket
    for path in folder.iterdir():
        stored = services.blobs.read(bucket, f"export_{TS}/{path.name}")
        assert stored == path.read_bytes()


def test_only_reviewed_writes_the_reviewed_file_and_statistics(services, tmp_path):
    result = run_export(
        services,
        ExportRequest(only_reviewed=True),
        request_id="r1",
        now=NOW,
        export_dir=tmp_path,
    )

    assert sorted(result.files) == [
        f"comprehensive_statistics_{TS}.json",
        f"reviewed_videos_{TS}.json",
    ]


def test_with_history_adds_files_and_transitions_and_nothing_else_changes(services, tmp_path):
    plain = run_export(services, ExportRequest(), request_id="a", now=NOW, export_dir=tmp_path)
    later = NOW.replace(minute=6)
    traced = run_export(
        services, ExportRequest(with_history=True), request_id="b", now=later, export_dir=tmp_path
    )

    base = read(tmp_path / plain.folder, f"reviewed_videos_{TS}.json")
    rich = read(tmp_path / traced.folder, "reviewed_videos_20261123_1406.json")
    scene = rich[0]["captions"]["scene"]
    history = scene.pop("history")
    assert [f["name"] for f in history["files"]] == [
        "default/scene/v1_feedback.json",
        "default/scene/v1_feedback_prev.json",
        "default/scene/v1_review.json",
    ]
    assert all(f["generation"] > 0 and f["time"].endswith("Z") for f in history["files"])
    assert history["transitions"][-1]["to"] == "rejected"
    assert history["transitions"][-1]["cause"].startswith("default/scene/v1_review.json#")
    for task in rich[0]["captions"].values():
        task.pop("history", None)
    assert rich == base


def test_edge_cases_stop_a_strict_export_with_a_clear_list(services, tmp_path):
    bucket = services.settings.annotations_bucket
    services.blobs.write(bucket, "default/camera/v3_review.json", dumps(REVIEW_OK))
    services.blobs.write(bucket, "default/camera/v2_feedback.json", b"{broken")
    for event in captured_events(services):
        ingest_event(services, event)

    with pytest.raises(ExportBlockedError) as caught:
        run_export(services, ExportRequest(), request_id="r", now=NOW, export_dir=tmp_path)

    message = str(caught.value)
    assert "1 edge case(s) and 1 quarantined file(s)" in message
    assert "review_without_feedback: video v3 task camera" in message
    assert "quarantined: default/camera/v2_feedback.json" in message
    assert not (tmp_path / f"export_{TS}").exists()
    assert list(services.blobs.list(services.settings.exports_bucket)) == []

    result = run_export(
        services,
        ExportRequest(ignore_errors=True),
        request_id="r",
        now=NOW,
        export_dir=tmp_path,
    )
    stats = result.statistics
    assert stats["edge_case_counts"] == {"review_without_feedback": 1}
    assert stats["quarantined"][0]["name"] == "default/camera/v2_feedback.json"
    assert "not valid JSON" in stats["quarantined"][0]["error"]


def test_an_export_never_overwrites_an_earlier_one(services, tmp_path):
    first = run_export(services, ExportRequest(), request_id="a", now=NOW, export_dir=tmp_path)
    before = {p.name: p.read_bytes() for p in (tmp_path / first.folder).iterdir()}

    second = run_export(services, ExportRequest(), request_id="b", now=NOW, export_dir=tmp_path)
    third = run_export(services, ExportRequest(only_reviewed=True), request_id="c", now=NOW)

    assert (first.folder, second.folder, third.folder) == (
        f"export_{TS}",
        f"export_{TS}_2",
        f"export_{TS}_3",
    )
    assert f"reviewed_videos_{TS}_2.json" in second.files
    after = {p.name: p.read_bytes() for p in (tmp_path / first.folder).iterdir()}
    assert after == before


def test_a_redelivered_finished_request_returns_its_export_unchanged(services):
    first = run_export(services, ExportRequest(), request_id="msg-1", now=NOW)
    bucket = services.settings.exports_bucket
    generations = {i.name: i.generation for i in services.blobs.list(bucket)}
    # GIVEN the data changes before the redelivery
    services.blobs.write(
        services.settings.annotations_bucket, "default/camera/v3_feedback.json", dumps(BOB)
    )
    for event in captured_events(services):
        ingest_event(services, event)

    again = run_export(services, ExportRequest(), request_id="msg-1", now=NOW)

    assert again.folder == first.folder
    assert again.statistics == first.statistics
    assert {i.name: i.generation for i in services.blobs.list(bucket)} == generations


def test_a_redelivered_request_completes_its_own_export(services):
    first = run_export(services, ExportRequest(), request_id="msg-1", now=NOW)
    bucket = services.settings.exports_bucket
    # GIVEN a crash after one file was written: the others are missing, the claim open
    for name in list(first.files)[1:]:
        services.blobs.delete(bucket, f"{first.folder}/{name}")
    services.documents.update(f"exports/{first.folder}", {"state": "writing"})

    again = run_export(services, ExportRequest(), request_id="msg-1", now=NOW)

    assert again.folder == first.folder
    names = sorted(i.name for i in services.blobs.list(bucket, f"{first.folder}/"))
    assert names == sorted(f"{first.folder}/{n}" for n in first.files)


def test_bad_requests_are_permanent_errors(services):
    with pytest.raises(ExportRequestError, match="unknown config type 'nope'"):
        run_export(services, ExportRequest(config_type="nope"), request_id="r", now=NOW)
    with pytest.raises(ExportRequestError, match="--hf-dataset"):
        run_export(services, ExportRequest(publish=True), request_id="r", now=NOW)
    with pytest.raises(ValueError, match="not a Hugging Face repo id"):
        ExportRequest(hf_dataset="a--b/x")


def test_publishing_queues_one_hub_upload_message(services):
    services.bus.create_subscription("probe-hub", "hub-uploads")

    result = run_export(
        services, ExportRequest(hf_dataset="team/captions"), request_id="r", now=NOW
    )

    (message,) = services.bus.pull("probe-hub")
    assert HubUploadRequest.model_validate_json(message.data) == HubUploadRequest(
        folder=result.folder, repo_id="team/captions"
    )

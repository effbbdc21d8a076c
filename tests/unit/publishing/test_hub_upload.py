"""Publishing an export folder to a dataset repo: the service, the real huggingface_hub
client and our retry layer, against the fake Hub (tests/hubfake.py) over real HTTP.

The publisher waits through an injected ``sleep`` that records instead of sleeping, so the
waits (backoff, Retry-After) are asserted exactly and the tests take no time.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hubfake import DEFAULT_TOKEN, FakeHub, hub_server_fixture  # noqa: F401 (fixture hub_server)
from pydantic import SecretStr, ValidationError
from support import free_port

from shared.bootstrap import Context, build_context
from shared.config import Settings
from shared.core.errors import PermanentError, TransientError
from shared.ports import HubPublisher
from shared.publishing.card import CARD_BEGIN, CARD_END, render_dataset_card
from shared.publishing.messages import HubUploadRequest
from shared.publishing.store import HUB_UPLOADS, hub_upload_path, hub_upload_status
from shared.publishing.upload import upload_export

REPO = "acme/clips"
FOLDER = "export_20261123_1405"
TS = "20261123_1405"
WRONG_TOKEN = "hf_wrong_secret_value_0042"

STATISTICS: dict[str, Any] = {
    "export_timestamp": TS,
    "generated_at": "2026-11-23T14:05:09Z",
    "config_type": "default",
    "tasks": ["subject", "camera"],
    "totals": {
        "videos": 240,
        "videos_with_any_completed_task": 200,
        "videos_with_any_reviewed_task": 150,
        "videos_not_started": 40,
        "status_counts": {
            "not_completed": 300,
            "completed_not_reviewed": 250,
            "approved": 500,
            "rejected": 150,
        },
        "edge_cases": 7,
        "quarantined_files": 2,
    },
    "per_task": {
        "subject": {
            "long_name": "subject_description",
            "status_counts": {
                "not_completed": 40,
                "completed_not_reviewed": 60,
                "approved": 112,
                "rejected": 28,
            },
            "completion_rate": 0.8333,
            "review_rate": 0.7,
            "approval_rate": 0.8,
            "rating_distributions": {"initial_caption_rating_score": {"1": 3, "5": 9}},
            "workflow_types": {"perfect_precaption": 10, "improved_precaption": 20},
        },
        "camera": {"long_name": "camera_framing_dynamics", "status_counts": {"approved": 5}},
    },
    "annotators": {
        "alice": {
            "tasks": 10,
            "approved": 4,
            "rejected": 1,
            "pending_review": 5,
            "approval_rate": 0.8,
        }
    },
    "reviewers": {"rita": {"reviews": 5, "approved": 4, "rejected": 1, "approval_rate": 0.8}},
    "edge_case_counts": {"review_without_feedback": 2, "rejected_without_feedback_prev": 5},
    "edge_cases": [],
    "quarantined": [],
}


def export_files(ts: str = TS, statistics: dict[str, Any] | None = None) -> dict[str, bytes]:
    return {
        f"all_videos_with_captions_{ts}.json": json.dumps([{"video_id": "v1"}]).encode(),
        f"reviewed_videos_{ts}.json": json.dumps([{"video_id": "v1", "approved": True}]).encode(),
        f"not_completed_videos_{ts}.json": b"[]",
        f"comprehensive_statistics_{ts}.json": json.dumps(
            STATISTICS if statistics is None else statistics
        ).encode(),
    }


def write_export(services: Context, folder: str, files: dict[str, bytes]) -> None:
    for name, data in files.items():
        services.blobs.write(
            services.settings.exports_bucket,
            f"{folder}/{name}",
            data,
            content_type="application/json",
        )


def hub_settings(hub: FakeHub, home: Any, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "home": home,
        "backend": "local",
        "hf_endpoint": hub.endpoint,
        "hf_token": DEFAULT_TOKEN,
        "hf_dataset": REPO,
        "hub_max_attempts": 3,
        "hub_max_seconds": 30.0,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def hub(hub_server: FakeHub) -> FakeHub:
    return hub_server


@pytest.fixture
def services(hub: FakeHub, tmp_path: Any) -> Iterator[Context]:
    built = build_context(hub_settings(hub, tmp_path))
    yield built
    built.close()


@pytest.fixture
def sleeps() -> list[float]:
    """What the publisher waited, in order (it never really sleeps in these tests)."""
    return []


@pytest.fixture
def make_publisher(sleeps: list[float]) -> Callable[[Settings], HubPublisher]:
    # Imported here, after hub_server has set HF_* variables: huggingface_hub reads them
    # when first imported.
    from shared.adapters.hf.publisher import HfHubPublisher  # noqa: PLC0415

    def make(settings: Settings) -> HubPublisher:
        return HfHubPublisher(settings, sleep=sleeps.append, backoff_seconds=0.01)

    return make


@pytest.fixture
def publisher(
    services: Context, make_publisher: Callable[[Settings], HubPublisher]
) -> HubPublisher:
    return make_publisher(services.settings)


def upload(
    services: Context, publisher: HubPublisher, folder: str = FOLDER, **fields: Any
) -> dict[str, Any]:
    request = HubUploadRequest(folder=folder, **fields)
    return upload_export(services, publisher, request, request_id=f"msg-{len(fields)}-{folder}")


def status_doc(services: Context, folder: str = FOLDER, repo_id: str = REPO) -> dict[str, Any]:
    doc = services.documents.get(hub_upload_path(repo_id, folder))
    assert doc is not None
    return doc.data


def readme(hub: FakeHub) -> str:
    return hub.repo(REPO).files["README.md"].decode()


# --- the happy path -------------------------------------------------------------------------


def test_an_export_is_published_in_one_commit_under_its_folder_name(hub, services, publisher):
    # GIVEN a finished export folder in the exports bucket
    files = export_files()
    write_export(services, FOLDER, files)

    # WHEN it is published
    result = upload(services, publisher, requested_by="export_snapshot")

    # THEN the new private dataset repo has exactly one commit holding every file, the
    # folder name kept, and the card at the root
    repo = hub.repo(REPO)
    assert repo.repo_type == "dataset"
    assert repo.private is True
    assert len(repo.commits) == 1
    commit = repo.commits[0]
    assert sorted(commit.paths) == sorted([*(f"{FOLDER}/{name}" for name in files), "README.md"])
    for name, data in files.items():
        assert repo.files[f"{FOLDER}/{name}"] == data
    assert result["outcome"] == "committed"
    assert result["commit_oid"] == commit.oid
    doc = status_doc(services)
    assert doc["state"] == "done"
    assert doc["attempts"] == 1
    assert doc["commit_oid"] == commit.oid
    assert doc["commit_url"].endswith(f"/datasets/{REPO}/commit/{commit.oid}")
    assert sorted(doc["files"]) == sorted(f"{FOLDER}/{name}" for name in files)
    assert doc["last_error"] is None
    assert doc["requested_by"] == "export_snapshot"


def test_the_card_shows_the_status_breakdown(hub, services, publisher):
    write_export(services, FOLDER, export_files())

    upload(services, publisher)

    card = readme(hub)
    assert card.startswith("---\n")
    header = card.split("---\n")[1]
    assert "pretty_name: clips" in header
    assert "- video" in header
    assert "- captioning" in header
    assert "- vidcurate" in header
    assert "license" not in header
    section = card[card.index(CARD_BEGIN) : card.index(CARD_END)]
    assert f"`{FOLDER}`" in section
    assert f"Export timestamp: {TS}" in section
    assert (
        "| subject | subject_description | 40 | 60 | 112 | 28 | 83.3% | 70.0% | 80.0% |" in section
    )
    # camera has only part of its statistics: the rest shows as n/a, not as an error
    assert "| camera | camera_framing_dynamics | n/a | n/a | 5 | n/a | n/a | n/a | n/a |" in section
    assert "| 240 | 200 | 150 | 40 | 7 | 2 |" in section
    assert "| 300 | 250 | 500 | 150 |" in section
    assert "| alice | 10 | 4 | 1 | 5 | 80.0% |" in section
    assert "| rita | 5 | 4 | 1 | 80.0% |" in section
    assert "| review_without_feedback | 2 |" in section


def test_an_export_without_the_optional_files_is_published(hub, services, publisher):
    # --only-reviewed exports may lack some files; only the statistics are guaranteed
    stats_only = {f"comprehensive_statistics_{TS}.json": json.dumps({}).encode()}
    write_export(services, FOLDER, stats_only)

    upload(services, publisher)

    repo = hub.repo(REPO)
    assert sorted(repo.commits[0].paths) == [
        "README.md",
        f"{FOLDER}/comprehensive_statistics_{TS}.json",
    ]
    assert "No per-task statistics in this export." in readme(hub)


def test_the_repo_of_the_message_wins_over_the_configured_one(hub, services, publisher):
    write_export(services, FOLDER, export_files())

    upload(services, publisher, repo_id="other-org/videos")

    assert len(hub.repo("other-org/videos").commits) == 1
    assert REPO not in hub.repos
    assert status_doc(services, repo_id="other-org/videos")["state"] == "done"


# --- exactly one commit -----------------------------------------------------------------------


def test_a_second_delivery_makes_no_second_commit_and_no_hub_call(hub, services, publisher):
    write_export(services, FOLDER, export_files())
    first = upload(services, publisher)
    requests_before = len(hub.requests)

    second = upload(services, publisher)

    assert len(hub.repo(REPO).commits) == 1
    assert len(hub.requests) == requests_before
    assert second["outcome"] == "already_done"
    assert second["commit_oid"] == first["commit_oid"]
    assert status_doc(services)["attempts"] == 1


def test_a_crash_after_the_commit_makes_no_second_commit(hub, services, publisher):
    # GIVEN a commit that landed but was never recorded (the function died in between)
    write_export(services, FOLDER, export_files())
    upload(services, publisher)
    services.documents.delete(hub_upload_path(REPO, FOLDER))

    # WHEN the message comes back
    result = upload(services, publisher)

    # THEN the folder is found on the Hub and recorded, without a new commit
    assert len(hub.repo(REPO).commits) == 1
    assert result["outcome"] == "found_on_hub"
    doc = status_doc(services)
    assert doc["state"] == "done"
    assert doc["outcome"] == "found_on_hub"


def test_a_commit_whose_answer_is_lost_is_not_committed_twice(hub, services, publisher, sleeps):
    # GIVEN a Hub that carries out the commit, then answers 503 (the answer is lost)
    write_export(services, FOLDER, export_files())
    hub.fail_next(r"/commit/main$", 503, method="POST", after_handling=True)

    # WHEN the retry layer tries again
    result = upload(services, publisher)

    # THEN every file is already there: the client sends no second commit, and the landed
    # one is recorded
    repo = hub.repo(REPO)
    assert len(repo.commits) == 1
    assert [status for _, _, status in hub.requests_to(r"/commit/main$")] == [503]
    assert result["outcome"] == "committed"
    assert result["commit_oid"] == repo.commits[0].oid
    assert len(sleeps) == 1


def test_a_duplicate_delivery_that_commits_first_wins(hub, services, publisher):
    # GIVEN another delivery of the same export that commits between our checks and our
    # commit (with a README of its own)
    files = export_files()
    write_export(services, FOLDER, files)

    def other_delivery_commits() -> None:
        landed = {f"{FOLDER}/{name}": data for name, data in files.items()}
        hub.commit_as_user(REPO, {**landed, "README.md": b"# theirs\n"}, summary="theirs")

    hub.run_before_next(r"/preupload/", other_delivery_commits, method="POST")

    # WHEN our commit reaches the Hub, on top of a head that moved
    result = upload(services, publisher)

    # THEN the Hub refuses it (412), and the folder's commit is recorded instead
    repo = hub.repo(REPO)
    assert [c.summary for c in repo.commits] == ["theirs"]
    assert [status for _, _, status in hub.requests_to(r"/commit/main$")] == [412]
    assert result["commit_oid"] == repo.commits[0].oid
    assert status_doc(services)["state"] == "done"


def test_a_readme_edited_meanwhile_is_not_overwritten(hub, services, publisher):
    # GIVEN a person who edits the README between our read and our commit
    write_export(services, FOLDER, export_files())
    edited = b"---\nlicense: mit\n---\n# Edited meanwhile\n"
    hub.run_before_next(
        r"/preupload/", lambda: hub.commit_as_user(REPO, {"README.md": edited}), method="POST"
    )

    # WHEN the upload commits: the Hub refuses it (412) and the upload asks for a retry
    with pytest.raises(TransientError, match="changed meanwhile"):
        upload(services, publisher)
    assert status_doc(services)["state"] == "failed"
    assert [c.summary for c in hub.repo(REPO).commits] == ["edit"]

    # THEN the redelivery builds the card on the edited README, which survives
    upload(services, publisher)
    card = readme(hub)
    assert card.startswith("---\nlicense: mit\n---\n# Edited meanwhile\n")
    assert CARD_BEGIN in card
    assert len(hub.repo(REPO).commits) == 2
    assert status_doc(services)["attempts"] == 2


def test_another_message_waits_while_an_upload_holds_its_lease(hub, services, publisher):
    write_export(services, FOLDER, export_files())
    services.documents.set(
        hub_upload_path(REPO, FOLDER),
        {
            "folder": FOLDER,
            "repo_id": REPO,
            "state": "uploading",
            "attempts": 1,
            "request_id": "someone-else",
            "lease_until": datetime.now(UTC) + timedelta(minutes=5),
        },
    )

    with pytest.raises(TransientError, match="someone-else is publishing it"):
        upload(services, publisher)

    assert hub.requests == []
    assert status_doc(services)["state"] == "uploading"


def test_an_expired_lease_is_taken_over(hub, services, publisher):
    write_export(services, FOLDER, export_files())
    services.documents.set(
        hub_upload_path(REPO, FOLDER),
        {
            "folder": FOLDER,
            "repo_id": REPO,
            "state": "uploading",
            "attempts": 1,
            "request_id": "killed",
            "lease_until": datetime.now(UTC) - timedelta(seconds=1),
        },
    )

    upload(services, publisher)

    assert len(hub.repo(REPO).commits) == 1
    assert status_doc(services)["attempts"] == 2


# --- retries ---------------------------------------------------------------------------------


HUB_CALLS = {  # path, method, and the answer once the faults are spent
    "tree listing": (r"/tree/main/", "GET", 404),
    "README download": (r"/resolve/main/README\.md$", "GET", 404),
    "repo info": (rf"^/api/datasets/{REPO}$", "GET", 404),
    "repo creation": (r"^/api/repos/create$", "POST", 200),
    "preupload": (r"/preupload/main$", "POST", 200),
    "commit": (r"/commit/main$", "POST", 200),
}


@pytest.mark.parametrize(("path", "method", "then"), HUB_CALLS.values(), ids=HUB_CALLS.keys())
def test_two_503s_are_retried_by_our_layer_alone(
    hub, services, publisher, sleeps, path, method, then
):
    write_export(services, FOLDER, export_files())
    hub.fail_next(path, 503, times=2, method=method)

    upload(services, publisher)

    assert len(hub.repo(REPO).commits) == 1
    # three requests: huggingface_hub did not add retries of its own under ours
    assert [status for _, _, status in hub.requests_to(path, method)][:3] == [503, 503, then]
    assert len(sleeps) == 2
    assert all(0 <= wait <= 0.04 for wait in sleeps)  # jittered exponential backoff
    doc = status_doc(services)
    assert doc["state"] == "done"
    assert doc["attempts"] == 1


@pytest.mark.parametrize("status", [429, 500, 502, 504])
def test_other_retryable_statuses_are_retried(hub, services, publisher, status):
    write_export(services, FOLDER, export_files())
    hub.fail_next(r"/commit/main$", status, method="POST")

    upload(services, publisher)

    assert [s for _, _, s in hub.requests_to(r"/commit/main$")] == [status, 200]
    assert len(hub.repo(REPO).commits) == 1


@pytest.mark.parametrize("retry_after", ["2", "0.5"])
def test_retry_after_is_honoured(hub, services, publisher, sleeps, retry_after):
    write_export(services, FOLDER, export_files())
    hub.fail_next(r"/commit/main$", 429, method="POST", retry_after=retry_after)

    upload(services, publisher)

    assert sleeps == [float(retry_after)]
    assert len(hub.repo(REPO).commits) == 1


def test_retry_after_as_an_http_date_is_honoured(hub, services, publisher, sleeps):
    write_export(services, FOLDER, export_files())
    when = datetime.now(UTC) + timedelta(seconds=20)
    hub.fail_next(r"/preupload/main$", 503, retry_after=when.strftime("%a, %d %b %Y %H:%M:%S GMT"))

    upload(services, publisher)

    assert len(sleeps) == 1
    assert 15 < sleeps[0] <= 20


def test_a_retry_after_beyond_the_budget_gives_up_at_once(hub, services, publisher, sleeps):
    # GIVEN a Hub that asks for an hour while the budget is 30 s
    write_export(services, FOLDER, export_files())
    hub.fail_next(r"/commit/main$", 503, method="POST", retry_after=3600)

    # WHEN the upload runs, THEN it does not wait: the platform will redeliver later
    with pytest.raises(TransientError, match=r"asked to wait 3600 s, beyond the 30 s"):
        upload(services, publisher)

    assert sleeps == []
    assert len(hub.requests_to(r"/commit/main$")) == 1
    assert status_doc(services)["state"] == "failed"


def test_exhausted_retries_are_a_transient_error_then_a_redelivery_succeeds(
    hub, services, publisher, sleeps
):
    # GIVEN a Hub that answers 503 more often than the 3 attempts allow
    write_export(services, FOLDER, export_files())
    hub.fail_next(r"/commit/main$", 503, times=3, method="POST")

    # WHEN the upload runs
    with pytest.raises(TransientError) as raised:
        upload(services, publisher)

    # THEN the error names the attempts and the last status; the document says failed
    assert "after 3 attempt(s)" in str(raised.value)
    assert "HTTP 503" in str(raised.value)
    assert len(hub.requests_to(r"/commit/main$")) == 3
    assert len(sleeps) == 2
    doc = status_doc(services)
    assert doc["state"] == "failed"
    assert "HTTP 503" in doc["last_error"]
    assert hub.repo(REPO).commits == []

    # AND the platform's redelivery publishes it once
    upload(services, publisher)
    assert len(hub.repo(REPO).commits) == 1
    doc = status_doc(services)
    assert doc["state"] == "done"
    assert doc["attempts"] == 2
    assert doc["last_error"] is None


def test_an_unreachable_hub_is_a_transient_error(tmp_path, services, make_publisher, sleeps):
    # GIVEN an endpoint where nothing listens
    write_export(services, FOLDER, export_files())
    settings = services.settings.model_copy(
        update={"hf_endpoint": f"http://127.0.0.1:{free_port()}"}
    )

    with pytest.raises(TransientError, match=r"after 3 attempt\(s\).*ConnectError"):
        upload(services, make_publisher(settings))

    assert len(sleeps) == 2
    assert status_doc(services)["state"] == "failed"


def test_a_stalled_request_times_out_and_is_retried(hub, services, make_publisher, sleeps):
    # GIVEN a budget of 2 s (1 s per request) and a Hub that stalls the first listing 1.5 s
    write_export(services, FOLDER, export_files())
    settings = services.settings.model_copy(update={"hub_max_seconds": 2.0})
    hub.fail_next(r"/tree/main/", 504, delay=1.5)

    upload(services, make_publisher(settings))

    # THEN the client gave up on it after its timeout and the retry went through
    assert len(sleeps) == 1
    assert len(hub.repo(REPO).commits) == 1
    assert status_doc(services)["state"] == "done"


# --- permanent errors -------------------------------------------------------------------------


def test_a_wrong_token_is_a_permanent_error_that_never_shows_the_token(
    hub, services, make_publisher, tmp_path
):
    write_export(services, FOLDER, export_files())
    settings = services.settings.model_copy(update={"hf_token": SecretStr(WRONG_TOKEN)})
    publisher = make_publisher(settings)
    services_with_wrong_token = replace(services, settings=settings)

    with pytest.raises(PermanentError) as raised:
        upload(services_with_wrong_token, publisher)

    message = str(raised.value)
    assert "HTTP 401" in message
    assert "set HF_TOKEN" in message
    assert REPO in message
    chain = []
    error: BaseException | None = raised.value
    while error is not None:
        chain.append(repr(error) + str(error))
        error = error.__cause__ or error.__context__
    assert all(WRONG_TOKEN not in text for text in chain)
    doc = status_doc(services)
    assert doc["state"] == "failed"
    assert "HTTP 401" in doc["last_error"]
    assert WRONG_TOKEN not in json.dumps(doc, default=str)
    assert REPO not in hub.repos


def test_no_token_is_a_permanent_error_when_writing(hub, services, make_publisher):
    write_export(services, FOLDER, export_files())
    settings = services.settings.model_copy(update={"hf_token": None})
    anonymous = replace(services, settings=settings)

    with pytest.raises(PermanentError, match="set HF_TOKEN"):
        upload(anonymous, make_publisher(settings))

    # the reads went out anonymously; nothing was written
    assert {method for method, _, _ in hub.requests} == {"GET"}
    assert status_doc(services)["state"] == "failed"


@pytest.mark.parametrize(
    ("status", "path", "expected"),
    [
        (403, r"^/api/repos/create$", "write access"),
        (400, r"/commit/main$", "refused the request (HTTP 400)"),
        (422, r"/preupload/main$", "refused the request (HTTP 422)"),
        (404, r"/commit/main$", "not found (HTTP 404)"),
    ],
    ids=["403 no rights", "400 bad request", "422 unprocessable", "404 repo gone"],
)
def test_refusals_are_permanent_errors(hub, services, publisher, status, path, expected):
    write_export(services, FOLDER, export_files())
    hub.fail_next(path, status, method="POST")

    with pytest.raises(PermanentError, match=re.escape(expected)) as raised:
        upload(services, publisher)

    assert REPO in str(raised.value)
    assert len(hub.requests_to(path, "POST")) == 1  # never retried
    doc = status_doc(services)
    assert doc["state"] == "failed"
    assert expected in doc["last_error"]


def test_a_missing_folder_is_a_permanent_error(hub, services, publisher):
    with pytest.raises(PermanentError, match=f"export folder {FOLDER} not found"):
        upload(services, publisher)

    assert status_doc(services)["state"] == "failed"
    assert hub.requests == []


def test_a_folder_without_statistics_is_a_permanent_error(hub, services, publisher):
    files = export_files()
    del files[f"comprehensive_statistics_{TS}.json"]
    write_export(services, FOLDER, files)

    with pytest.raises(PermanentError, match=f"{FOLDER} .* has no comprehensive_statistics_"):
        upload(services, publisher)

    assert hub.requests == []


def test_no_repo_anywhere_is_a_permanent_error(hub, services, publisher):
    settings = services.settings.model_copy(update={"hf_dataset": None})
    unconfigured = replace(services, settings=settings)
    write_export(services, FOLDER, export_files())

    with pytest.raises(PermanentError, match="VIDCURATE_HF_DATASET"):
        upload(unconfigured, publisher)

    assert hub.requests == []


def test_a_configured_repo_that_is_not_a_repo_id_is_a_permanent_error(services, publisher):
    settings = services.settings.model_copy(update={"hf_dataset": "just-a-name"})
    misconfigured = replace(services, settings=settings)

    with pytest.raises(PermanentError, match="not a Hugging Face repo id"):
        upload(misconfigured, publisher)


# --- the request ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "folder",
    ["export_20261123_1405", "export_20261123_1405_2", "export_20261123_1405_17"],
)
def test_export_folder_names_are_accepted(folder):
    assert HubUploadRequest(folder=folder).folder == folder


@pytest.mark.parametrize(
    "folder",
    [
        "export_2026112_1405",
        "export_20261123_14055",
        "export_20261123_1405/",
        "../export_20261123_1405",
        "export_20261123_1405_",
        "exports/export_20261123_1405",
        "EXPORT_20261123_1405",
        "",
    ],
)
def test_other_folder_names_are_rejected(folder):
    with pytest.raises(ValidationError, match="folder"):
        HubUploadRequest(folder=folder)


@pytest.mark.parametrize("repo_id", ["acme/clips", "Acme-Org/clips.v2", "a/b", "user_1/data_set"])
def test_repo_ids_are_accepted(repo_id):
    assert HubUploadRequest(folder=FOLDER, repo_id=repo_id).repo_id == repo_id


@pytest.mark.parametrize(
    "repo_id",
    [
        "clips",
        "acme/clips/extra",
        "acme/",
        "/clips",
        "acme/--clips",
        "acme/a..b",
        "-acme/x",
        "acme/x.",
        "acme/cl ips",
        "https://huggingface.co/datasets/acme/clips",
    ],
)
def test_other_repo_ids_are_rejected(repo_id):
    with pytest.raises(ValidationError, match="not a Hugging Face repo id"):
        HubUploadRequest(folder=FOLDER, repo_id=repo_id)


def test_unknown_fields_in_the_message_are_ignored():
    request = HubUploadRequest.model_validate_json(
        json.dumps({"folder": FOLDER, "export_timestamp": TS})
    )
    assert request.folder == FOLDER


# --- the card ---------------------------------------------------------------------------------


USER_README = """---
license: cc-by-4.0
language:
- en
---
# Acme clips

Written by a person: how we film.

<!-- vidcurate:begin -->
stale generated text
<!-- vidcurate:end -->

## Citation

Please cite us.
"""


def test_user_text_outside_the_markers_survives_an_update(hub, services, publisher):
    # GIVEN a README that a person wrote around the generated section
    hub.commit_as_user(REPO, {"README.md": USER_README.encode()})
    write_export(services, FOLDER, export_files())
    newer, newer_ts = "export_20261201_0900", "20261201_0900"
    write_export(
        services, newer, export_files(newer_ts, {**STATISTICS, "export_timestamp": newer_ts})
    )

    # WHEN two exports are published one after the other
    upload(services, publisher)
    upload(services, publisher, folder=newer)

    # THEN only the section changed: the header and the person's text are intact
    card = readme(hub)
    before, rest = card.split(CARD_BEGIN)
    section, after = rest.split(CARD_END)
    assert before == USER_README.split(CARD_BEGIN, maxsplit=1)[0]
    assert after == USER_README.split(CARD_END, maxsplit=1)[1]
    assert "stale generated text" not in section
    assert f"`{newer}`" in section
    assert f"`{FOLDER}`" not in section
    assert len(hub.repo(REPO).commits) == 3  # the person's, then one per export


def test_a_readme_without_markers_gets_the_section_appended():
    existing = "---\nlicense: mit\n---\n# Mine\n\nHand-written.\n"

    card = render_dataset_card(STATISTICS, repo_id=REPO, folder=FOLDER, existing=existing)

    assert card.startswith(existing.rstrip())
    assert card.count("---\n") == 2  # no second header
    assert card.rstrip().endswith(CARD_END)


def test_a_readme_without_header_or_markers_gets_both():
    card = render_dataset_card(STATISTICS, repo_id=REPO, folder=FOLDER, existing="Just text.\n")

    assert card.startswith("---\n")
    assert "Just text." in card
    assert CARD_BEGIN in card


def test_the_card_tolerates_missing_and_odd_statistics():
    odd = {"tasks": "not a list", "per_task": {"x|y": None}, "annotators": {"bob": "?"}}

    card = render_dataset_card(odd, repo_id=REPO, folder=FOLDER, existing=None)

    assert "| x\\|y | n/a | n/a | n/a | n/a | n/a | n/a | n/a | n/a |" in card
    assert "| bob | n/a | n/a | n/a | n/a | n/a |" in card
    assert "None recorded." in card
    assert card.count(CARD_BEGIN) == card.count(CARD_END) == 1


def test_names_cannot_close_the_generated_section():
    sneaky = {"annotators": {"eve <!-- vidcurate:end -->": {"tasks": 1}}}

    card = render_dataset_card(sneaky, repo_id=REPO, folder=FOLDER, existing=None)

    assert card.count(CARD_END) == 1


def test_a_license_can_be_given():
    card = render_dataset_card({}, repo_id=REPO, folder=FOLDER, existing=None, license="cc-by-4.0")

    assert "license: cc-by-4.0" in card.split("---\n")[1]


# --- status ----------------------------------------------------------------------------------


def test_status_lists_every_upload(hub, services, publisher):
    write_export(services, FOLDER, export_files())
    upload(services, publisher)
    hub.fail_next(r"/preupload/main$", 403)
    write_export(services, "export_20261201_0900", export_files("20261201_0900"))
    with pytest.raises(PermanentError):
        upload(services, publisher, folder="export_20261201_0900")

    rows = hub_upload_status(services.documents)

    assert [(row["folder"], row["state"]) for row in rows] == [
        ("export_20261201_0900", "failed"),
        (FOLDER, "done"),
    ]
    assert rows[1]["commit_oid"] == hub.repo(REPO).commits[0].oid
    assert "HTTP 403" in rows[0]["last_error"]
    assert services.documents.count(HUB_UPLOADS) == 2


def test_a_file_added_to_a_published_folder_lands_in_one_more_commit(hub, services, publisher):
    # GIVEN a published export, then the consolidated critiques written into its folder
    write_export(services, FOLDER, export_files())
    upload(services, publisher)
    name = f"all_videos_with_captions_and_critiques_{TS}.json"
    write_export(services, FOLDER, {name: b'[{"video_id": "v1", "critiques": true}]'})

    # WHEN only that file is published, twice (a redelivery)
    first = upload(services, publisher, files=(name,))
    again = upload(services, publisher, files=(name,))

    # THEN one more commit holds just that file (the card only if it changed); no third one
    repo = hub.repo(REPO)
    assert len(repo.commits) == 2
    assert set(repo.commits[1].paths) - {"README.md"} == {f"{FOLDER}/{name}"}
    assert first["outcome"] == "committed"
    assert again["outcome"] == "already_done"
    with pytest.raises(PermanentError, match=r"has no missing\.json"):
        upload(services, publisher, files=("missing.json",))


def test_a_new_version_of_a_published_file_replaces_it_and_a_repeat_does_not(
    hub, services, publisher
):
    # GIVEN the consolidated critiques published as version p1
    write_export(services, FOLDER, export_files())
    name = f"all_videos_with_captions_and_critiques_{TS}.json"
    write_export(services, FOLDER, {name: b'[{"video_id": "v1", "critique": "first"}]'})
    assert upload(services, publisher, files=(name,), version="p1")["outcome"] == "committed"

    # WHEN a later plan rewrites the file and publishes it as p2 (and p2 is redelivered)
    write_export(services, FOLDER, {name: b'[{"video_id": "v1", "critique": "second"}]'})
    second = upload(services, publisher, files=(name,), version="p2")
    again = upload(services, publisher, files=(name,), version="p2")
    # and a p3 whose file did not change (its commit already holds these bytes)
    third = upload(services, publisher, files=(name,), version="p3")

    # THEN the Hub holds the new content, in one more commit
    repo = hub.repo(REPO)
    assert (second["outcome"], again["outcome"], third["outcome"]) == (
        "committed",
        "already_done",
        "found_on_hub",
    )
    assert len(repo.commits) == 2
    assert publisher.read_file(REPO, f"{FOLDER}/{name}") == (
        b'[{"video_id": "v1", "critique": "second"}]'
    )

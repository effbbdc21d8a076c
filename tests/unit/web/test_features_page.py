"""The features page over HTTP, over a real run: four small clips (one of them not a video)
extracted by two tasks of the capability, then consolidated. What the page and its JSON
show equals what the stores hold (the exact count of the results, the failure's record,
the tables); a run whose tasks have not all reported, and one not started, say so; a retry
catching up never shows less than was done; tables and the manifest download; unknown runs
are a 404 page and hostile names a 4xx, never a traceback; nothing before sign-in."""

from __future__ import annotations

import html
import io

import orjson
import pandas as pd
import pytest
import requests
from clips import make_clip
from labelling_support import web_app

from shared.features.runs import Selection, create_run, failure_path
from shared.features.tables import consolidate, run_status
from shared.features.tasks import run_task
from shared.learning import invite
from shared.platform.sharding import TaskSlot

PREFIX = "videos/01_filtered/"
EXTRACTORS = ["technical", "quality"]


def signed_in(base: str, token: str) -> requests.Session:
    session = requests.Session()
    assert session.post(f"{base}/signin", json={"token": token}, timeout=10).ok
    return session


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> list[bytes]:
    folder = tmp_path_factory.mktemp("clips")
    found = []
    for n in range(3):
        path = folder / f"clip{n}.mp4"
        make_clip(path, seconds=1.0, fps=10, size=(96 + 2 * n, 64), gop=10)
        found.append(path.read_bytes())
    return found


def put(services, name: str, data: bytes) -> None:
    services.blobs.write(services.settings.videos_bucket, name, data, content_type="video/mp4")


@pytest.fixture
def site(make_services, clip_bytes):
    services = make_services()
    for n, data in enumerate(clip_bytes):
        put(services, f"{PREFIX}clip{n}.mp4", data)
    put(services, f"{PREFIX}broken.mp4", b"not a video at all")
    run = create_run(services, Selection(prefix=PREFIX), EXTRACTORS, run="20260101-120000-done")
    for index in range(2):
        run_task(services, run.run, TaskSlot(index, 2))
    consolidate(services, run.run)
    with web_app(services) as base:
        yield services, base, run.run, signed_in(base, invite(services.documents, "viv"))


def test_the_json_equals_what_the_stores_hold(site):
    services, base, run, viewer = site

    progress = viewer.get(f"{base}/api/features/{run}", timeout=10).json()

    exact = run_status(services, run)  # one listing of every result and failure
    assert [
        (e["extractor"], e["done"], e["failed"], e["left"]) for e in progress["extractors"]
    ] == [(e.extractor, e.done, e.failed, e.remaining) for e in exact.extractors]
    assert [(e["extractor"], e["done"], e["failed"]) for e in progress["extractors"]] == [
        ("technical", 3, 1),
        ("quality", 3, 1),
    ]
    assert progress["state"] == "finished"
    assert progress["live"] is False
    assert progress["run"]["videos"] == 4
    bucket = services.settings.features_bucket
    stored = orjson.loads(services.blobs.read(bucket, failure_path(f"{PREFIX}broken.mp4")))
    (failure,) = progress["failures"]
    assert failure["object"] == f"{PREFIX}broken.mp4"
    assert failure["reason"] == stored["reason"] == exact.failures[f"{PREFIX}broken.mp4"]
    assert "not a readable video file" in failure["reason"]
    assert progress["failures_complete"] is True
    (group,) = progress["task_sets"]
    assert (group["tasks"], group["seen"], group["state"]) == (2, 4, "finished")
    assert [(t["task"], t["videos"], t["seen"], t["state"]) for t in group["rows"]] == [
        (0, 2, 2, "finished"),
        (1, 2, 2, "finished"),
    ]
    assert sum(t["computed"] for t in group["rows"]) == 3
    assert sum(t["failed"] for t in group["rows"]) == 1
    assert [(t["extractor"], t["rows"]) for t in progress["tables"]] == [
        ("technical", 3),
        ("quality", 3),
    ]

    runs = viewer.get(f"{base}/api/features", timeout=10).json()["runs"]
    assert [(r["run"], r["videos"], r["extractors"]) for r in runs] == [(run, 4, EXTRACTORS)]


def test_the_page_shows_the_counts_the_failure_and_the_downloads(site):
    _services, base, run, viewer = site

    listing = viewer.get(f"{base}/features", timeout=10)
    assert listing.status_code == 200
    assert f'href="/features/{run}"' in listing.text
    assert 'href="/features" aria-current="page"' in listing.text

    page = viewer.get(f"{base}/features/{run}", timeout=10)
    assert page.status_code == 200
    text = page.text
    assert 'href="/features" aria-current="page"' in text
    for name in EXTRACTORS:
        assert f'<tr data-extractor="{name}">' in text
    row = text.split('<tr data-extractor="technical">', 1)[1].split("</tr>", 1)[0]
    assert '<td class="num" data-field="done">3</td>' in row
    assert '<td class="num" data-field="failed">1</td>' in row
    assert '<td class="num" data-field="left">0</td>' in row
    reason = viewer.get(f"{base}/api/features/{run}", timeout=10).json()["failures"][0]["reason"]
    assert html.escape(reason, quote=False) in text
    for task in (0, 1):  # task i of n
        assert f'<tr data-task="{task}"><th scope="row">{task} of 2</th>' in text
    assert "/static/features.js" not in text  # a finished run does not refresh itself

    table = viewer.get(f"{base}/features/{run}/tables/quality.parquet", timeout=10)
    assert table.status_code == 200
    assert f"vidcurate-features-{run}-quality.parquet" in table.headers["content-disposition"]
    frame = pd.read_parquet(io.BytesIO(table.content))
    assert sorted(frame["video_id"]) == ["clip0", "clip1", "clip2"]
    assert f'href="/features/{run}/tables/quality.parquet"' in text
    manifest = viewer.get(f"{base}/features/{run}/manifest.jsonl", timeout=10)
    assert manifest.status_code == 200
    assert len(manifest.text.splitlines()) == 4


def test_runs_not_finished_say_where_they_stand(site, clip_bytes):
    services, base, _run, viewer = site
    # Task 0 of 2 has gone through its slice, task 1 has not started yet.
    half = create_run(services, Selection(prefix=PREFIX), ["technical"], run="20260102-120000-half")
    run_task(services, half.run, TaskSlot(0, 2))
    fresh = create_run(services, Selection(prefix=PREFIX), ["technical"], run="20260103-120000-new")

    progress = viewer.get(f"{base}/api/features/{half.run}", timeout=10).json()
    assert progress["state"] == "waiting"
    assert progress["live"] is True
    (technical,) = progress["extractors"]
    assert technical["done"] + technical["failed"] == 2  # task 0's slice
    assert technical["left"] == 2
    rows = progress["task_sets"][0]["rows"]
    assert [(t["state"], t["seen"]) for t in rows] == [("finished", 2), ("not started", 0)]
    page = viewer.get(f"{base}/features/{half.run}", timeout=10).text
    assert "/static/features.js" in page  # refreshes itself while the run goes
    assert viewer.get(f"{base}/static/features.js", timeout=10).status_code == 200

    new = viewer.get(f"{base}/api/features/{fresh.run}", timeout=10).json()
    assert new["state"] == "not started"
    assert [e["done"] for e in new["extractors"]] == [None]
    assert "no task has reported yet" in viewer.get(f"{base}/features/{fresh.run}").text
    assert viewer.get(f"{base}/features/{fresh.run}/tables/technical.parquet").status_code == 404

    runs = viewer.get(f"{base}/api/features", timeout=10).json()["runs"]
    assert [r["run"] for r in runs] == [fresh.run, half.run, _run]  # latest first


def test_a_retry_catching_up_never_shows_less(site):
    services, base, run, viewer = site
    seen: list[dict] = []

    def look(_outcome) -> None:
        progress = viewer.get(f"{base}/api/features/{run}", timeout=10).json()
        seen.append(progress["task_sets"][0]["rows"][0])

    run_task(services, run, TaskSlot(0, 2), on_video=look)  # task 0 again: all already done

    assert seen
    assert all(row["seen"] == 2 and row["state"] == "running" for row in seen)
    final = viewer.get(f"{base}/api/features/{run}", timeout=10).json()
    assert final["task_sets"][0]["rows"][0]["state"] == "finished"
    assert [(e["done"], e["failed"]) for e in final["extractors"]] == [(3, 1), (3, 1)]


def test_no_run_yet(make_services):
    services = make_services()
    with web_app(services) as base:
        viewer = signed_in(base, invite(services.documents, "viv"))
        assert viewer.get(f"{base}/api/features", timeout=10).json() == {"runs": []}
        page = viewer.get(f"{base}/features", timeout=10)
        assert page.status_code == 200
        assert "No feature run yet" in page.text


def test_unknown_runs_are_a_page_saying_so(site):
    _services, base, _run, viewer = site

    page = viewer.get(f"{base}/features/20990101-000000-none", timeout=10)
    assert page.status_code == 404
    assert "no feature run" in page.text
    assert page.headers["content-type"].startswith("text/html")
    answer = viewer.get(f"{base}/api/features/20990101-000000-none", timeout=10)
    assert answer.status_code == 404
    assert "no feature run" in answer.json()["error"]


@pytest.mark.parametrize(
    "path",
    [
        "/features/..%2F..%2Fetc%2Fpasswd",
        "/features/%2e%2e",
        "/features/a%00b",
        "/features/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        "/features/" + "r" * 500,
        "/api/features/runs%2F..%2F..",
        "/api/features/%20",
        "/features/20260101-120000-done/tables/colour.parquet",
        "/features/20260101-120000-done/tables/..%2Frun.parquet",
        "/features/20260101-120000-done/tables/QUALITY.parquet",
        "/features/.hidden/manifest.jsonl",
    ],
)
def test_hostile_names_are_refused_in_one_sentence(site, path):
    _services, base, _run, viewer = site

    answer = viewer.get(f"{base}{path}", timeout=10)

    assert 400 <= answer.status_code < 500, path
    assert "Traceback" not in answer.text
    assert "<script>alert" not in answer.text


def test_nothing_before_sign_in(site):
    _services, base, run, _viewer = site
    for path in ("/api/features", f"/api/features/{run}"):
        assert requests.get(f"{base}{path}", timeout=10).status_code == 401
    for path in (
        "/features",
        f"/features/{run}",
        f"/features/{run}/tables/technical.parquet",
        f"/features/{run}/manifest.jsonl",
    ):
        answer = requests.get(f"{base}{path}", timeout=10, allow_redirects=False)
        assert (answer.status_code, answer.headers["location"]) == (303, "/signin"), path

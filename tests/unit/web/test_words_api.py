"""The word↔video API over HTTP (uvicorn on a free port, real requests): the admin batch
upload and its auth, a clip's bytes with the caching header, ETag and byte ranges, a word's
clips by relevance, a bundle's coverage, errors as one JSON sentence; then schemathesis
fuzzes the /v3 routes from the app's own OpenAPI document and no answer is a 5xx."""

from __future__ import annotations

import base64
import json
from urllib.parse import quote

import hypothesis
import pytest
import requests
import schemathesis
from clips import make_clip
from labelling_support import web_app

from shared.discovery.bundles import load_bundles
from shared.discovery.store import register_words

TOKEN = "admin-token-for-tests-5f2a"
WORDS = ["abandon", "give up", "o'clock", "café", "ability"]


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("api") / "c.mp4"
    make_clip(path, seconds=1.0, fps=10, size=(160, 96))
    return path.read_bytes()


def video(data: bytes, name: str, mappings: list[tuple[str, float]]) -> dict:
    return {
        "slug": name,
        "name": name,
        "format": "mp4",
        "video_base64": base64.b64encode(data).decode(),
        "size": len(data),
        "transcript": "a line",
        "word_mappings": [{"word": w, "relevance_score": s} for w, s in mappings],
    }


@pytest.fixture
def api(make_services, tmp_path):
    services = make_services(discovery_api_tokens=[TOKEN], max_upload_batch_bytes=2 << 20)
    register_words(services.documents, [(w, "en") for w in WORDS])
    bundles = tmp_path / "bundles.csv"
    bundles.write_text("bundle,word\nTOEFL Beginner,abandon\nTOEFL Beginner,ability\n")
    load_bundles(services.documents, bundles)
    with web_app(services) as url:
        yield url, services


def upload(url: str, body: dict, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.post(
        f"{url}/v3/admin/videos/batch-upload", json=body, headers=headers, timeout=30
    )


def test_the_batch_upload_contract_over_http(api, clip_bytes):
    url, _ = api
    body = {
        "source_id": "clipcafe",
        "videos": [
            video(clip_bytes, "first", [("abandon", 0.7), ("give up", 0.9), ("zyzzyva", 0.9)]),
            video(b"not a video at all", "junk", [("abandon", 0.9)]),
        ],
    }
    first = upload(url, body)
    assert first.status_code == 200, first.text
    created, junk = first.json()["results"]
    assert (created["status"], created["mappings_created"], created["mappings_skipped"]) == (
        "created", 2, 0,
    )  # fmt: skip
    assert [r["word"] for r in created["mappings_refused"]] == ["zyzzyva"]
    assert junk["status"] == "failed"
    assert "not a video" in junk["error"]
    again = upload(url, body).json()["results"][0]
    assert (again["status"], again["mappings_created"], again["mappings_skipped"]) == (
        "existed", 0, 2,
    )  # fmt: skip
    assert again["video_id"] == created["video_id"]


def test_admin_calls_need_an_admin_token(api, clip_bytes):
    url, services = api
    body = {"source_id": "s", "videos": [video(clip_bytes, "x", [])]}
    for token in (None, "wrong-token"):
        refused = upload(url, body, token)
        assert refused.status_code == 401
        assert refused.headers["WWW-Authenticate"].startswith("Bearer")
        assert "error" in refused.json()
    assert services.documents.count("videos") == 0
    bad = upload(url, {"videos": []})
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("source_id")
    big = requests.post(
        f"{url}/v3/admin/videos/batch-upload",
        data=b"{" + b" " * (3 << 20) + b"}",
        headers={"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"},
        timeout=30,
    )
    assert big.status_code == 413
    assert "over the" in big.json()["error"]


def test_a_clip_is_served_cacheable_with_etag_and_ranges(api, clip_bytes):
    url, _ = api
    result = upload(url, {"source_id": "s", "videos": [video(clip_bytes, "v", [("abandon", 0.8)])]})
    clip = f"{url}/v3/videos/{result.json()['results'][0]['video_id']}"
    size = len(clip_bytes)

    whole = requests.get(clip, timeout=30)
    assert whole.status_code == 200
    assert whole.content == clip_bytes
    assert whole.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert whole.headers["Content-Type"] == "video/mp4"
    assert whole.headers["Accept-Ranges"] == "bytes"
    assert int(whole.headers["Content-Length"]) == size
    etag = whole.headers["ETag"]

    assert requests.get(clip, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    ranges = [
        ("bytes=0-99", 0, 99),
        ("bytes=100-", 100, size - 1),
        ("bytes=-50", size - 50, size - 1),
        (f"bytes=10-{size * 2}", 10, size - 1),
    ]
    for asked, start, end in ranges:
        part = requests.get(clip, headers={"Range": asked}, timeout=30)
        assert part.status_code == 206, asked
        assert part.headers["Content-Range"] == f"bytes {start}-{end}/{size}"
        assert part.content == clip_bytes[start : end + 1]
    past = requests.get(clip, headers={"Range": f"bytes={size}-"}, timeout=30)
    assert past.status_code == 416
    assert past.headers["Content-Range"] == f"bytes */{size}"
    stale = requests.get(clip, headers={"Range": "bytes=0-9", "If-Range": '"other"'}, timeout=30)
    assert stale.status_code == 200
    assert stale.content == clip_bytes
    missing = requests.get(f"{url}/v3/videos/vnothing", timeout=30)
    assert missing.status_code == 404
    assert missing.json() == {"error": "no video 'vnothing'"}


def test_a_words_clips_by_relevance_and_a_bundles_coverage(api, clip_bytes):
    url, _ = api
    body = {
        "source_id": "s",
        "videos": [
            video(clip_bytes, "low", [("abandon", 0.61), ("café", 0.8)]),
            video(clip_bytes, "high", [("abandon", 0.95), ("o'clock", 0.7)]),
            video(clip_bytes, "mid", [("abandon", 0.8), ("give up", 0.66)]),
        ],
    }
    assert upload(url, body).status_code == 200
    found = requests.get(f"{url}/v3/words/abandon/videos", timeout=30).json()
    assert [(v["name"], v["relevance_score"]) for v in found["videos"]] == [
        ("high", 0.95), ("mid", 0.8), ("low", 0.61),
    ]  # fmt: skip
    assert found["videos"][0]["url"].startswith("/v3/videos/")
    two = requests.get(f"{url}/v3/words/abandon/videos", params={"limit": 2}, timeout=30).json()
    assert len(two["videos"]) == 2
    for word, name in (("give up", "mid"), ("o\u2019clock", "high"), ("CAFÉ", "low")):
        got = requests.get(f"{url}/v3/words/{quote(word)}/videos", timeout=30)
        assert got.status_code == 200, (word, got.text)
        assert [v["name"] for v in got.json()["videos"]] == [name]
    unknown = requests.get(f"{url}/v3/words/zyzzyva/videos", timeout=30)
    assert unknown.status_code == 404
    assert "not a word of the 'en' vocabulary" in unknown.json()["error"]
    assert (
        requests.get(f"{url}/v3/words/abandon/videos?language=xx-!!", timeout=30).status_code == 422
    )
    assert requests.get(f"{url}/v3/words/abandon/videos?limit=0", timeout=30).status_code == 422

    coverage = requests.get(f"{url}/v3/bundles/toefl-beginner/coverage", timeout=30).json()
    assert (coverage["words"], coverage["covered"], coverage["uncovered"]) == (2, 1, ["ability"])
    assert coverage["mappings"] == 3
    assert coverage["score_distribution"][9] == 1  # 0.95
    assert requests.get(f"{url}/v3/bundles/nope/coverage", timeout=30).status_code == 404


def test_the_openapi_document_describes_the_v3_routes(api):
    url, _ = api
    document = requests.get(f"{url}/openapi.json", timeout=30).json()
    paths = set(document["paths"])
    assert {
        "/v3/admin/videos/batch-upload",
        "/v3/videos/{video_id}",
        "/v3/words/{word}/videos",
        "/v3/bundles/{bundle}/coverage",
    } <= paths
    json.dumps(document)


def test_fuzzed_requests_never_get_a_server_error(api, clip_bytes):
    url, _ = api
    upload(url, {"source_id": "s", "videos": [video(clip_bytes, "seed", [("abandon", 0.9)])]})
    schema = schemathesis.openapi.from_url(f"{url}/openapi.json").include(path_regex="^/v3/")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) == 4
    seen: list[int] = []
    for operation in operations:

        @hypothesis.settings(
            max_examples=40,
            deadline=None,
            suppress_health_check=list(hypothesis.HealthCheck),
            database=None,
        )
        @hypothesis.given(case=operation.as_strategy())
        def check(case) -> None:
            response = case.call(base_url=url, timeout=30)
            seen.append(response.status_code)
            assert response.status_code < 500, (case.method, case.formatted_path, response.text)

        check()
    assert seen
    assert all(status < 500 for status in seen)

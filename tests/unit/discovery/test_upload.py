"""The batch-upload contract on the local stores: created then existed, mappings created then
skipped, and every bad input a per-video failure with nothing written for it."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from clips import make_clip

from shared.discovery.store import (
    BUNDLES,
    VIDEOS,
    WORD_TO_VIDEO,
    WORDS,
    bundle_id,
    register_words,
    video_id,
)
from shared.discovery.upload import BatchUpload, store_videos


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("clips") / "c.mp4"
    make_clip(path, seconds=1.0, fps=10, size=(160, 96), audio=True)
    return path.read_bytes()


def video(data: bytes, name: str = "Abandon ship", **extra) -> dict:
    body = {
        "slug": name.lower().replace(" ", "-"),
        "name": name,
        "format": "mp4",
        "video_base64": base64.b64encode(data).decode(),
        "size": len(data),
        "transcript": "Abandon ship! We have the ability.",
        "audio_transcript": "abandon ship we have the ability",
        "verified": True,
        "whisper_metadata": {"language": "english"},
        "metadata": {"movie_title": "Titanic"},
        "word_mappings": [
            {
                "word": "abandon",
                "learning_language": "en",
                "relevance_score": 0.9,
                "transcript_source": "audio",
                "timestamp": 0.2,
            },
            {"word": "Ability", "learning_language": "en", "relevance_score": 0.7},
        ],
    }
    return body | extra


def test_created_then_existed_with_mappings_created_then_skipped(make_services, clip_bytes):
    services = make_services()
    register_words(services.documents, [("abandon", "en"), ("ability", "en")])
    upload = BatchUpload.model_validate({"source_id": "clipcafe", "videos": [video(clip_bytes)]})

    first = store_videos(services, upload).results[0]
    again = store_videos(services, upload).results[0]

    assert (first.status, first.mappings_created, first.mappings_skipped) == ("created", 2, 0)
    assert (again.status, again.mappings_created, again.mappings_skipped) == ("existed", 0, 2)
    assert first.video_id == again.video_id == video_id("Abandon ship", "mp4")
    doc = services.documents.get(f"{VIDEOS}/{first.video_id}").data
    assert doc["size"] == len(clip_bytes)
    assert doc["verified"] is True
    assert "video_base64" not in doc  # the bytes are in the bucket, not the document
    stored = services.blobs.read(services.settings.discovery_bucket, doc["object"])
    assert stored == clip_bytes
    mappings = list(services.documents.iter_collection(WORD_TO_VIDEO))
    assert sorted((m.data["word"], m.data["relevance_score"]) for m in mappings) == [
        ("abandon", 0.9),
        ("ability", 0.7),
    ]
    abandon = services.documents.get(f"{WORDS}/en:abandon").data
    assert (abandon["video_count"], abandon["best_score"], abandon["score_bins"][9]) == (1, 0.9, 1)


def test_a_mapping_to_an_unknown_word_is_refused_and_the_rest_stored(make_services, clip_bytes):
    services = make_services()
    register_words(services.documents, [("abandon", "en")])
    body = video(clip_bytes)
    result = store_videos(
        services, BatchUpload.model_validate({"source_id": "s", "videos": [body]})
    ).results[0]
    assert (result.status, result.mappings_created) == ("created", 1)
    assert [r.word for r in result.mappings_refused] == ["Ability"]
    assert "unknown word" in result.mappings_refused[0].reason
    assert services.documents.get(f"{WORDS}/en:ability") is None


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"video_base64": "not base64!!"}, "not base64"),
        ({"size": 12}, "size says 12 bytes but the body holds"),
        ({"format": "exe"}, "format 'exe' is not one of"),
        (
            {"video_base64": base64.b64encode(b"just some text, no video").decode(), "size": 24},
            "not a video",
        ),
        ({"size": 10**9}, "over the"),
    ],
)
def test_bad_videos_fail_alone_and_write_nothing(make_services, clip_bytes, change, reason):
    services = make_services(max_upload_bytes=1 << 20)
    register_words(services.documents, [("abandon", "en"), ("ability", "en")])
    bad = video(clip_bytes, name="Bad one") | change
    good = video(clip_bytes, name="Good one")
    results = store_videos(
        services, BatchUpload.model_validate({"source_id": "s", "videos": [bad, good]})
    ).results
    assert results[0].status == "failed"
    assert reason in (results[0].error or "")
    assert results[1].status == "created"
    assert services.documents.get(f"{VIDEOS}/{video_id('Bad one', 'mp4')}") is None
    assert [m.data["video_id"] for m in services.documents.iter_collection(WORD_TO_VIDEO)] == [
        results[1].video_id
    ] * 2
    bucket = Path(services.settings.home) / "buckets" / services.settings.discovery_bucket
    assert len(list(bucket.rglob("*.mp4"))) == 1


def test_bundle_names_are_ids():
    assert bundle_id("TOEFL Intermediate") == "toefl-intermediate"
    assert bundle_id("  Business English! ") == "business-english"
    with pytest.raises(ValueError, match="no letter"):
        bundle_id("!!")
    assert BUNDLES == "bundles"

"""A discovery run end to end on the local runtime: words from a file, a folder source, the
offline models; the four stages through their deployed entry points; what is stored, what
is refused and why; a second run that asks no model anything."""

from __future__ import annotations

from pathlib import Path

import pytest
from discovery_support import CLIPS, dead_letters, deliver, make_clip_folder

from shared.core.errors import BusyError
from shared.core.words import present_words
from shared.discovery.messages import CandidateClip, Hit, Mapped
from shared.discovery.runs import (
    RUNS,
    DiscoveryRequest,
    WordsFileError,
    read_words,
    start_run,
)
from shared.discovery.stages import fetch_clip, review_clip
from shared.discovery.store import VIDEOS, WORD_TO_VIDEO, WORDS, videos_for_word
from shared.llm.ledger import MODEL_CALLS


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory) -> Path:
    return make_clip_folder(tmp_path_factory.mktemp("source") / "clips")


transcripts = {slug: transcript for _, slug, transcript, _ in CLIPS}


def run_words(services, folder: Path, words: list[str], **extra):
    request = DiscoveryRequest(words=tuple(words), source=str(folder), **extra)
    plan = start_run(services, request, rate=None)
    stats = deliver(services)
    return plan, stats


def test_a_run_stores_each_clip_once_with_its_checked_words(make_services, clip_folder):
    services = make_services()
    plan, _stats = run_words(services, clip_folder, ["abandon", "ability", "brave"])
    assert dead_letters(services) == 0
    documents = services.documents

    clips = {d.data["slug"]: d.data for d in documents.iter_collection(f"{RUNS}/{plan.run}/clips")}
    # every clip that says a listed word was claimed once, by the first word that found it;
    # the one that says none is never found (the source searches transcripts)
    assert set(clips) == {"abandon-ship_01", "never-abandon_02", "ability-test_01", "be-brave_01"}
    assert clips["never-abandon_02"]["word"] in ("abandon", "ability")
    stored = {slug for slug, c in clips.items() if c["status"] == "stored"}
    assert stored == {"abandon-ship_01", "never-abandon_02", "ability-test_01", "be-brave_01"}
    videos = list(documents.iter_collection(VIDEOS))
    assert sorted(v.data["slug"] for v in videos) == sorted(stored)
    # each listed word a stored clip says was either stored as a mapping or refused with
    # a reason (the offline candidate scores run from 0.5 to 0.99; under 0.6 is refused)
    mappings = [m.data for m in documents.iter_collection(WORD_TO_VIDEO)]
    by_video: dict[str, set[str]] = {}
    for mapping in mappings:
        by_video.setdefault(mapping["video_id"], set()).add(mapping["word"])
    for slug, clip in clips.items():
        said = set(present_words(["abandon", "ability", "brave"], transcripts[slug]))
        kept = by_video.get(clip["video_id"], set())
        refused = {r["word"] for r in clip.get("refused") or []}
        assert kept, slug  # stored clips keep at least one word
        assert kept | refused == said, slug
        assert not kept & refused, slug
        assert {f["word"] for f in clip["final"]} == kept
    for word in ("abandon", "ability", "brave"):
        found = [m.data for m in videos_for_word(documents, word, "en", 10)]
        scores = [m["relevance_score"] for m in found]
        assert scores == sorted(scores, reverse=True)
        assert all(score >= 0.6 for score in scores)
        assert documents.get(f"{WORDS}/en:{word}").data["video_count"] == len(found)
    assert all(m["transcript_source"] == "audio" for m in mappings)  # heard in the subtitles
    assert all(m["timestamp"] is not None for m in mappings)
    assert {m["source_id"] for m in mappings} == {"folder-" + mappings[0]["source_id"][7:]}
    # the offline hearing is not verification
    assert not any(v.data["verified"] for v in videos)
    # the downloaded copies are gone; the stored clips are in videos/
    bucket = Path(services.settings.home) / "buckets" / services.settings.discovery_bucket
    assert not list(bucket.glob("scratch/**/*.mp4"))
    assert len(list(bucket.glob("videos/*.mp4"))) == 4
    words = {d.id: d.data for d in documents.iter_collection(f"{RUNS}/{plan.run}/words")}
    assert {w["status"] for w in words.values()} == {"searched"}


def test_a_second_run_asks_no_model_and_stores_nothing_twice(make_services, clip_folder):
    services = make_services()
    run_words(services, clip_folder, ["abandon", "ability", "brave"])
    calls = services.documents.count(MODEL_CALLS)
    mappings = services.documents.count(WORD_TO_VIDEO)
    plan, _ = run_words(services, clip_folder, ["brave", "ability", "abandon"])
    assert dead_letters(services) == 0
    assert services.documents.count(MODEL_CALLS) == calls  # every answer came from a cache
    assert services.documents.count(WORD_TO_VIDEO) == mappings
    assert services.documents.count(VIDEOS) == 4
    statuses = [
        d.data["status"] for d in services.documents.iter_collection(f"{RUNS}/{plan.run}/clips")
    ]
    assert statuses.count("stored") == 4


def test_limits_of_a_run(make_services, clip_folder):
    services = make_services()
    # at most one clip per word, at most one word per clip, only strong mappings
    plan, _ = run_words(services, clip_folder, ["abandon", "ability"], max_videos=1,
                        max_mappings=1, min_score=0.9)  # fmt: skip
    for word in ("abandon", "ability"):
        assert len(videos_for_word(services.documents, word, "en", 10)) <= 1
    for mapping in services.documents.iter_collection(WORD_TO_VIDEO):
        assert mapping.data["relevance_score"] >= 0.9
    clips = list(services.documents.iter_collection(f"{RUNS}/{plan.run}/clips"))
    assert len(clips) <= 2


def test_words_files(tmp_path: Path):
    good = tmp_path / "words.csv"
    good.write_text(
        "id,Word,level\n1,Abandon,B2\n2,give up,B1\n3,o\u2019clock,A2\n"
        "4,ABANDON,B2\n\n5,caf\u00e9,A1\n"
    )
    assert read_words(good) == ["abandon", "give up", "o'clock", "café"]
    plain = tmp_path / "plain.csv"
    plain.write_text("brave\nability\n")
    assert read_words(plain) == ["brave", "ability"]
    for name, content, message in [
        ("empty.csv", "", "no words in it"),
        ("blank.csv", "word\n1\n\n", None),
        ("punct.csv", "word\n...\n", "line 2: '...' is not a word"),
        ("holes.csv", "id,word\n1,\n", "line 2 has no word"),
    ]:
        path = tmp_path / name
        path.write_text(content)
        if message is None:
            assert read_words(path) == ["1"]
            continue
        with pytest.raises(WordsFileError, match=message):
            read_words(path)
    with pytest.raises(WordsFileError, match="no such file"):
        read_words(tmp_path / "missing.csv")
    latin = tmp_path / "latin1.csv"
    latin.write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(WordsFileError, match="not UTF-8"):
        read_words(latin)


def test_a_stage_that_overtakes_the_previous_ones_record_waits(make_services, clip_folder):
    # GIVEN a clip the score stage sent on but has not recorded yet (its status still
    # "found"), as when the fetch message is delivered in between
    services = make_services()
    plan = start_run(
        services, DiscoveryRequest(words=("brave",), source=str(clip_folder)), rate=None
    )
    deliver(services)
    clip = next(services.documents.iter_collection(f"{RUNS}/{plan.run}/clips"))
    hit = Hit(clip_id=clip.data["clip_id"], slug=clip.data["slug"], title="t", transcript="brave")
    job = CandidateClip(run=plan.run, word="brave", hit=hit, searched_at=0.0,
                        mapped=(Mapped(word="brave", relevance_score=0.9),))  # fmt: skip
    for early, stage in (("found", fetch_clip), ("scored", review_clip)):
        services.documents.update(clip.path, {"status": early})
        # THEN the stage is retried later, not taken for done (the clip is not lost)
        with pytest.raises(BusyError, match="previous stage has not recorded"):
            stage(services, job)
    services.documents.update(clip.path, {"status": "stored"})
    assert fetch_clip(services, job) == "already_done"


def test_a_changed_model_redoes_only_its_stage(make_services, clip_folder):
    def calls(services) -> dict[str, int]:
        counts: dict[str, int] = {}
        for call in services.documents.iter_collection(MODEL_CALLS):
            counts[call.data["prompt_name"]] = counts.get(call.data["prompt_name"], 0) + 1
        return counts

    first = make_services()
    run_words(first, clip_folder, ["abandon", "ability", "brave"])
    before = calls(first)
    # WHEN the final model changes and the same words run again
    second = make_services(final_model="gpt-4o")
    run_words(second, clip_folder, ["abandon", "ability", "brave"])
    after = calls(second)
    # THEN only the final analysis is asked again, once per clip; nothing else is paid again
    assert dead_letters(second) == 0
    assert after["clip_candidate_analysis"] == before["clip_candidate_analysis"]
    assert after["transcription"] == before["transcription"]
    assert after["clip_final_analysis"] == 2 * before["clip_final_analysis"]

"""Discovery through the real clients against the fakes (ClipCafe's API, the OpenAI SDK on
the fake model server): words with spaces, apostrophes and accents end to end; a search with
no hit; a hit whose transcript does not say the word; a model that keeps answering malformed
JSON, re-asked then failed with the reason; and a clip that is not a video."""

from __future__ import annotations

from pathlib import Path

import pytest
from clipcafefake import FakeClip, FakeClipCafe, run_fake_clipcafe
from clips import make_clip
from discovery_support import deliver, live_settings, scripted_models
from llmfake import Completion, FakeLLM, run_fake_llm

from shared.bootstrap import build_context
from shared.discovery.runs import RUNS, DiscoveryRequest, start_run
from shared.discovery.status import run_status
from shared.discovery.store import videos_for_word


@pytest.fixture(scope="module")
def clip_bytes(tmp_path_factory) -> bytes:
    path = tmp_path_factory.mktemp("live") / "c.mp4"
    make_clip(path, seconds=1.0, fps=10, size=(160, 96), audio=True)
    return path.read_bytes()


def run(tmp_path: Path, clips: list[FakeClip], words: list[str], responder=scripted_models):
    with (
        run_fake_clipcafe(FakeClipCafe(clips)) as cafe,
        run_fake_llm(FakeLLM(responder=responder)) as llm,
    ):
        services = build_context(live_settings(tmp_path / "home", cafe, llm, model_max_retries=2))
        try:
            plan = start_run(services, DiscoveryRequest(words=tuple(words)), rate=6000)
            deliver(services)
            status = run_status(services, plan.run)
            clips_done = {
                d.data["slug"]: d.data
                for d in services.documents.iter_collection(f"{RUNS}/{plan.run}/clips")
            }
            found = {w: videos_for_word(services.documents, w, "en", 10) for w in words}
        finally:
            services.close()
        return status, clips_done, found, llm


def test_awkward_words_and_refusals_end_to_end(tmp_path, clip_bytes):
    clips = [
        FakeClip("1", "give-up", "Never", "Never give up, never!", 3.0, 900, clip_bytes),
        FakeClip("2", "oclock", "Five", "It is five o'clock already.", 3.0, 800, clip_bytes),
        FakeClip("3", "cafe", "Cafe", "Un café, s'il vous plaît.", 3.0, 700, clip_bytes),
        # found for "café" by a catalogue that ignores accents, but never says it
        FakeClip("4", "cafe-plain", "Plain", "Just a cafe nearby.", 3.0, 600, clip_bytes),
        FakeClip("5", "not-a-video", "Broken", "Give up the ship.", 3.0, 500, b"no video"),
    ]
    status, clips_done, found, llm = run(
        tmp_path, clips, ["give up", "o\u2019clock", "café", "zyzzyva"]
    )
    assert [v.data["word"] for v in found["give up"]] == ["give up"]
    assert len(found["o\u2019clock"]) == 1
    assert len(found["café"]) == 1
    assert found["zyzzyva"] == []
    assert status.no_clips == 1  # zyzzyva: the search found nothing
    assert status.done == 4
    assert clips_done["give-up"]["status"] == "stored"
    assert clips_done["not-a-video"]["status"] == "failed"
    assert clips_done["not-a-video"]["error"].startswith("clip 5: not a readable media file")
    # the fake catalogue matched "cafe" for "café" (whole words, exact letters): the clip
    # that does not say "café" is never found, so nothing about it was paid for
    assert "cafe-plain" not in clips_done
    assert len(llm.transcriptions) == 3


def test_malformed_answers_are_asked_again_then_fail_with_the_reason(tmp_path, clip_bytes):
    def malformed(provider, model, body):
        if body["response_format"]["json_schema"]["name"] == "CandidateAnswer":
            return Completion(content="{not json")
        return scripted_models(provider, model, body)

    clips = [FakeClip("1", "brave", "Brave", "Be brave.", 3.0, 900, clip_bytes)]
    status, clips_done, _, llm = run(tmp_path, clips, ["brave"], responder=malformed)
    assert clips_done["brave"]["status"] == "failed"
    assert "candidate analysis" in clips_done["brave"]["error"]
    assert "MalformedReplyError after 3 attempt(s)" in clips_done["brave"]["error"]
    assert len(llm.calls(model="gpt-4o-mini")) == 3  # asked again, within the retry budget
    assert status.done == 1  # the word is done: its one clip failed, with the reason

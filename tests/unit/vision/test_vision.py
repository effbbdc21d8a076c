"""Frame analysis with a vision model: through the real SDKs against the local fake server
(the pictures really sent), each frame described once, costs in the ledger, a budget cap."""

from __future__ import annotations

import base64
import io
import json
import re

import pytest
from clips import frame_number, make_clip
from llmfake import (
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    llm_server_fixture,  # noqa: F401 (fixture llm_server)
)
from PIL import Image

from shared.bootstrap import FUNCTIONS_DIR, build_context, build_runtime, use_context
from shared.config import Settings
from shared.llm.ledger import MODEL_CALLS, summarize_costs
from shared.media.adding import add_clips
from shared.platform.runtime.dispatch import load_entry_point
from shared.vision.messages import AnalysisRequest
from shared.vision.plan import image_tokens, plan_analysis
from shared.vision.store import ANALYSES, analysis_report

DATA_URL = re.compile(r"data:image/jpeg;base64,([A-Za-z0-9+/=]+)")


@pytest.fixture
def services(tmp_path, llm_server):
    settings = Settings(
        home=tmp_path / "home",
        log_level="CRITICAL",
        min_backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        openai_api_key=DEFAULT_OPENAI_KEY,
        openai_base_url=llm_server.openai_base_url,
        gemini_api_key=DEFAULT_GEMINI_KEY,
        gemini_base_url=llm_server.gemini_base_url,
        model_max_retries=0,
    )
    built = build_context(settings)
    use_context(built)
    clips = []
    for index, seconds in enumerate((25, 32, 5)):
        path = tmp_path / f"clip{index}.mp4"
        make_clip(path, seconds=seconds, fps=10)
        clips.append(path)
    (tmp_path / "clip1.json").write_text(json.dumps({"factory_id": "f9", "worker_id": 3}))
    add_clips(built, clips, prefix="ego")
    run(built, "extract_frames")  # 2 + 3 + 1 frames (at 5, 15, 25 s; the 5 s clip: 2.5 s)
    llm_server.responder = lambda provider, model, body: {"description": "a worker at a bench"}
    yield built
    use_context(None)
    built.close()


def all_analyses(services):
    """Every analysis, by clip (through the report, which reads them by id)."""
    paths = [f"{ANALYSES}/{doc.id}" for doc in services.documents.iter_collection(ANALYSES)]
    return analysis_report(services, paths)


def run(services, *names):
    handlers = {name: load_entry_point(FUNCTIONS_DIR, name) for name in names}
    return build_runtime(services, handlers=handlers).run_until_idle(timeout=300)


def analyze(services, **flags):
    plan = plan_analysis(services, AnalysisRequest(**flags))
    run(services, "analyze_frames")
    return plan


def sent_pictures(llm_server):
    """The JPEGs the fake server received, in order."""
    pictures = []
    for request in llm_server.calls():
        text = json.dumps(request.body)
        for encoded in DATA_URL.findall(text):
            pictures.append(Image.open(io.BytesIO(base64.b64decode(encoded))))
        for part in re.findall(r'"data": "([A-Za-z0-9+/=_-]{100,})"', text):  # Gemini: urlsafe
            pictures.append(Image.open(io.BytesIO(base64.urlsafe_b64decode(part))))
    return pictures


def test_every_frame_is_sent_as_a_picture_and_described_once(services, llm_server):
    plan = analyze(services)

    assert (plan.clips, plan.frames, plan.model, plan.provider) == (
        3,
        6,
        "gpt-4o-mini",
        "openai-compatible",
    )
    pictures = sent_pictures(llm_server)
    assert len(pictures) == 6  # one image part per frame, really sent
    assert sorted(frame_number(p) for p in pictures) == sorted([50, 150, 50, 150, 250, 25])
    rows = all_analyses(services)
    assert [r["status"] for r in rows] == ["done"] * 3
    tagged = next(r for r in rows if r["clip"] == "ego/clip1.mp4")
    assert tagged["metadata"] == {"factory_id": "f9", "worker_id": 3}  # the sidecar's types
    assert [f["timestamp"] for f in tagged["frames"]] == [5.0, 15.0, 25.0]
    for frame in tagged["frames"]:
        assert frame["description"] == "a worker at a bench"
        assert frame["input_tokens"] > 0
        assert frame["cost_usd"] > 0  # priced from the table
    # the ledger counts the vision calls under their own kind
    costs = summarize_costs(services.documents)
    assert costs.by_kind["vision"]["calls"] == 6
    assert costs.by_kind["vision"]["cost_usd"] == pytest.approx(
        sum(f["cost_usd"] for r in rows for f in r["frames"])
    )

    # WHEN it is run again THEN nothing is asked twice
    again = analyze(services)
    assert (again.clips, again.done_before) == (0, 3)
    assert len(llm_server.calls()) == 6


def test_gemini_describes_frames_too(services, llm_server):
    analyze(services, model="gemini-2.5-flash", max_clips=1)

    (row,) = all_analyses(services)
    assert row["provider"] == "gemini"
    assert len(sent_pictures(llm_server)) == len(row["frames"]) == 2
    bodies = [json.dumps(r.body) for r in llm_server.calls(provider="gemini")]
    assert all("inline_data" in b or "inlineData" in b for b in bodies)


def test_dry_run_estimates_and_calls_nothing(services, llm_server):
    plan = plan_analysis(services, AnalysisRequest(dry_run=True))

    assert plan.frames == 6
    # six 320x240 frames at gpt-4o-mini's image rate ($0.15 per million input tokens)
    assert plan.estimated_cost_usd == pytest.approx(
        6 * image_tokens("gpt-4o-mini", 320, 240) * 0.15e-6, rel=0.1
    )
    assert llm_server.calls() == []
    assert services.documents.count(ANALYSES) == 0


def test_a_budget_cap_leaves_clips_for_later(services, llm_server):
    full = plan_analysis(services, AnalysisRequest(dry_run=True)).estimated_cost_usd

    capped = analyze(services, max_cost_usd=full * 0.6)

    assert capped.deferred > 0
    assert services.documents.count(MODEL_CALLS) == capped.frames < 6
    assert summarize_costs(services.documents).cost_usd <= full * 0.6
    rest = analyze(services)
    assert rest.frames == 6 - capped.frames
    assert services.documents.count(MODEL_CALLS) == 6


def test_a_clip_that_fails_half_way_resumes_where_it_stopped(services, llm_server):
    from llmfake import Reply  # noqa: PLC0415

    # GIVEN the second request is refused (a 400: not retried) and the rest answered
    answered = []

    def responder(provider, model, body):
        answered.append(model)
        if len(answered) == 2:
            raise Reply(400, "this picture is refused")
        return {"description": "a worker at a bench"}

    llm_server.responder = responder
    analyze(services)
    rows = all_analyses(services)
    (failed,) = [r for r in rows if r["status"] == "failed"]
    assert "refused" in failed["error"]
    described = sum(1 for r in rows for f in r["frames"] if f.get("description"))
    assert described == len(answered) - 1  # what was answered is kept
    assert described < 6

    # WHEN it is run again THEN only the frames not described yet are asked
    before = len(llm_server.calls())
    analyze(services)

    assert len(llm_server.calls()) - before == 6 - described
    assert [r["status"] for r in all_analyses(services)] == ["done"] * 3


def test_image_token_rules():
    assert image_tokens("gemini-2.5-flash", 320, 240) == 258
    assert image_tokens("gemini-2.5-flash", 1920, 1080) == 258 * 3 * 2
    assert image_tokens("gpt-4o", 512, 512) == 85 + 170
    assert image_tokens("gpt-4o-mini", 1920, 1080) == 2833 + 5667 * 6  # 1365x768: 3x2 tiles


def test_an_unknown_prompt_is_refused():
    with pytest.raises(ValueError, match="unknown prompt 'poem'"):
        AnalysisRequest(prompt="poem")


def test_without_keys_the_offline_provider_describes_each_picture(tmp_path):
    settings = Settings(home=tmp_path / "home", log_level="CRITICAL")
    services = build_context(settings)
    use_context(services)
    try:
        bright, dark = tmp_path / "bright.mp4", tmp_path / "dark.mp4"
        make_clip(bright, seconds=2)
        make_clip(dark, seconds=2, size=(160, 120))
        add_clips(services, [bright, dark])
        run(services, "extract_frames")

        plan = analyze(services)

        assert plan.provider == "offline"
        assert plan.estimated_cost_usd == 0
        assert plan.list_price_usd > 0
        rows = all_analyses(services)
        texts = [f["description"] for r in rows for f in r["frames"]]
        assert all(t.startswith("(offline, not a model)") for t in texts)
        assert "320x240" in texts[0]
        assert "160x120" in texts[1]
        assert {f["model"] for r in rows for f in r["frames"]} == {"offline-gpt-4o-mini"}
    finally:
        use_context(None)
        services.close()


def test_max_clips_moves_on_to_clips_not_described_yet(services, llm_server):
    first = analyze(services, max_clips=1)
    second = analyze(services, max_clips=1)

    assert first.clip_names == ["ego/clip0.mp4"]
    assert second.clip_names == ["ego/clip1.mp4"]  # the first one is done: not counted
    assert second.done_before == 1

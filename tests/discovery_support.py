"""Clips for the discovery tests: a folder in ClipCafe's shape (``<word>/<slug>_NN.mp4`` and
``.json``) whose clips are real short videos with an audio track, each described with a
transcript and SubRip subtitles of that transcript (what the offline transcriber hears)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from clips import make_clip

from shared.bootstrap import build_runtime, use_context
from shared.config import Settings
from shared.core.words import occurs_in
from shared.llm.prompts import data_blocks
from shared.platform.context import Context
from shared.platform.runtime.local import RuntimeStats

# (folder word, slug, transcript, views)
CLIPS: tuple[tuple[str, str, str, int], ...] = (
    ("abandon", "abandon-ship_01", "Abandon ship! Now, everybody, abandon ship.", 900),
    ("abandon", "never-abandon_02", "I will never abandon you. That is my ability.", 700),
    ("ability", "ability-test_01", "Your ability to listen is remarkable.", 800),
    ("brave", "be-brave_01", "Be brave, little one. Brave hearts win.", 600),
    ("brave", "no-words_02", "Hello there, how are you today?", 500),  # says no listed word
)


def srt(text: str, seconds: float) -> str:
    """The whole transcript as one SubRip cue over the clip."""
    end = f"00:00:{int(seconds):02d},{int(seconds % 1 * 1000):03d}"
    return f"1\n00:00:00,000 --> {end}\n{text}\n"


def make_clip_folder(
    root: Path, clips: Sequence[tuple[str, str, str, int]] = CLIPS, *, seconds: float = 1.0
) -> Path:
    """A folder source holding ``clips`` (encoded once per call, small and short)."""
    for word, slug, transcript, views in clips:
        folder = root / word
        folder.mkdir(parents=True, exist_ok=True)
        make_clip(folder / f"{slug}.mp4", seconds=seconds, fps=10, size=(160, 96), audio=True)
        description = {
            "title": slug.replace("-", " ").rsplit("_", 1)[0].title(),
            "transcript": transcript,
            "subtitles": srt(transcript, seconds),
            "duration": seconds,
            "views": views,
            "movie_title": "A Film",
        }
        (folder / f"{slug}.json").write_text(json.dumps(description))
    return root


def deliver(services: Context[Settings], timeout: float = 120) -> RuntimeStats:
    """Deliver everything queued through the deployed entry points until idle."""
    use_context(services)
    try:
        return build_runtime(services).run_until_idle(timeout=timeout)
    finally:
        use_context(None)


def live_settings(home: Path, cafe: Any, llm: Any, **extra: Any) -> Settings:
    """Settings that reach the fake ClipCafe and the fake model server through the real
    clients (keys, base URLs), with quick retries."""
    from clipcafefake import CLIPCAFE_KEY  # noqa: PLC0415
    from llmfake import DEFAULT_OPENAI_KEY  # noqa: PLC0415

    values: dict[str, Any] = {
        "home": home,
        "log_level": "CRITICAL",
        "min_backoff_seconds": 0.01,
        "max_backoff_seconds": 0.05,
        "clipcafe_api_key": CLIPCAFE_KEY,
        "clipcafe_base_url": cafe.endpoint,
        "clip_search_per_minute": 6000,
        "openai_api_key": DEFAULT_OPENAI_KEY,
        "openai_base_url": llm.openai_base_url,
        "transcription_base_url": llm.openai_base_url,
    }
    return Settings(_env_file=None, **{**values, **extra})


def dead_letters(services: Context[Settings]) -> int:
    """Messages of the discovery functions held in their dead letters (none, when a run went
    well: a stage that overtook the previous one's record is retried, never dropped)."""
    from shared.discovery.functions import FUNCTIONS  # noqa: PLC0415

    bus: Any = services.bus
    return int(bus.backlog([spec.hold_subscription for spec in FUNCTIONS]))


def scripted_models(provider: str, model: str, body: dict) -> dict:
    """The fake model server's answers (``FakeLLM.responder``): the candidate model maps every
    listed word the transcript says at 0.82; the final model approves them all at 0.9."""
    del provider, model
    schema = body["response_format"]["json_schema"]["name"]
    data = data_blocks(body["messages"][-1]["content"])
    if schema == "CandidateAnswer":
        transcript = data["transcript"]
        words = [w for w in data["vocabulary"].splitlines() if occurs_in(w, transcript)]
        return {
            "mappings": [
                {"word": w, "relevance_score": 0.82, "reason": "said clearly"} for w in words
            ]
        }
    mapped = [line.rpartition(":")[0].strip() for line in data["mapped_words"].splitlines()]
    return {
        "final_approval": True,
        "approved_words": mapped,
        "final_scores": [{"word": w, "score": 0.9} for w in mapped],
        "reason": "a clear example",
    }

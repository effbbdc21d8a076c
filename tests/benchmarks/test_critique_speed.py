"""Critique planning speed, and the achieved model request rate against a quota.

Run with ``make bench``. Targets (issue 4): planning a 10,000-video export (5 tasks, 7 types:
350,000 items) in at most 60 s here; and, running items through the local runtime against
the local model server enforcing 600 requests/minute, an achieved rate of at least 90% of
that limit with no request served over it. ``VIDCURATE_BENCH_RATE_ITEMS`` sets how many
items the rate run processes (default 5,000, which takes a little over 8 minutes by design:
the quota is the point).
"""

from __future__ import annotations

import json
import os
import time

from llmfake import DEFAULT_OPENAI_KEY, FakeLLM, run_fake_llm

from shared.bootstrap import FUNCTIONS_DIR, build_context, build_runtime, use_context
from shared.config import Settings
from shared.critiques.messages import CritiqueRequest
from shared.critiques.plan import plan_run
from shared.platform.runtime.dispatch import load_entry_point

VIDEOS = 10_000
TASKS = ("subject", "scene", "motion", "spatial", "camera")
RPM = 600


def _write_export(services, folder: str, videos: int) -> None:
    ts = folder.removeprefix("export_")
    caption = {
        "status": "approved",
        "caption_data": {
            "final_caption": "a person walks a dog along a beach at sunset",
            "final_feedback": "Mention the sunset. The dog is on a leash.",
            "initial_caption_rating_score": 3,
            "user": "alice",
            "reviewer": "rita",
            "reviewer_double_check": True,
        },
    }
    entries = [
        {"video_id": f"v{n:05d}", "video_url": f"https://example.org/v{n:05d}.mp4",
         "captions": dict.fromkeys(TASKS, caption)}
        for n in range(videos)
    ]  # fmt: skip
    bucket = services.settings.exports_bucket
    services.blobs.write(bucket, f"{folder}/all_videos_with_captions_{ts}.json",
                         json.dumps(entries).encode())  # fmt: skip
    stats = {"per_task": {t: {"long_name": f"{t}_description"} for t in TASKS}}
    services.blobs.write(bucket, f"{folder}/comprehensive_statistics_{ts}.json",
                         json.dumps(stats).encode())  # fmt: skip


def test_planning_350k_items(tmp_path):
    services = build_context(Settings(home=tmp_path / "home", log_level="WARNING"))
    folder = "export_20261123_0300"
    _write_export(services, folder, VIDEOS)
    try:
        start = time.perf_counter()
        dry = plan_run(services, CritiqueRequest(export_folder=folder, dry_run=True))
        dry_s = time.perf_counter() - start
        start = time.perf_counter()
        plan = plan_run(services, CritiqueRequest(export_folder=folder))
        full_s = time.perf_counter() - start
    finally:
        services.close()
    assert dry.items == plan.items == VIDEOS * len(TASKS) * 7
    print()
    print(
        f"planning: {plan.items:,} items classified in {dry_s:.1f} s (dry run); "
        f"planned, recorded and published ({plan.published:,} jobs) in {full_s:.1f} s  "
        "target <= 60 s"
    )


def test_achieved_rate_against_a_600_rpm_quota(tmp_path):
    items = int(os.environ.get("VIDCURATE_BENCH_RATE_ITEMS", "5000"))
    with run_fake_llm(FakeLLM()) as llm:
        llm.limit_rpm(RPM)
        settings = Settings(
            home=tmp_path / "home",
            log_level="WARNING",
            workers=16,
            openai_api_key=DEFAULT_OPENAI_KEY,
            openai_base_url=llm.openai_base_url,
            model_limits={"gpt-4.1": {"requests_per_minute": RPM, "tokens_per_minute": 10**9}},
        )
        services = build_context(settings)
        use_context(services)
        folder = "export_20261123_0400"
        videos = -(-items // len(TASKS))
        _write_export(services, folder, videos)
        llm.responder = lambda provider, model, body: {"bad_caption": "a cat on the moon"}
        try:
            plan = plan_run(services, CritiqueRequest(
                export_folder=folder, critique_types=("worst_caption_generation",)))  # fmt: skip
            handler = load_entry_point(FUNCTIONS_DIR, "critique_worker")
            start = time.perf_counter()
            build_runtime(services, handlers={"critique_worker": handler}).run_until_idle(
                timeout=3 * 3600
            )
            elapsed = time.perf_counter() - start
        finally:
            use_context(None)
            services.close()
        served = len(llm.served("gpt-4.1"))
        rate = served / elapsed * 60
        assert served == plan.published
        assert llm.served_over_limit == 0
        print()
        print(
            f"rate: {served:,} requests in {elapsed:.0f} s = {rate:.0f}/min against a {RPM}/min "
            f"quota -> ratio {rate / RPM:.2f} (target >= 0.90); 429s answered: "
            f"{llm.over_limit}; busiest minute {llm.max_served_in_window('gpt-4.1')}"
        )

"""The embedded default at real scale: per-item cost flat from one size to one 10x+ larger.

Run with ``make bench``. Targets (issue 12), all on the local stand-ins (SQLite documents and
bus, folder buckets), through the local runtime as ``vidcurate`` runs them:

- offline critiques of 1,000 and 50,000 items: the per-item time at 50,000 within 1.5x of
  the per-item time at 1,000; throughput printed (goal >= 300 items/s here);
- ``ingest`` of 10,000 and 100,000 annotation files: per-file time within 1.5x;
- the status views (``vidcurate status``, ``critiques status``) on those homes in <= 1 s.

``VIDCURATE_BENCH_SCALE`` (default 1) scales the larger sizes down for a quick look
(e.g. 0.2); the ratios are checked whatever the scale.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from captions_support import dumps, feedback, review
from test_critique_speed import _write_export

from shared.bootstrap import (
    FUNCTIONS_DIR,
    build_context,
    build_runtime,
    build_subscriber,
    use_context,
)
from shared.config import Settings
from shared.critiques.messages import CritiqueRequest
from shared.critiques.plan import plan_run
from shared.critiques.status import status_report
from shared.ops.status import collect_status
from shared.platform.runtime.dispatch import load_entry_point

SCALE = float(os.environ.get("VIDCURATE_BENCH_SCALE", "1"))
MAX_RATIO = 1.5
MAX_STATUS_SECONDS = 1.0
ITEMS_PER_VIDEO = 35  # 5 tasks x 7 critique types
TASKS = ("subject", "scene", "motion", "spatial", "camera")

Measured = tuple[int, float, tuple[float, float]]  # items, seconds, status seconds (twice)


def _timed_status(services, folder: str | None = None) -> tuple[float, float]:
    """Seconds of the status views: the first time on this home (the store builds the
    indexes of their queries then, once; a home used from the start has them already),
    and again."""
    times = []
    for _ in range(2):
        start = time.perf_counter()
        collect_status(services, build_subscriber(services))
        if folder is not None:
            status_report(services, folder)
        times.append(time.perf_counter() - start)
    return times[0], times[1]


def _critiques(tmp_path: Path, videos: int) -> Measured:
    """(items, seconds of the run, seconds of the status views) of an offline run."""
    settings = Settings(home=tmp_path / f"crit-{videos}", log_level="WARNING",
                        llm_provider="offline")  # fmt: skip
    services = build_context(settings)
    use_context(services)
    try:
        folder = "export_20261123_0300"
        _write_export(services, folder, videos)
        plan = plan_run(services, CritiqueRequest(export_folder=folder))
        names = ("critique_worker", "critique_consolidate")
        handlers = {name: load_entry_point(FUNCTIONS_DIR, name) for name in names}
        start = time.perf_counter()
        build_runtime(services, handlers=handlers).run_until_idle(timeout=3600)
        seconds = time.perf_counter() - start
        # (a consolidation finding another one at work is retried: not a failure)
        report = status_report(services, folder)
        assert report["consolidated_file"]
        assert report["totals"].get("failed", 0) == 0
        return plan.items, seconds, _timed_status(services, folder)
    finally:
        use_context(None)
        services.close()


def test_offline_critiques_cost_the_same_per_item_at_50_times_the_items(tmp_path):
    small_videos = 29  # 1,015 items
    large_videos = max(small_videos * 10, int(1_429 * SCALE))  # 50,015 items at scale 1
    small = _critiques(tmp_path, small_videos)
    large = _critiques(tmp_path, large_videos)

    _check_scale("critiques, offline, local runtime", "items", small, large, "goal >= 300/s")


def _check_scale(what: str, unit: str, small: Measured, large: Measured, goal: str = "") -> None:
    """Print the throughput at both sizes and the status views; check the per-item ratio
    and the status view on the large home."""
    per_small, per_large = small[1] / small[0], large[1] / large[0]
    ratio = per_large / per_small
    print(
        f"\n{what}: {small[0]:,} {unit} {small[0] / small[1]:,.0f}/s "
        f"({per_small * 1e3:.2f} ms each); {large[0]:,} {unit} {large[0] / large[1]:,.0f}/s "
        f"({per_large * 1e3:.2f} ms each): ratio {ratio:.2f} (target <= {MAX_RATIO}"
        + (f"; {goal})" if goal else ")")
    )
    print(
        f"status views: {small[2][1]:.2f} s (small home) and {large[2][1]:.2f} s (large home) "
        f"(target <= {MAX_STATUS_SECONDS} s); the first on each home, building the indexes "
        f"of its queries once: {small[2][0]:.2f} s and {large[2][0]:.2f} s"
    )
    assert ratio <= MAX_RATIO
    assert large[2][1] <= MAX_STATUS_SECONDS


def _drop(services, videos: int) -> int:
    """Every task of ``videos`` videos approved (feedback + review): 10 files a video."""
    bucket = services.settings.annotations_bucket
    write = services.blobs.write
    lines = "".join(
        json.dumps({"video_id": f"v{n:06d}", "video_url": f"https://example.org/v{n:06d}.mp4"})
        + "\n"
        for n in range(videos)
    )
    write(bucket, "default/videos/all.jsonl", lines.encode())
    files = 1
    for n in range(videos):
        for task in TASKS:
            prefix = f"default/{task}/v{n:06d}"
            write(bucket, f"{prefix}_feedback.json", dumps(feedback("alice", f"{task} {n}")))
            write(bucket, f"{prefix}_review.json", dumps(review(n % 4 != 0)))
            files += 2
    return files


def _ingest(tmp_path: Path, videos: int) -> Measured:
    """(files, seconds to ingest them, seconds of the status view) on a fresh home."""
    services = build_context(Settings(home=tmp_path / f"ingest-{videos}", log_level="WARNING"))
    use_context(services)
    try:
        files = _drop(services, videos)
        start = time.perf_counter()
        stats = build_runtime(services).run_until_idle(timeout=3600)
        seconds = time.perf_counter() - start
        assert stats.total_failed == 0
        return files, seconds, _timed_status(services)
    finally:
        use_context(None)
        services.close()


def test_ingest_costs_the_same_per_file_at_ten_times_the_files(tmp_path):
    small_videos = 1_000  # 10,001 files
    large_videos = max(small_videos * 10, int(10_000 * SCALE))  # 100,001 files at scale 1
    small = _ingest(tmp_path, small_videos)
    large = _ingest(tmp_path, large_videos)

    _check_scale("ingest, local runtime", "files", small, large)

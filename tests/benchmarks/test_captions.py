"""Caption ingestion and export speed on the embedded defaults.

Run with ``make bench``. Targets (issue 3): ingest at least 1,000 drop events/s, and export
10,000 videos x 5 tasks in at most 3x the time ``json.dumps`` (indent 2, as the original
export script wrote) takes for the same final structure, measured in the same run.

The drop: 10,000 registered videos; 3,000 approved on every task (feedback + review), 1,000
rejected (feedback + feedback_prev + review), 1,000 completed but not reviewed, 5,000 never
touched: 50,000 object events, delivered by the local runtime to every deployed function
(``ingest_feedback`` and ``echo_object`` both watch the annotations bucket).
"""

from __future__ import annotations

import json
import time

from captions_support import dumps, feedback, review

from shared.bootstrap import build_context, build_runtime, use_context
from shared.captions.export import run_export
from shared.captions.messages import ExportRequest
from shared.captions.snapshot import take_snapshot
from shared.config import Settings

VIDEOS = 10_000
APPROVED, REJECTED, PENDING = 3_000, 1_000, 1_000
TASKS = ("subject", "scene", "motion", "spatial", "camera")


def _drop(services) -> int:
    bucket = services.settings.annotations_bucket
    write = services.blobs.write
    lines = "".join(
        json.dumps({"video_id": f"v{n:05d}", "video_url": f"https://example.org/v{n:05d}.mp4"})
        + "\n"
        for n in range(VIDEOS)
    )
    write(bucket, "default/videos/all.jsonl", lines.encode())
    events = 1
    for n in range(APPROVED + REJECTED + PENDING):
        video = f"v{n:05d}"
        for task in TASKS:
            prefix = f"default/{task}/{video}"
            if n < APPROVED:
                write(bucket, f"{prefix}_feedback.json", dumps(feedback("alice", f"{task} {n}")))
                write(bucket, f"{prefix}_review.json", dumps(review(True)))
                events += 2
            elif n < APPROVED + REJECTED:
                write(bucket, f"{prefix}_feedback.json", dumps(feedback("rita", f"better {n}")))
                write(bucket, f"{prefix}_feedback_prev.json", dumps(feedback("bob", f"{n}")))
                write(bucket, f"{prefix}_review.json", dumps(review(False)))
                events += 3
            else:
                write(bucket, f"{prefix}_feedback.json", dumps(feedback("bob", f"{task} {n}")))
                events += 1
    return events


def test_ingest_and_export_speed(tmp_path):
    settings = Settings(home=tmp_path / "home", log_level="WARNING", workers=4)
    services = build_context(settings)
    use_context(services)
    try:
        start = time.perf_counter()
        events = _drop(services)
        upload_s = time.perf_counter() - start

        start = time.perf_counter()
        stats = build_runtime(services).run_until_idle(timeout=3600)
        ingest_s = time.perf_counter() - start
        assert stats.handled["ingest_feedback"] == events
        assert stats.total_failed == 0

        start = time.perf_counter()
        result = run_export(
            services, ExportRequest(), request_id="bench", export_dir=tmp_path / "out"
        )
        export_s = time.perf_counter() - start
        assert result.statistics["totals"]["videos"] == VIDEOS
        assert result.statistics["totals"]["videos_not_started"] == VIDEOS - 5_000

        # The baseline: json.dumps of the final structure, as the original script wrote it.
        snapshot = take_snapshot(services.documents, settings, "default")
        completed = [e for e in snapshot.entries.values() if e["video_id"] < f"v{5_000:05d}"]
        start = time.perf_counter()
        baseline_text = json.dumps(completed, indent=2, ensure_ascii=False)
        dumps_s = time.perf_counter() - start

    finally:
        use_context(None)
        services.close()

    total = sum(stats.handled.values())
    print()
    print(f"drop: {events:,} annotation files uploaded in {upload_s:.1f} s")
    print(
        f"ingest: {events:,} ingest_feedback events in {ingest_s:.1f} s = "
        f"{events / ingest_s:,.0f} events/s ({total:,} deliveries to all functions, "
        f"{total / ingest_s:,.0f}/s)  target >= 1,000 events/s"
    )
    print(
        f"export: {VIDEOS:,} videos x {len(TASKS)} tasks in {export_s:.2f} s (read, render, "
        f"write 4 files to the bucket and --export-dir); json.dumps baseline "
        f"{dumps_s:.2f} s for {len(baseline_text) / 1e6:.1f} MB -> ratio "
        f"{export_s / dumps_s:.2f}  target <= 3"
    )

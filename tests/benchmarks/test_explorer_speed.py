"""The clip explorer's list at scale: pages of the clips list (and their analyses) served over
HTTP for 10,000 and for 100,000 clips, anywhere in the list (a cursor deep into it).

Run with ``make bench``. Target (issue 20): a page in at most 100 ms (p95 of 50 requests) for
100,000 clips, and the time per page flat from 10,000 to 100,000 (keyset pages: no scan)."""

from __future__ import annotations

import random
import statistics
import time

import requests
from labelling_support import web_app

from shared.bootstrap import build_context
from shared.config import Settings
from shared.learning import invite
from shared.media import CLIPS, clip_id

PAGES = 50


def fill(services, clips: int) -> list[str]:
    bucket = services.settings.videos_bucket
    names = [f"datasets/egocentric/f{n % 97:02d}/clip{n:06d}.mp4" for n in range(clips)]
    for start in range(0, clips, 400):
        with services.documents.batch() as batch:
            for name in names[start : start + 400]:
                batch.set(
                    f"{CLIPS}/{clip_id(bucket, name)}",
                    {
                        "bucket": bucket,
                        "name": name,
                        "generation": 1,
                        "status": "done",
                        "frames": [
                            {"timestamp": t, "path": f"{name}/{t}.jpg"} for t in (5, 15, 25)
                        ],
                        "metadata": {"factory_id": f"F{hash(name) % 50}", "worker_id": "W1"},
                        "clip": {"duration": 30.0, "width": 640, "height": 360},
                    },
                )
    return sorted(names)


def pages(tmp_path, clips: int) -> list[float]:
    services = build_context(
        Settings(_env_file=None, home=tmp_path / f"h{clips}", log_level="ERROR")
    )
    try:
        names = fill(services, clips)
        token = invite(services.documents, "viv")
        with web_app(services) as base:
            session = requests.Session()
            session.post(f"{base}/signin", json={"token": token}, timeout=10)
            session.get(f"{base}/api/clips", timeout=30)  # warm
            rng = random.Random(7)
            times = []
            for _ in range(PAGES):
                cursor = names[rng.randrange(len(names) - 40)]
                start = time.perf_counter()
                reply = session.get(f"{base}/api/clips", params={"after": cursor}, timeout=30)
                times.append(time.perf_counter() - start)
                assert reply.status_code == 200
                assert len(reply.json()["clips"]) == 30
        return times
    finally:
        services.close()


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20)[-1]


def test_clip_pages_at_10k_and_100k(tmp_path):
    small = pages(tmp_path, 10_000)
    large = pages(tmp_path, 100_000)
    ratio = statistics.median(large) / statistics.median(small)
    print()
    print(
        f"explorer: a page of 30 clips at a random cursor, p95 {p95(small) * 1000:.0f} ms of "
        f"10,000 clips and {p95(large) * 1000:.0f} ms of 100,000 (target <= 100 ms); median "
        f"ratio {ratio:.2f} (flat: keyset pages)"
    )
    assert ratio <= 1.5

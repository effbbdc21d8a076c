"""Set evaluation speed against a model quota, and what one sheet costs beside single images.

Run with ``make bench``. Sets of 20 images are evaluated through the local runtime against the
local model server enforcing 600 requests/minute (one sheet, one call per set), at two sizes
ten times apart (``VIDCURATE_BENCH_SETS``, default 100 and 1,000). Targets (issue 15):

- throughput at least 90 % of the quota at the larger size, nothing served over it;
- building a set's sheet keeps up: its CPU time per set (decoding 20 images, drawing, JPEG)
  at most 5 % of the model time a worker spends per set at that quota (workers x 60 s /
  600 requests), and flat from one size to the other (ratio <= 1.5);
- one sheet call per set costs at most a quarter of the input tokens of 20 single-image calls
  (the providers' published image rules, ``shared.trainsets.sets.image_tokens``).
"""

from __future__ import annotations

import io
import json
import os
import re
import statistics
import time

from llmfake import DEFAULT_OPENAI_KEY, FakeLLM, run_fake_llm
from PIL import Image, ImageDraw

from shared.bootstrap import FUNCTIONS_DIR, build_context, build_runtime, use_context
from shared.config import Settings
from shared.platform.runtime.dispatch import load_entry_point
from shared.trainsets.evaluate import evaluation_name
from shared.trainsets.grid import layout
from shared.trainsets.manifest import Manifest, ManifestImage, manifest_name
from shared.trainsets.sets import PROMPT_TOKENS, image_tokens, new_run, request_evaluations

RPM = 600
WORKERS = 16
IMAGES = 20
MODEL = "gpt-4.1-mini"
NUMBERS = re.compile(r"<<<numbers>>>\n(.*?)\n<<<end numbers>>>", re.DOTALL)


def pictures(count: int) -> list[bytes]:
    """Distinct 640x480 JPEGs, as a phone or a generator would give."""
    made = []
    for n in range(count):
        image = Image.new("RGB", (640, 480), (40 + 9 * n, 90, 160 - 5 * n))
        draw = ImageDraw.Draw(image)
        for k in range(12):
            draw.ellipse((20 * k + n, 15 * k, 20 * k + 200, 15 * k + 150),
                         fill=(200 - 10 * k, 30 + 8 * n, 12 * k))  # fmt: skip
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=88)
        made.append(buffer.getvalue())
    return made


def answer(provider, model, payload):
    """Every number on the sheet classified once (the prompt lists them)."""
    texts = [
        part.get("text", "") if isinstance(part, dict) else str(part)
        for message in payload.get("messages", [])
        for part in (
            message["content"]
            if isinstance(message.get("content"), list)
            else [message.get("content") or ""]
        )
    ]
    numbers = NUMBERS.search("\n".join(texts))
    listed = [int(n) for n in numbers[1].split(",")] if numbers else []
    return {
        "images": [
            {"number": n, "category": "photorealistic", "quality": 7, "reason": "ok"}
            for n in listed
        ],
        "analysis": "benchmark",
    }


def evaluate_sets(tmp_path, sets: int, llm: FakeLLM) -> tuple[float, list[float]]:
    """Evaluate ``sets`` sets; the wall time and each set's sheet-building CPU seconds."""
    settings = Settings(
        home=tmp_path / f"home-{sets}",
        log_level="WARNING",
        workers=WORKERS,
        openai_api_key=DEFAULT_OPENAI_KEY,
        openai_base_url=llm.openai_base_url,
        model_limits={MODEL: {"requests_per_minute": RPM, "tokens_per_minute": 10**9}},
    )
    services = build_context(settings)
    use_context(services)
    try:
        images = pictures(IMAGES)
        bucket = settings.sets_bucket
        ids = [f"set_{n:05d}" for n in range(sets)]
        for set_id in ids:
            for k, data in enumerate(images):
                services.blobs.write(bucket, f"{set_id}/img_{k:02d}.jpg", data,
                                     content_type="image/jpeg")  # fmt: skip
            manifest = Manifest(
                set_id=set_id,
                images=tuple(ManifestImage(file=f"img_{k:02d}.jpg") for k in range(IMAGES)),
            )
            services.blobs.write(bucket, manifest_name(set_id), manifest.encode())
        # The registrations of the images written above are not what is measured.
        handlers = {"evaluate_set": load_entry_point(FUNCTIONS_DIR, "evaluate_set")}
        request_evaluations(services, ids, new_run())
        start = time.perf_counter()
        build_runtime(services, handlers=handlers).run_until_idle(timeout=3 * 3600)
        elapsed = time.perf_counter() - start
        grid = [
            json.loads(services.blobs.read(settings.evaluations_bucket, evaluation_name(s)))[
                "grid_cpu_seconds"
            ]
            for s in ids
        ]
    finally:
        use_context(None)
        services.close()
    return elapsed, grid


def test_sets_are_evaluated_at_the_quota_and_sheets_keep_up(tmp_path):
    small, large = (int(n) for n in os.environ.get("VIDCURATE_BENCH_SETS", "100,1000").split(","))
    with run_fake_llm(FakeLLM(responder=answer)) as llm:
        llm.limit_rpm(RPM)
        _small_s, small_grid = evaluate_sets(tmp_path, small, llm)
        before = len(llm.served(MODEL))
        large_s, large_grid = evaluate_sets(tmp_path, large, llm)
        served = len(llm.served(MODEL)) - before
    rate = served / large_s * 60
    per_worker_model_s = WORKERS * 60 / RPM
    grid_small, grid_large = statistics.median(small_grid), statistics.median(large_grid)
    assert served == large
    assert llm.served_over_limit == 0
    print()
    print(
        f"sets: {large:,} sets of {IMAGES} in {large_s:.0f} s = {rate:.0f} calls/min against a "
        f"{RPM}/min quota -> ratio {rate / RPM:.2f} (target >= 0.90)"
    )
    print(
        f"sheet per set: {grid_small * 1000:.0f} ms at {small:,} sets, {grid_large * 1000:.0f} ms "
        f"at {large:,} (ratio {grid_large / grid_small:.2f}, target <= 1.5); a worker's model "
        f"time per set at the quota {per_worker_model_s:.1f} s -> "
        f"{grid_large / per_worker_model_s:.1%} (target <= 5 %)"
    )
    (sheet,) = layout(IMAGES, Settings(_env_file=None).set_grid)
    grid_tokens = PROMPT_TOKENS + image_tokens(MODEL, sheet.width, sheet.height)
    single_tokens = IMAGES * (PROMPT_TOKENS + image_tokens(MODEL, 640, 480))
    print(
        f"input tokens with {MODEL}: one {sheet.width}x{sheet.height} sheet {grid_tokens:,} vs "
        f"{IMAGES} single 640x480 calls {single_tokens:,} -> "
        f"{grid_tokens / single_tokens:.2f}x (goal <= 0.25x)"
    )
    assert rate / RPM >= 0.9
    assert grid_large / grid_small <= 1.5
    assert grid_large / per_worker_model_s <= 0.05
    assert grid_tokens / single_tokens <= 0.25

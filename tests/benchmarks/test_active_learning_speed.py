"""How fast an active-learning round trains and scores on this machine's CPU.

Run with ``make bench``. ResNet-50 at 224 px (``VIDCURATE_BENCH_ARCH``), batches of 16, on
datasets of 200 and 2,000 synthetic frames (``VIDCURATE_BENCH_TRAIN_FRAMES``) cached on
disk and decoded in two DataLoader workers, as the job does. Each measure runs a fixed number
of batches (``VIDCURATE_BENCH_TRAIN_STEPS``, 6) after one warm-up batch. Targets (issue 17):

- the job's training loop (``Trainer``: augmentation, channels-last, its loader) at least
  0.8x the images/s of a minimal hand-written torch loop on the same frames and transforms;
- its images/s flat from 200 to 2,000 frames (ratio <= 1.5);
- scoring (batched inference) frames/s printed, with the process's peak memory.

On a GPU (``device`` tool, when lent) the same file measures bf16 training; the README
says what was measured where.
"""

from __future__ import annotations

import os
import random
import resource
import time
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from learning_support import shape_jpeg  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from shared.learning.rounds import RoundConfig  # noqa: E402
from shared.learning.train import (  # noqa: E402
    FrameDataset,
    Trainer,
    build_model,
    eval_transform,
    train_transform,
)

ARCH = os.environ.get("VIDCURATE_BENCH_ARCH", "resnet50")
STEPS = int(os.environ.get("VIDCURATE_BENCH_TRAIN_STEPS", "6"))
BATCH = 16
SIZE = 224


def frames(folder: Path, count: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    rng = random.Random(count)
    paths = []
    for n in range(count):
        path = folder / f"{n:05d}.jpg"
        if not path.exists():
            perspective = ("first_person", "third_person", "overhead")[n % 3]
            distance = ("close", "medium", "far")[n // 3 % 3]
            path.write_bytes(shape_jpeg(perspective, distance, rng, side=256))
        paths.append(path)
    return paths


def job_loop(paths: list[Path], device: torch.device) -> float:
    """Images/s of the job's own training loop over ``STEPS`` batches."""
    config = RoundConfig(round=0, architecture=ARCH, batch_size=BATCH, workers=2, image_size=SIZE)
    trainer = Trainer(None, config, "perspective", ("a", "b", "c"), device)  # type: ignore[arg-type]
    model = trainer.model(None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dataset = FrameDataset(paths, [n % 3 for n in range(len(paths))], train_transform(SIZE))
    trainer._epoch(model, dataset, nn.CrossEntropyLoss(), optimizer, 0, max_batches=1)  # warm-up
    start = time.perf_counter()
    trainer._epoch(model, dataset, nn.CrossEntropyLoss(), optimizer, 1, max_batches=STEPS)
    return STEPS * BATCH / (time.perf_counter() - start)


def minimal_loop(paths: list[Path], device: torch.device) -> float:
    """Images/s of the plainest torch loop on the same frames and transforms."""
    torch.manual_seed(0)
    model = build_model(ARCH, 3).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    dataset = FrameDataset(paths, [n % 3 for n in range(len(paths))], train_transform(SIZE))
    loader = DataLoader(dataset, batch_size=BATCH, shuffle=True, num_workers=2)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    start = 0.0
    for step, (images, targets) in enumerate(loader):
        if step == 1:
            start = time.perf_counter()  # after one warm-up batch, as above
        if step > STEPS:
            break
        optimizer.zero_grad()
        loss = loss_fn(model(images.to(device)), targets.to(device))
        loss.backward()
        optimizer.step()
    return STEPS * BATCH / (time.perf_counter() - start)


def scoring(paths: list[Path], device: torch.device) -> float:
    config = RoundConfig(round=0, architecture=ARCH, batch_size=32, workers=2, image_size=SIZE)
    trainer = Trainer(None, config, "perspective", ("a", "b", "c"), device)  # type: ignore[arg-type]
    model = trainer.model(None)
    chosen = paths[: STEPS * BATCH]
    dataset = FrameDataset(chosen, [0] * len(chosen), eval_transform(SIZE))
    start = time.perf_counter()
    scored = sum(1 for _ in trainer.probabilities(model, dataset))
    return scored / (time.perf_counter() - start)


def test_the_jobs_training_loop_keeps_up_with_a_minimal_loop_and_scales_flat(tmp_path_factory):
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    sizes = os.environ.get("VIDCURATE_BENCH_TRAIN_FRAMES", "200,2000")
    small, large = (int(n) for n in sizes.split(","))
    folder = tmp_path_factory.mktemp("frames")
    small_paths, large_paths = frames(folder, small)[:small], frames(folder, large)
    job_small = job_loop(small_paths, device)
    job_large = job_loop(large_paths, device)
    minimal = minimal_loop(large_paths, device)
    score = scoring(large_paths, device)
    peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print()
    print(
        f"active learning ({ARCH}, {SIZE} px, batch {BATCH}, {device.type}): the job's loop "
        f"{job_small:.1f} images/s on {small:,} frames, {job_large:.1f} on {large:,} (ratio "
        f"{job_small / job_large:.2f}, target <= 1.5); minimal loop {minimal:.1f} images/s, "
        f"the job's {job_large / minimal:.2f}x (target >= 0.8); scoring {score:.1f} frames/s; "
        f"peak memory {peak_mib:,.0f} MiB"
    )
    assert job_large / minimal >= 0.8
    assert job_small / job_large <= 1.5

"""One active-learning round: train, evaluate, score, write the next queue (torch).

The only module that imports torch (the ``learn`` extra; the job's image). The steps:

1. the labels' consensus (:mod:`shared.learning.rounds`), checked for enough examples of
   every class before anything is trained;
2. the test set: drawn in round 0 and saved, read back in later rounds; the rest split into
   training and validation (saved in ``splits.json``);
3. the frames fetched from the frames bucket into a local cache, each opened once: a frame
   that cannot be decoded is left out and listed;
4. a model per task: ResNet (50 by default) with its last layer sized to the task's classes,
   starting from round N-1's best checkpoint, or in round 0 from ``--base-weights`` (a
   checkpoint or state dict in a bucket, never downloaded from the internet) or random
   initialisation (said so in the metrics). Adam, StepLR, early stopping on validation loss;
   training augmentation flip, rotation, colour jitter; evaluation (and scoring) resize and
   normalise only. On a GPU: bf16 autocast, channels-last, pinned memory;
5. a checkpoint every epoch (model, optimiser, scheduler, history, the epoch): a retried or
   preempted task resumes from it, and since each epoch's order and augmentation come from
   ``(seed, epoch)``, it ends where an uninterrupted run would;
6. metrics on the training, validation and test sets, Cohen's kappa of the annotators, the
   stopping guidance against the previous round;
7. every frame neither labelled nor in the test set scored (both models, batched), written as
   a table, and the K most uncertain made the round's queue and the live queue the labelling
   page shows first; plots; the DONE marker.
"""

from __future__ import annotations

import io
import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import torch
from PIL import Image, UnidentifiedImageError
from torch import nn
from torch.utils.data import DataLoader, Dataset
from torchvision import models, transforms

from shared.core.errors import NotFoundError, PermanentError
from shared.learning.agreement import agreement
from shared.learning.frames import load_frames
from shared.learning.labels import iter_labels
from shared.learning.rounds import (
    RoundConfig,
    TaskMetrics,
    check_enough,
    classification_metrics,
    consensus,
    entropy,
    rank_uncertain,
    split_examples,
    stopping_guidance,
)
from shared.learning.roundstore import (
    read_json,
    record_round,
    round_done,
    round_path,
    write_json,
    write_test_set,
)
from shared.learning.schema import Label
from shared.learning.settings import LabelSettings
from shared.platform.context import Context

__all__ = ["MEAN", "STD", "RoundResult", "build_model", "run_round"]

log = logging.getLogger("vidcurate.learning")

MEAN = (0.485, 0.456, 0.406)  # ImageNet's: base weights are usually ImageNet-trained
STD = (0.229, 0.224, 0.225)
SCORE_BATCH = 64


class BaseWeightsError(PermanentError):
    """The base weights are missing or not of the model's architecture."""


@dataclass
class RoundResult:
    """What a round did."""

    round: int
    status: str  # "done" | "already_done"
    metrics: dict[str, Any] = field(default_factory=dict)
    queue: list[str] = field(default_factory=list)


# --- data -----------------------------------------------------------------------------------


def eval_transform(size: int) -> transforms.Compose:
    """Resize and normalise: evaluation and scoring, the same as inference."""
    return transforms.Compose(
        [transforms.Resize((size, size)), transforms.ToTensor(), transforms.Normalize(MEAN, STD)]
    )


def train_transform(size: int) -> transforms.Compose:
    """Flip, a small rotation, colour jitter, then the evaluation transform."""
    return transforms.Compose(
        [
            transforms.Resize((size, size)),
            transforms.RandomHorizontalFlip(),
            transforms.RandomRotation(10),
            transforms.ColorJitter(brightness=0.2, contrast=0.2, saturation=0.2, hue=0.02),
            transforms.ToTensor(),
            transforms.Normalize(MEAN, STD),
        ]
    )


class FrameDataset(Dataset[tuple[torch.Tensor, int]]):
    """Frames from the local cache with their class index (decoded in the loader's workers)."""

    def __init__(
        self, paths: Sequence[Path], targets: Sequence[int], transform: Callable[..., Any]
    ) -> None:
        self.paths = list(paths)
        self.targets = list(targets)
        self.transform = transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.paths[index]) as image:
            tensor = self.transform(image.convert("RGB"))
        return tensor, self.targets[index]


class FrameCache:
    """Frames of the frames bucket, fetched once into a local folder."""

    def __init__(self, services: Context[LabelSettings], folder: Path) -> None:
        self.services = services
        self.folder = folder

    def path(self, frame_id: str) -> Path:
        return self.folder / frame_id

    def fetch(self, frame_ids: Sequence[str]) -> dict[str, str]:
        """Fetch what is missing; frame -> why it is unusable (gone, not a picture)."""
        bad: dict[str, str] = {}
        bucket = self.services.settings.frames_bucket
        for frame_id in frame_ids:
            target = self.path(frame_id)
            if not target.exists():
                try:
                    data = self.services.blobs.read(bucket, frame_id)
                except NotFoundError:
                    bad[frame_id] = "not in the frames bucket"
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                partial = target.with_suffix(target.suffix + ".part")
                partial.write_bytes(data)
                partial.replace(target)
            try:
                with Image.open(target) as image:
                    image.load()
            except (UnidentifiedImageError, OSError) as exc:
                bad[frame_id] = f"cannot be decoded ({exc})"
        return bad


# --- models ---------------------------------------------------------------------------------


def build_model(architecture: str, classes: int) -> nn.Module:
    """A ResNet with random weights and a last layer of ``classes`` outputs."""
    builder = {"resnet50": models.resnet50, "resnet18": models.resnet18}[architecture]
    model = builder(weights=None)  # torchvision is untyped: a ResNet
    model.fc = nn.Linear(model.fc.in_features, classes)
    built: nn.Module = model
    return built


def _state_dict(loaded: Any) -> dict[str, torch.Tensor]:
    if isinstance(loaded, dict) and isinstance(loaded.get("model"), dict):
        loaded = loaded["model"]
    if isinstance(loaded, dict) and isinstance(loaded.get("state_dict"), dict):
        loaded = loaded["state_dict"]
    if not isinstance(loaded, dict) or not all(
        isinstance(v, torch.Tensor) for v in loaded.values()
    ):
        raise BaseWeightsError("the file holds no state dict")
    return {k.removeprefix("module."): v for k, v in loaded.items()}


def load_backbone(model: nn.Module, state: Mapping[str, torch.Tensor], what: str) -> bool:
    """Load ``state`` into ``model``: every layer but the last must match (else
    :class:`BaseWeightsError` says which keys differ); the last layer is taken when its shape
    fits (the same classes), else kept random. Whether the last layer was taken."""
    own = model.state_dict()
    head = {k for k in own if k.startswith("fc.")}
    missing = sorted(k for k in own if k not in state and k not in head)
    unexpected = sorted(k for k in state if k not in own)
    wrong = sorted(
        k for k in own if k in state and k not in head and state[k].shape != own[k].shape
    )
    if missing or unexpected or wrong:
        sample = ", ".join((missing + unexpected + wrong)[:4])
        raise BaseWeightsError(
            f"{what} is not of this architecture: {len(missing)} layers missing, "
            f"{len(unexpected)} unknown, {len(wrong)} of another shape (e.g. {sample})"
        )
    fits = all(k in state and state[k].shape == own[k].shape for k in head)
    merged = {k: (state[k] if (k not in head or fits) else own[k]) for k in own}
    model.load_state_dict(merged)
    return fits


def _read_object(services: Context[LabelSettings], uri: str) -> bytes:
    if not uri.startswith("gs://") or "/" not in uri[5:]:
        raise BaseWeightsError(f"--base-weights {uri!r}: name an object as gs://BUCKET/PATH")
    bucket, _, name = uri[5:].partition("/")
    try:
        return services.blobs.read(bucket, name)
    except NotFoundError as exc:
        raise BaseWeightsError(f"--base-weights {uri}: no such object") from exc


def _torch_load(data: bytes) -> Any:
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)


# --- training -------------------------------------------------------------------------------


@dataclass
class Trainer:
    """Trains one task's model with checkpoints in the models bucket."""

    services: Context[LabelSettings]
    config: RoundConfig
    task: str
    classes: tuple[str, ...]
    device: torch.device
    started_from: str = "random initialisation"

    def _checkpoint(self, kind: str) -> str:
        return round_path(self.config.round, f"checkpoints/{self.task}_{kind}.pt")

    def _save(self, kind: str, payload: dict[str, Any]) -> None:
        buffer = io.BytesIO()
        torch.save(payload, buffer)
        self.services.blobs.write(
            self.services.settings.models_bucket,
            self._checkpoint(kind),
            buffer.getvalue(),
            content_type="application/octet-stream",
        )

    def _load(self, kind: str) -> dict[str, Any] | None:
        try:
            data = self.services.blobs.read(
                self.services.settings.models_bucket, self._checkpoint(kind)
            )
        except NotFoundError:
            return None
        loaded: dict[str, Any] = _torch_load(data)
        return loaded

    def model(self, start: Mapping[str, torch.Tensor] | None) -> nn.Module:
        torch.manual_seed(self.config.seed)
        model = build_model(self.config.architecture, len(self.classes))
        if start is not None:
            load_backbone(model, start, self.started_from)
        model = model.to(self.device)
        return model.to(memory_format=torch.channels_last)

    def fit(
        self,
        train: FrameDataset,
        validation: FrameDataset,
        start: Mapping[str, torch.Tensor] | None,
    ) -> tuple[nn.Module, list[dict[str, float]]]:
        """Train (or resume) to the end or to early stopping; the best model and the history."""
        config = self.config
        model = self.model(start)
        optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
        scheduler = torch.optim.lr_scheduler.StepLR(
            optimizer, step_size=config.step_size, gamma=config.gamma
        )
        history: list[dict[str, float]] = []
        best_loss, stale, first_epoch = math.inf, 0, 0
        last = self._load("last")
        if last is not None:  # a retried or preempted task: go on from the last epoch
            model.load_state_dict(last["model"])
            optimizer.load_state_dict(last["optimizer"])
            scheduler.load_state_dict(last["scheduler"])
            history, best_loss, stale = last["history"], last["best_loss"], last["stale"]
            first_epoch = int(last["epoch"]) + 1
            log.info("resuming", extra={"task": self.task, "epoch": first_epoch})
            if last.get("finished"):
                first_epoch = config.epochs
        loss_fn = nn.CrossEntropyLoss()
        for epoch in range(first_epoch, config.epochs):
            train_loss, train_acc = self._epoch(model, train, loss_fn, optimizer, epoch)
            val_loss, val_acc = self._evaluate_loss(model, validation, loss_fn)
            scheduler.step()
            history.append(
                {
                    "epoch": epoch,
                    "train_loss": train_loss,
                    "train_accuracy": train_acc,
                    "validation_loss": val_loss,
                    "validation_accuracy": val_acc,
                    "lr": optimizer.param_groups[0]["lr"],
                }
            )
            if val_loss < best_loss:
                best_loss, stale = val_loss, 0
                self._save("best", self._best_payload(model, epoch, val_loss))
            else:
                stale += 1
            finished = stale >= config.patience or epoch == config.epochs - 1
            self._save(
                "last",
                {
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "epoch": epoch,
                    "history": history,
                    "best_loss": best_loss,
                    "stale": stale,
                    "finished": finished,
                },
            )
            log.info("epoch", extra={"task": self.task, **history[-1]})
            if stale >= config.patience:
                break
        best = self._load("best")
        if best is not None:
            model.load_state_dict(best["model"])
        return model, history

    def _best_payload(self, model: nn.Module, epoch: int, loss: float) -> dict[str, Any]:
        return {
            "model": model.state_dict(),
            "architecture": self.config.architecture,
            "task": self.task,
            "classes": list(self.classes),
            "epoch": epoch,
            "validation_loss": loss,
            # How inference must prepare a frame: what evaluation did.
            "preprocessing": {
                "resize": [self.config.image_size, self.config.image_size],
                "mean": list(MEAN),
                "std": list(STD),
                "color": "RGB",
            },
        }

    def _loader(self, dataset: FrameDataset, *, shuffle: bool, epoch: int = 0) -> DataLoader[Any]:
        generator = torch.Generator().manual_seed(self.config.seed * 100_003 + epoch)
        return DataLoader(
            dataset,
            batch_size=self.config.batch_size,
            shuffle=shuffle,
            # batch norm cannot train on a batch of one: a last lone frame waits an epoch
            drop_last=shuffle and len(dataset) % self.config.batch_size == 1,
            num_workers=self.config.workers,
            pin_memory=self.device.type == "cuda",
            generator=generator,
        )

    def _forward(self, model: nn.Module, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True, memory_format=torch.channels_last)
        if self.device.type == "cuda":
            with torch.autocast("cuda", dtype=torch.bfloat16):
                logits: torch.Tensor = model(images)
                return logits.float()
        out: torch.Tensor = model(images)
        return out

    def _epoch(
        self,
        model: nn.Module,
        dataset: FrameDataset,
        loss_fn: nn.Module,
        optimizer: torch.optim.Optimizer,
        epoch: int,
        max_batches: int | None = None,
    ) -> tuple[float, float]:
        """One pass over ``dataset`` (the first ``max_batches`` batches when given): the mean
        loss and the accuracy."""
        model.train()
        torch.manual_seed(self.config.seed * 100_003 + epoch)  # augmentation in this process
        total, correct, loss_sum = 0, 0, 0.0
        for step, (images, batch_targets) in enumerate(
            self._loader(dataset, shuffle=True, epoch=epoch)
        ):
            if max_batches is not None and step >= max_batches:
                break
            targets = batch_targets.to(self.device, non_blocking=True)
            optimizer.zero_grad(set_to_none=True)
            logits = self._forward(model, images)
            loss = loss_fn(logits, targets)
            loss.backward()
            optimizer.step()
            loss_sum += loss.item() * len(targets)
            correct += int((logits.argmax(1) == targets).sum())
            total += len(targets)
        return loss_sum / max(total, 1), correct / max(total, 1)

    @torch.no_grad()
    def _evaluate_loss(
        self, model: nn.Module, dataset: FrameDataset, loss_fn: nn.Module
    ) -> tuple[float, float]:
        model.eval()
        total, correct, loss_sum = 0, 0, 0.0
        for images, batch_targets in self._loader(dataset, shuffle=False):
            targets = batch_targets.to(self.device)
            logits = self._forward(model, images)
            loss_sum += float(loss_fn(logits, targets)) * len(targets)
            correct += int((logits.argmax(1) == targets).sum())
            total += len(targets)
        return loss_sum / max(total, 1), correct / max(total, 1)

    @torch.no_grad()
    def probabilities(self, model: nn.Module, dataset: FrameDataset) -> Iterator[list[float]]:
        """Class probabilities of every frame of ``dataset``, in order."""
        model.eval()
        for images, _ in self._loader(dataset, shuffle=False):
            yield from torch.softmax(self._forward(model, images), dim=1).cpu().tolist()


# --- the round ------------------------------------------------------------------------------


def _device(choice: str) -> torch.device:
    if choice == "cuda" or (choice == "auto" and torch.cuda.is_available()):
        if not torch.cuda.is_available():
            raise PermanentError("--device cuda: no GPU is visible to torch here")
        return torch.device("cuda")
    return torch.device("cpu")


def _labels_by_annotator(services: Context[LabelSettings]) -> dict[str, dict[str, Label]]:
    out: dict[str, dict[str, Label]] = {}
    for record in iter_labels(services.documents):
        out.setdefault(record.annotator, {})[record.frame_id] = record.label
    return out


def _start_weights(
    services: Context[LabelSettings], config: RoundConfig, task: str
) -> tuple[Mapping[str, torch.Tensor] | None, str]:
    """Round N: round N-1's best; round 0: the base weights, or none (random)."""
    if config.round > 0:
        name = round_path(config.round - 1, f"checkpoints/{task}_best.pt")
        try:
            data = services.blobs.read(services.settings.models_bucket, name)
        except NotFoundError as exc:
            raise PermanentError(
                f"round {config.round} starts from round {config.round - 1}'s best checkpoint, "
                f"and gs://{services.settings.models_bucket}/{name} is missing: run round "
                f"{config.round - 1} first"
            ) from exc
        return _state_dict(_torch_load(data)), f"round {config.round - 1}'s best ({name})"
    if config.base_weights is None:
        return None, "random initialisation (no --base-weights)"
    uri = config.base_weights
    if uri.endswith("/"):
        uri = f"{uri}{task}.pt"
    try:
        state = _state_dict(_torch_load(_read_object(services, uri)))
    except (RuntimeError, ValueError, EOFError, OSError) as exc:  # not a torch file at all
        raise BaseWeightsError(f"--base-weights {uri}: not a torch checkpoint ({exc})") from exc
    return state, f"base weights {uri}"


def run_round(services: Context[LabelSettings], config: RoundConfig, workdir: Path) -> RoundResult:
    """Run round ``config.round`` (see the module docstring); a finished one does nothing."""
    if round_done(services, config.round):
        return RoundResult(config.round, "already_done")
    started = time.perf_counter()
    device = _device(config.device)
    record_round(
        services,
        config.round,
        {"status": "running", "started_at": datetime.now(UTC), "device": device.type},
    )
    try:
        result = _run(services, config, workdir, device)
    except Exception as exc:
        record_round(
            services,
            config.round,
            {"status": "failed", "error": str(exc)[:2000], "finished_at": datetime.now(UTC)},
        )
        raise
    result.metrics["seconds"] = round(time.perf_counter() - started, 1)
    return result


def _run(
    services: Context[LabelSettings], config: RoundConfig, workdir: Path, device: torch.device
) -> RoundResult:
    schema = services.settings.label_schema
    tasks = list(schema.tasks)
    labels = _labels_by_annotator(services)
    agreed = consensus(schema, labels)
    cache = FrameCache(services, workdir / "frames")
    unusable = cache.fetch(sorted(agreed.examples))
    examples = {f: e for f, e in agreed.examples.items() if f not in unusable}
    check_enough(schema, examples, min_per_class=config.min_per_class)
    saved_test = read_json(services, round_path(0, "test_set.json"))
    if config.round > 0 and saved_test is None:
        raise PermanentError("round 0 has not drawn the test set yet: run round 0 first")
    test, train, validation = split_examples(
        schema,
        examples,
        test_frames=None if saved_test is None else saved_test["frames"],
        test_share=config.test_share,
        validation_share=config.validation_share,
        seed=config.seed,
    )
    if config.round == 0:
        test = write_test_set(services, test)
    write_json(
        services,
        round_path(config.round, "splits.json"),
        {
            "train": train,
            "validation": validation,
            "test": test,
            "left_out": agreed.left_out,
            "unusable_frames": unusable,
            "seed": config.seed,
        },
    )
    sets = {"train": train, "validation": validation, "test": test}
    metrics: dict[str, dict[str, TaskMetrics]] = {name: {} for name in sets}
    histories: dict[str, list[dict[str, float]]] = {}
    started_from: dict[str, str] = {}
    trained: dict[str, tuple[Trainer, nn.Module]] = {}
    for task in tasks:
        classes = schema.tasks[task]
        index = {value: i for i, value in enumerate(classes)}
        start, origin = _start_weights(services, config, task)
        trainer = Trainer(services, config, task, classes, device, origin)
        started_from[task] = origin

        def dataset(
            frames: Sequence[str],
            augment: bool,
            _task: str = task,
            _index: dict[str, int] = index,
        ) -> FrameDataset:
            return FrameDataset(
                [cache.path(f) for f in frames],
                [_index[examples[f][_task]] for f in frames],
                train_transform(config.image_size)
                if augment
                else eval_transform(config.image_size),
            )

        model, histories[task] = trainer.fit(
            dataset(train, True), dataset(validation, False), start
        )
        trained[task] = (trainer, model)
        for name, frames in sets.items():
            probabilities = list(trainer.probabilities(model, dataset(frames, False)))
            predicted = [classes[max(range(len(p)), key=p.__getitem__)] for p in probabilities]
            metrics[name][task] = classification_metrics(
                [examples[f][task] for f in frames], predicted, classes
            )
    queue, scored = _score(services, config, workdir, cache, trained, labels, set(test))
    previous = (
        read_json(services, round_path(config.round - 1, "metrics.json")) if config.round else None
    )
    previous_metrics = (
        {
            s: {t: TaskMetrics.model_validate(m) for t, m in v.items()}
            for s, v in previous["sets"].items()
        }
        if previous
        else None
    )
    guidance = stopping_guidance(metrics, previous_metrics)
    kappa = agreement(schema, labels)
    report = {
        "round": config.round,
        "config": config.model_dump(),
        "device": device.type,
        "started_from": started_from,
        "examples": len(examples),
        "left_out": len(agreed.left_out),
        "unusable_frames": unusable,
        "sets": {
            name: {t: m.model_dump() for t, m in by_task.items()}
            for name, by_task in metrics.items()
        },
        "history": histories,
        "kappa": {
            task: {f"{a}|{b}": k.model_dump() for (a, b), k in item.pairwise.items()}
            for task, item in kappa.items()
        },
        "guidance": guidance.model_dump(),
        "scored_frames": scored,
        "queue_head": queue[:10],
    }
    write_json(services, round_path(config.round, "metrics.json"), report)
    version = f"round-{config.round:02d}"
    write_json(
        services, round_path(config.round, "queue.json"), {"version": version, "frame_ids": queue}
    )
    services.documents.set(
        services.settings.label_queue_document,
        {
            "version": version,
            "frame_ids": queue,
            "round": config.round,
            "written_at": datetime.now(UTC),
        },
    )
    _plots(services, config, histories, metrics, schema.tasks)
    services.blobs.write(
        services.settings.models_bucket,
        round_path(config.round, "DONE"),
        datetime.now(UTC).isoformat().encode(),
        content_type="text/plain",
    )
    summary = {
        task: {
            "test_accuracy": metrics["test"][task].accuracy,
            "test_macro_f1": metrics["test"][task].macro_f1,
        }
        for task in tasks
    }
    record_round(
        services,
        config.round,
        {
            "status": "done",
            "finished_at": datetime.now(UTC),
            "summary": summary,
            "guidance": guidance.advice,
            "queue_size": len(queue),
            "error": None,
        },
    )
    return RoundResult(config.round, "done", report, queue)


def _score(
    services: Context[LabelSettings],
    config: RoundConfig,
    workdir: Path,
    cache: FrameCache,
    trained: Mapping[str, tuple[Trainer, nn.Module]],
    labels: Mapping[str, Mapping[str, Label]],
    test: set[str],
) -> tuple[list[str], int]:
    """Score every frame neither labelled nor in the test set; the queue and how many."""
    labelled = {frame for answers in labels.values() for frame in answers}
    index = load_frames(services.documents, seal=False)  # batches are the labelling's
    pool = sorted(f for f in index.batches if f not in labelled and f not in test)
    bad = cache.fetch(pool)
    pool = [f for f in pool if f not in bad]
    by_task: dict[str, list[list[float]]] = {}
    for task, (trainer, model) in trained.items():
        dataset = FrameDataset(
            [cache.path(f) for f in pool], [0] * len(pool), eval_transform(config.image_size)
        )
        by_task[task] = list(trainer.probabilities(model, dataset))
    rows = [(frame, {task: by_task[task][i] for task in trained}) for i, frame in enumerate(pool)]
    table = workdir / "scores.jsonl"
    with table.open("wb") as out:
        for frame, probabilities in rows:
            out.write(
                orjson.dumps(
                    {
                        "frame": frame,
                        "probabilities": probabilities,
                        "entropy": sum(entropy(p) for p in probabilities.values()),
                    }
                )
                + b"\n"
            )
    services.blobs.write(
        services.settings.models_bucket,
        round_path(config.round, "scores.jsonl"),
        table.read_bytes(),
        content_type="application/x-ndjson",
    )
    return [frame for frame, _ in rank_uncertain(rows, config.top_k)], len(rows)


def _plots(
    services: Context[LabelSettings],
    config: RoundConfig,
    histories: Mapping[str, list[dict[str, float]]],
    metrics: Mapping[str, Mapping[str, TaskMetrics]],
    tasks: Mapping[str, tuple[str, ...]],
) -> None:
    """Training curves and test confusion matrices, as PNG."""
    import matplotlib  # noqa: PLC0415 (plots only)

    matplotlib.use("Agg")
    from matplotlib import pyplot  # noqa: PLC0415
    from matplotlib.ticker import MaxNLocator  # noqa: PLC0415

    for task, history in histories.items():
        figure, (loss, accuracy) = pyplot.subplots(1, 2, figsize=(9, 3.5))
        epochs = [h["epoch"] for h in history]
        for kind in ("train", "validation"):
            loss.plot(epochs, [h[f"{kind}_loss"] for h in history], label=kind)
            accuracy.plot(epochs, [h[f"{kind}_accuracy"] for h in history], label=kind)
        loss.set(title=f"{task}: loss", xlabel="epoch")
        accuracy.set(title=f"{task}: accuracy", xlabel="epoch", ylim=(0, 1))
        for axes in (loss, accuracy):
            axes.xaxis.set_major_locator(MaxNLocator(integer=True))  # epochs are whole
        loss.legend()
        figure.tight_layout()  # the axis labels inside the picture
        _save_figure(services, config, figure, f"plots/{task}_curves.png")
        pyplot.close(figure)
        classes = tasks[task]
        matrix = metrics["test"][task].confusion
        figure, axes = pyplot.subplots(figsize=(4.5, 4))
        axes.imshow(matrix, cmap="Blues")
        axes.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
        axes.set_yticks(range(len(classes)), classes)
        axes.set(title=f"{task}: test confusion", xlabel="predicted", ylabel="true")
        darkest = max((max(row) for row in matrix), default=0)
        for i, row in enumerate(matrix):
            for j, count in enumerate(row):
                # white on the dark half of the colour map, black on the light half
                light = darkest == 0 or count < darkest / 2
                axes.text(j, i, str(count), ha="center", va="center",
                          color="black" if light else "white")  # fmt: skip
        figure.tight_layout()
        _save_figure(services, config, figure, f"plots/{task}_confusion.png")
        pyplot.close(figure)


def _save_figure(
    services: Context[LabelSettings], config: RoundConfig, figure: Any, name: str
) -> None:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    services.blobs.write(
        services.settings.models_bucket,
        round_path(config.round, name),
        buffer.getvalue(),
        content_type="image/png",
    )

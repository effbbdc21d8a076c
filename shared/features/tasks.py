"""One task of a run: its slice of the manifest, each video decoded once, each result written
once.

For every video of the slice (:class:`~shared.platform.sharding.TaskSlot`), the extractors
whose result for this content (MD5) and version is already in the bucket are skipped; the
others run together on one decode, the results of their requirements read from their
checkpoints. Each result is written as its own object, only if none is there
(``if_generation_match=0``): a retried or restarted task, or a second run over the same
videos, computes nothing twice, and a new version of one extractor recomputes that one only.

A video that cannot be extracted (not decodable, zero length, audio only, outside the limits,
or an extractor failing on it) is recorded in ``failures/`` with the reason and skipped, now
and by later tasks of any run (``retry_failed`` tries it again); the task goes on. What is
not the video's fault (the bucket unreachable) propagates: the task fails and Cloud Run
retries it, and the retry resumes where it stopped.

The task keeps a progress record of its slice as it goes (:mod:`shared.features.progress`):
what the web app's features page shows, without listing the results.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict

from shared.core.errors import (
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    TransientError,
)
from shared.features.extract import extract_video, plan
from shared.features.progress import TaskRecorder
from shared.features.runs import (
    ManifestEntry,
    failure_path,
    load_manifest,
    load_run,
    result_path,
)
from shared.features.settings import FeatureSettings
from shared.features.specs import EXTRACTORS, ExtractorSpec
from shared.platform.context import Context
from shared.platform.sharding import TaskSlot

__all__ = ["Failure", "StoredResult", "TaskReport", "VideoOutcome", "read_result", "run_task"]

log = logging.getLogger("vidcurate.features")


class StoredResult(BaseModel):
    """A result object: one (video, extractor, version)."""

    model_config = ConfigDict(extra="forbid")

    object: str
    video_id: str
    md5: str
    extractor: str
    version: str
    seconds: float  # the video's extraction, all its extractors together
    finished: datetime
    result: dict[str, Any]


class Failure(BaseModel):
    """A video that could not be extracted."""

    object: str
    video_id: str
    md5: str
    extractors: list[str]
    reason: str
    at: datetime


class VideoOutcome(BaseModel):
    """What a task did with one video (one line of its output)."""

    kind: Literal["computed", "already_done", "failed", "skipped_failed"]
    object: str
    computed: list[str] = []
    skipped: list[str] = []
    failed: str | None = None
    seconds: float


class TaskReport(BaseModel):
    """A task's summary."""

    run: str
    task: int
    tasks: int
    videos: int
    computed: int
    already_done: int
    failed: int
    skipped_failed: int
    seconds: float


def _read_json(services: Context[FeatureSettings], name: str) -> dict[str, Any] | None:
    try:
        data = services.blobs.read(services.settings.features_bucket, name)
    except NotFoundError:
        return None
    value = orjson.loads(data)
    return value if isinstance(value, dict) else None


def _done(services: Context[FeatureSettings], spec: ExtractorSpec, entry: ManifestEntry) -> bool:
    """Whether this content's result of this version is stored (one metadata read)."""
    try:
        info = services.blobs.stat(
            services.settings.features_bucket, result_path(spec.name, spec.version, entry.object)
        )
    except NotFoundError:
        return False
    return info.metadata.get("md5") == entry.md5


def read_result(
    services: Context[FeatureSettings], extractor: str, entry: ManifestEntry
) -> dict[str, Any] | None:
    """The stored result of the current version of ``extractor`` for this content (None:
    none yet)."""
    spec = EXTRACTORS[extractor]
    stored = _read_json(services, result_path(spec.name, spec.version, entry.object))
    if stored is None or stored.get("md5") != entry.md5:
        return None
    result: dict[str, Any] = stored["result"]
    return result


def _known(
    services: Context[FeatureSettings], spec: ExtractorSpec, entry: ManifestEntry
) -> BaseModel:
    stored = _read_json(services, result_path(spec.name, spec.version, entry.object))
    if stored is None:
        raise NotFoundError(f"{spec.name} result of {entry.object} vanished")
    model: type[BaseModel] = spec.load().Result
    return model.model_validate(StoredResult.model_validate(stored).result)


def run_task(
    services: Context[FeatureSettings],
    run: str,
    slot: TaskSlot,
    *,
    extractors: Sequence[str] | None = None,
    retry_failed: bool = False,
    on_video: Callable[[VideoOutcome], None] | None = None,
) -> TaskReport:
    """Extract this task's slice of the run (see the module docstring)."""
    started = time.monotonic()
    record = load_run(services, run)
    specs = plan(extractors or record.extractors)
    mine = slot.take(load_manifest(services, run))
    log.info(
        "features: task %d of %d of run %s: %d videos, extractors %s",
        slot.index,
        slot.count,
        run,
        len(mine),
        ",".join(s.name for s in specs),
    )
    counts = dict.fromkeys(("computed", "already_done", "failed", "skipped_failed"), 0)
    recorder = TaskRecorder(services, run, slot.index, slot.count, specs, len(mine))
    recorder.start()
    try:
        for entry in mine:
            outcome = _video(services, entry, specs, retry_failed=retry_failed)
            counts[outcome.kind] += 1
            recorder.video(
                outcome.kind, entry, [*outcome.computed, *outcome.skipped], outcome.failed
            )
            if on_video is not None and outcome.kind != "skipped_failed":
                on_video(outcome)
    except BaseException as exc:
        recorder.stop(f"{type(exc).__name__}: {exc}")
        raise
    recorder.finish()
    return TaskReport(
        run=run,
        task=slot.index,
        tasks=slot.count,
        videos=len(mine),
        seconds=round(time.monotonic() - started, 3),
        **counts,
    )


def _video(
    services: Context[FeatureSettings],
    entry: ManifestEntry,
    specs: Sequence[ExtractorSpec],
    *,
    retry_failed: bool,
) -> VideoOutcome:
    began = time.monotonic()
    previous = _read_json(services, failure_path(entry.object))
    done = {spec.name for spec in specs if _done(services, spec, entry)}
    if previous is not None and previous.get("md5") == entry.md5 and not retry_failed:
        return VideoOutcome(
            kind="skipped_failed",
            object=entry.object,
            skipped=sorted(done),
            failed=str(previous.get("reason", "(not recorded)")),
            seconds=0.0,
        )
    todo = [spec for spec in specs if spec.name not in done]
    if not todo:
        return VideoOutcome(
            kind="already_done", object=entry.object, skipped=sorted(done), seconds=0.0
        )
    needed = {r for spec in todo for r in spec.requires if r in done}
    try:
        known = {spec.name: _known(services, spec, entry) for spec in specs if spec.name in needed}
        with services.blobs.open_read(
            services.settings.videos_bucket, entry.object, generation=entry.generation
        ) as reader:
            results = extract_video(
                reader,
                [spec.name for spec in todo],
                label=entry.object,
                limits=services.settings.feature_limits(),
                known=known,
            )
    except (TransientError, OSError):
        raise  # not the video's fault: the task fails and is retried
    except NotFoundError as exc:
        reason = f"gone from the videos bucket ({exc})"
        return _fail(services, entry, todo, done, reason, began)
    except PermanentError as exc:
        return _fail(services, entry, todo, done, str(exc), began)
    except Exception as exc:  # an extractor failing on this video: recorded, not fatal
        log.exception("features: %s failed", entry.object)
        return _fail(services, entry, todo, done, f"{type(exc).__name__}: {exc}", began)
    seconds = round(time.monotonic() - began, 3)
    finished = datetime.now(UTC)
    for spec in todo:
        stored = StoredResult(
            object=entry.object,
            video_id=entry.video_id,
            md5=entry.md5,
            extractor=spec.name,
            version=spec.version,
            seconds=seconds,
            finished=finished,
            result=results[spec.name].model_dump(mode="json"),
        )
        _write_once(services, result_path(spec.name, spec.version, entry.object), stored, entry)
    if previous is not None:
        services.blobs.delete(services.settings.features_bucket, failure_path(entry.object))
    return VideoOutcome(
        kind="computed",
        object=entry.object,
        computed=[s.name for s in todo],
        skipped=sorted(done),
        seconds=seconds,
    )


def _write_once(
    services: Context[FeatureSettings], name: str, stored: StoredResult, entry: ManifestEntry
) -> None:
    data = stored.model_dump_json().encode()
    bucket = services.settings.features_bucket
    try:
        services.blobs.write(
            bucket,
            name,
            data,
            content_type="application/json",
            metadata={"md5": entry.md5},
            if_generation_match=0,
        )
    except PreconditionFailedError:
        # The result of another content (the object was replaced since): this one replaces it.
        services.blobs.write(
            bucket, name, data, content_type="application/json", metadata={"md5": entry.md5}
        )


def _fail(
    services: Context[FeatureSettings],
    entry: ManifestEntry,
    todo: Sequence[ExtractorSpec],
    done: set[str],
    reason: str,
    began: float,
) -> VideoOutcome:
    log.warning("features: %s: %s", entry.object, reason)
    failure = Failure(
        object=entry.object,
        video_id=entry.video_id,
        md5=entry.md5,
        extractors=[s.name for s in todo],
        reason=reason,
        at=datetime.now(UTC),
    )
    services.blobs.write(
        services.settings.features_bucket,
        failure_path(entry.object),
        failure.model_dump_json().encode(),
        content_type="application/json",
    )
    return VideoOutcome(
        kind="failed",
        object=entry.object,
        skipped=sorted(done),
        failed=reason,
        seconds=round(time.monotonic() - began, 3),
    )

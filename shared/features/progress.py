"""Where runs stand, cheaply enough to be asked every few seconds (the web app's features
page): what each task of a run has recorded about its slice, not a listing of the results.

Every task keeps one progress record of its slice (:class:`TaskRecorder`), written when it
starts, at most every :data:`PROGRESS_SECONDS` while it goes, and when it ends or stops::

    progress/<run>/<extractors>/<tasks>/<task>.json

Its counters (videos seen, extracted, already done, failed; per extractor the videos whose
result is stored and those that failed without it; state, times) are also in the object's
metadata, so one listing of ``progress/<run>/`` (one object per task) gives a run's
progress without reading any body. The body adds the first :data:`FAILURES_KEPT` failures
the task met, with their reasons. A task retried on the same slot (Cloud Run's retry, or
``features run --run``) keeps showing its previous record until it has seen more videos
than it had: a run's counts never go back while a retry catches up.

:func:`run_progress` sums the records per extractor, from the group of tasks (one
``features run`` or Cloud Run execution: the same extractors and task count) that knows
most about it; :func:`list_runs` lists the runs, latest first. Both read a bounded number of
objects whatever the size of the collection (the manifest is not read: the run's record
holds its size). Light: no decoding library is imported here.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from itertools import islice
from pathlib import PurePosixPath
from typing import Literal

import orjson
from pydantic import BaseModel, ValidationError

from shared.core.errors import NotFoundError, VidcurateError
from shared.features.runs import (
    ManifestEntry,
    Run,
    failure_path,
    load_run,
    run_path,
    table_path,
)
from shared.features.specs import EXTRACTORS, ExtractorSpec, plan
from shared.platform.context import Context
from shared.platform.settings import PlatformSettings
from shared.platform.sharding import TaskSlot

__all__ = [
    "FAILURES_KEPT",
    "PROGRESS_SECONDS",
    "ExtractorProgress",
    "FailureView",
    "RunProgress",
    "TableFile",
    "TaskFailure",
    "TaskProgress",
    "TaskRecorder",
    "TaskRow",
    "TaskSet",
    "list_runs",
    "progress_path",
    "run_progress",
]

log = logging.getLogger("vidcurate.features")

PROGRESS_SECONDS = 5.0  # a task's record is written at most this often while it goes
FAILURES_KEPT = 20  # failures a task's record keeps (the first it met)
FAILURES_SHOWN = 50  # failures a run's progress shows
TASKS_SHOWN = 200  # task rows a run's progress shows per group of tasks
MAX_RECORDS = 20_000  # progress records listed for a run (two groups of the most tasks)
MAX_RUN_OBJECTS = 20_000  # objects listed under runs/ (two per run)
READERS = 16  # objects read at once
State = Literal["running", "finished", "stopped"]


class TaskFailure(BaseModel):
    """A video a task could not extract."""

    object: str
    md5: str
    reason: str


class TaskProgress(BaseModel):
    """What one task of a run has done with its slice so far."""

    run: str
    task: int
    tasks: int
    extractors: dict[str, str]  # name -> version, in running order
    videos: int  # in the task's slice
    seen: int = 0
    computed: int = 0
    already_done: int = 0
    failed: int = 0
    skipped_failed: int = 0
    done_by: dict[str, int] = {}  # per extractor: videos seen whose result is stored
    failed_by: dict[str, int] = {}  # per extractor: failed videos seen without it
    state: State = "running"
    error: str | None = None
    started: datetime
    updated: datetime
    failures: list[TaskFailure] = []


def progress_path(run: str, extractors: Iterable[str], tasks: int, task: int) -> str:
    """The progress record of task ``task`` of ``tasks`` running ``extractors``."""
    return f"progress/{run}/{','.join(extractors)}/{tasks}/{task}.json"


class TaskRecorder:
    """Keeps a task's progress record (see the module docstring). Writing it is best-effort:
    a record that cannot be written is logged, and the task goes on."""

    def __init__(
        self,
        services: Context[PlatformSettings],
        run: str,
        task: int,
        tasks: int,
        specs: Sequence[ExtractorSpec],
        videos: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._services = services
        self._clock = clock
        self._last = -math.inf
        self._names = [spec.name for spec in specs]
        now = datetime.now(UTC)
        self.record = TaskProgress(
            run=run,
            task=task,
            tasks=tasks,
            extractors={spec.name: spec.version for spec in specs},
            videos=videos,
            done_by=dict.fromkeys(self._names, 0),
            failed_by=dict.fromkeys(self._names, 0),
            started=now,
            updated=now,
        )
        self.path = progress_path(run, self._names, tasks, task)
        self._before = self._previous()

    def _previous(self) -> TaskProgress | None:
        """This slot's record from an earlier attempt, if it is of the same slice."""
        try:
            data = self._services.blobs.read(self._services.settings.features_bucket, self.path)
            before = TaskProgress.model_validate_json(data)
        except NotFoundError:
            return None
        except (ValidationError, VidcurateError, OSError) as exc:
            log.warning("features: progress record %s unreadable: %s", self.path, exc)
            return None
        same = (before.extractors, before.videos) == (self.record.extractors, self.record.videos)
        return before if same and before.seen > 0 else None

    def start(self) -> None:
        """The task has begun."""
        self._write(force=True)

    def video(
        self, kind: str, entry: ManifestEntry, done: Iterable[str], reason: str | None
    ) -> None:
        """One video handled: ``kind`` as :class:`~shared.features.tasks.VideoOutcome`'s,
        ``done`` the extractors whose result is stored for it, ``reason`` why it failed."""
        record = self.record
        record.seen += 1
        setattr(record, kind, getattr(record, kind) + 1)
        stored = set(done)
        for name in self._names:
            if name in stored:
                record.done_by[name] += 1
            elif kind in ("failed", "skipped_failed"):
                record.failed_by[name] += 1
        if kind in ("failed", "skipped_failed") and len(record.failures) < FAILURES_KEPT:
            record.failures.append(
                TaskFailure(object=entry.object, md5=entry.md5, reason=reason or "(not recorded)")
            )
        self._write()

    def finish(self) -> None:
        """The task has gone through its slice."""
        self.record.state = "finished"
        self._write(force=True)

    def stop(self, error: str) -> None:
        """The task stops before the end of its slice (it is retried, or resumed)."""
        self.record.state = "stopped"
        self.record.error = error[:500]
        self._write(force=True)

    def _write(self, *, force: bool = False) -> None:
        moment = self._clock()
        if not force and moment - self._last < PROGRESS_SECONDS:
            return
        self._last = moment
        record = self.record
        record.updated = datetime.now(UTC)
        before = self._before
        if before is not None and record.seen < before.seen:
            # A retry catching up: what the earlier attempt knew, as of now.
            record = before.model_copy(
                update={"state": record.state, "error": record.error, "updated": record.updated}
            )
        counters = record.model_dump_json(exclude={"failures"})
        try:
            self._services.blobs.write(
                self._services.settings.features_bucket,
                self.path,
                record.model_dump_json().encode(),
                content_type="application/json",
                metadata={"progress": counters},
            )
        except (VidcurateError, OSError) as exc:
            log.warning("features: progress record %s not written: %s", self.path, exc)


# --- reading ---------------------------------------------------------------------------------


class ExtractorProgress(BaseModel):
    """Where one extractor of a run stands: videos of the run done, failed and left
    (None: no task has reported on it, and no table says)."""

    extractor: str
    version: str
    done: int | None
    failed: int | None
    left: int | None
    source: Literal["tasks", "table", "none"]


class TaskRow(BaseModel):
    """One task of a group, as its record says (``not started``: no record yet)."""

    task: int
    videos: int
    seen: int = 0
    computed: int = 0
    already_done: int = 0
    failed: int = 0
    skipped_failed: int = 0
    state: Literal["not started", "running", "finished", "stopped"] = "not started"
    error: str | None = None
    started: datetime | None = None
    updated: datetime | None = None


class TaskSet(BaseModel):
    """The tasks that ran the same extractors in the same number (one ``features run`` or
    Cloud Run execution, and its retries)."""

    extractors: dict[str, str]
    tasks: int
    reported: int
    videos: int
    seen: int
    state: Literal["waiting", "running", "finished", "stopped"]
    started: datetime
    updated: datetime
    videos_per_hour: float | None
    eta_seconds: float | None
    counts: dict[str, int]  # tasks per state
    rows: list[TaskRow]  # the first TASKS_SHOWN tasks


class FailureView(BaseModel):
    """A video of the run that could not be extracted, as ``failures/`` holds it."""

    object: str
    video_id: str
    reason: str
    extractors: list[str]
    at: datetime | None


class TableFile(BaseModel):
    """A consolidated Parquet table of the run."""

    extractor: str
    object: str
    size: int
    rows: int | None
    written: datetime


class RunProgress(BaseModel):
    """Where a run stands (see the module docstring)."""

    run: Run
    bucket: str
    state: Literal["not started", "waiting", "running", "finished", "stopped"]
    extractors: list[ExtractorProgress]
    failures: list[FailureView]
    failures_complete: bool  # every failure the tasks kept is shown
    task_sets: list[TaskSet]  # latest first
    tables: list[TableFile]
    videos_per_hour: float | None
    eta_seconds: float | None
    updated: datetime | None  # the latest report of a task
    checked: datetime


def _records(services: Context[PlatformSettings], run: str) -> list[tuple[str, TaskProgress]]:
    """The run's progress records from their metadata: one bounded listing, no body read."""
    found = []
    prefix = f"progress/{run}/"
    for blob in islice(services.blobs.list(services.settings.features_bucket, prefix), MAX_RECORDS):
        raw = blob.metadata.get("progress")
        if raw is None:
            continue
        try:
            found.append((blob.name, TaskProgress.model_validate_json(raw)))
        except ValidationError as exc:
            log.warning("features: progress record %s unreadable: %s", blob.name, exc)
    return found


def _task_set(
    run: Run, records: Sequence[TaskProgress], now: datetime
) -> tuple[TaskSet, dict[str, int], dict[str, int]]:
    first = records[0]
    tasks = first.tasks
    by_task = {r.task: r for r in sorted(records, key=lambda r: r.updated)}
    rows: list[TaskRow] = []
    counts = dict.fromkeys(("not started", "running", "finished", "stopped"), 0)
    for index in range(tasks):
        record = by_task.get(index)
        if record is None:
            row = TaskRow(task=index, videos=TaskSlot(index, tasks).size(run.videos))
        else:
            row = TaskRow.model_validate(record.model_dump(exclude={"failures"}))
        counts[row.state] += 1
        if len(rows) < TASKS_SHOWN:
            rows.append(row)
    reported = list(by_task.values())
    if counts["running"]:
        state: Literal["waiting", "running", "finished", "stopped"] = "running"
    elif counts["stopped"]:
        state = "stopped"
    elif counts["finished"] == tasks:
        state = "finished"
    else:
        state = "waiting"
    seen = sum(r.seen for r in reported)
    started = min(r.started for r in reported)
    updated = max(r.updated for r in reported)
    rate = eta = None
    span = ((now if state != "finished" else updated) - started).total_seconds()
    if seen and span > 0:
        rate = seen / span * 3600
        left = run.videos - seen
        eta = left / rate * 3600 if left > 0 and state != "finished" else None
    done = {name: sum(r.done_by.get(name, 0) for r in reported) for name in first.extractors}
    failed = {name: sum(r.failed_by.get(name, 0) for r in reported) for name in first.extractors}
    group = TaskSet(
        extractors=first.extractors,
        tasks=tasks,
        reported=len(reported),
        videos=run.videos,
        seen=seen,
        state=state,
        started=started,
        updated=updated,
        videos_per_hour=round(rate, 1) if rate else None,
        eta_seconds=round(eta) if eta else None,
        counts={k: v for k, v in counts.items() if v},
        rows=rows,
    )
    return group, done, failed


def _tables(services: Context[PlatformSettings], run: str) -> list[TableFile]:
    prefix = table_path(run, "")[: -len(".parquet")]
    found = []
    for blob in islice(services.blobs.list(services.settings.features_bucket, prefix), 100):
        name = blob.name[len(prefix) :]
        if not name.endswith(".parquet") or "/" in name:
            continue
        rows = blob.metadata.get("rows")
        found.append(
            TableFile(
                extractor=name[: -len(".parquet")],
                object=blob.name,
                size=blob.size,
                rows=int(rows) if rows and rows.isdigit() else None,
                written=blob.updated,
            )
        )
    order = list(EXTRACTORS)
    return sorted(found, key=lambda t: order.index(t.extractor) if t.extractor in order else 99)


def _failures(
    services: Context[PlatformSettings], candidates: Sequence[tuple[str, str]]
) -> list[FailureView]:
    """The candidates' failure records as ``failures/`` holds them now (one read each):
    those retried since with success, or of other content, are left out."""
    bucket = services.settings.features_bucket

    def read(candidate: tuple[str, str]) -> FailureView | None:
        name, md5 = candidate
        try:
            failure = orjson.loads(services.blobs.read(bucket, failure_path(name)))
        except NotFoundError:
            return None
        except (orjson.JSONDecodeError, VidcurateError, OSError) as exc:
            log.warning("features: failure record of %s unreadable: %s", name, exc)
            return None
        if not isinstance(failure, dict) or failure.get("md5") != md5:
            return None
        at = failure.get("at")
        return FailureView(
            object=name,
            video_id=str(failure.get("video_id") or PurePosixPath(name).stem),
            reason=str(failure.get("reason", "(not recorded)")),
            extractors=[str(e) for e in failure.get("extractors", [])],
            at=datetime.fromisoformat(at) if isinstance(at, str) else None,
        )

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        return [view for view in pool.map(read, candidates) if view is not None]


def run_progress(services: Context[PlatformSettings], run: str) -> RunProgress:
    """Where ``run`` stands (ConfigError when there is no such run): per extractor, the
    videos done, failed and left; the groups of tasks and each task's progress; the failures
    with their reasons; throughput and ETA; the consolidated tables. Reads the run's record,
    one listing of its progress records (their metadata), the bodies of those with failures
    (at most enough for :data:`FAILURES_SHOWN`), those failures' records and one listing of
    its tables: bounded by the number of tasks, never by the number of videos."""
    record = load_run(services, run)
    now = datetime.now(UTC)
    bucket = services.settings.features_bucket
    listed = _records(services, run)
    groups: dict[tuple[tuple[tuple[str, str], ...], int], list[tuple[str, TaskProgress]]] = {}
    for name, progress in listed:
        key = (tuple(progress.extractors.items()), progress.tasks)
        groups.setdefault(key, []).append((name, progress))
    sets = []
    for members in groups.values():
        group, done_by, failed_by = _task_set(record, [p for _, p in members], now)
        sets.append((group, done_by, failed_by, members))
    sets.sort(key=lambda s: s[0].updated, reverse=True)

    ran = [*record.extractors, *(n for s in sets for n in s[0].extractors)]
    names = [spec.name for spec in plan(n for n in ran if n in EXTRACTORS)]
    tables = _tables(services, run)
    rows_of = {t.extractor: t.rows for t in tables}
    extractors = []
    for name in names:
        version = EXTRACTORS[name].version
        # The group that knows most about this extractor (of its current version).
        best = max(
            (s for s in sets if s[0].extractors.get(name) == version),
            key=lambda s: (s[1][name] + s[2][name], s[0].updated),
            default=None,
        )
        if best is not None:
            done, failed = best[1][name], best[2][name]
            left = max(0, record.videos - done - failed)
            extractors.append(
                ExtractorProgress(
                    extractor=name,
                    version=version,
                    done=done,
                    failed=failed,
                    left=left,
                    source="tasks",
                )
            )
        elif rows_of.get(name) is not None:
            extractors.append(
                ExtractorProgress(
                    extractor=name,
                    version=version,
                    done=rows_of[name],
                    failed=None,
                    left=None,
                    source="table",
                )
            )
        else:
            extractors.append(
                ExtractorProgress(
                    extractor=name,
                    version=version,
                    done=None,
                    failed=None,
                    left=None,
                    source="none",
                )
            )

    # Failures: from the records that met some, latest group first, checked in failures/.
    met = [
        name
        for group in sets
        for name, progress in sorted(group[3], key=lambda m: m[1].task)
        if progress.failed or progress.skipped_failed
    ]
    failures, complete = _met_failures(services, met)

    latest = sets[0][0] if sets else None
    return RunProgress(
        run=record,
        bucket=bucket,
        state=latest.state if latest else "not started",
        extractors=extractors,
        failures=failures,
        failures_complete=complete,
        task_sets=[s[0] for s in sets],
        tables=tables,
        videos_per_hour=latest.videos_per_hour if latest else None,
        eta_seconds=latest.eta_seconds if latest else None,
        updated=latest.updated if latest else None,
        checked=now,
    )


def _met_failures(
    services: Context[PlatformSettings], records: Sequence[str]
) -> tuple[list[FailureView], bool]:
    """The failures the ``records`` kept (their bodies read a batch at a time, until there
    are enough to show), as ``failures/`` holds them now; and whether that is all of them."""
    bucket = services.settings.features_bucket

    def body(name: str) -> TaskProgress | None:
        try:
            return TaskProgress.model_validate_json(services.blobs.read(bucket, name))
        except NotFoundError:
            return None
        except (ValidationError, VidcurateError, OSError) as exc:
            log.warning("features: progress record %s unreadable: %s", name, exc)
            return None

    candidates: dict[str, str] = {}
    complete = True
    with ThreadPoolExecutor(max_workers=READERS) as pool:
        for start in range(0, len(records), READERS):
            if len(candidates) >= FAILURES_SHOWN:
                complete = False
                break
            for progress in pool.map(body, records[start : start + READERS]):
                if progress is None:
                    continue
                if progress.failed + progress.skipped_failed > len(progress.failures):
                    complete = False
                for failure in progress.failures:
                    candidates.setdefault(failure.object, failure.md5)
    chosen = list(candidates.items())
    if len(chosen) > FAILURES_SHOWN:
        chosen, complete = chosen[:FAILURES_SHOWN], False
    return sorted(_failures(services, chosen), key=lambda f: f.object), complete


def list_runs(services: Context[PlatformSettings], *, limit: int = 50) -> list[Run]:
    """The latest ``limit`` runs, latest first (one bounded listing of ``runs/``, then each
    run's record; names sort by creation time)."""
    bucket = services.settings.features_bucket
    try:
        names = {
            PurePosixPath(blob.name).parent.name
            for blob in islice(services.blobs.list(bucket, "runs/"), MAX_RUN_OBJECTS)
            if blob.name.endswith("/run.json") and blob.name.count("/") == 2
        }
    except NotFoundError:  # no features bucket (yet): no run
        return []
    chosen = sorted(names, reverse=True)[: max(0, limit)]

    def read(name: str) -> Run | None:
        try:
            return Run.model_validate_json(services.blobs.read(bucket, run_path(name, "run.json")))
        except NotFoundError:
            return None
        except (ValidationError, VidcurateError, OSError) as exc:
            log.warning("features: run %s unreadable: %s", name, exc)
            return None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        runs = [run for run in pool.map(read, chosen) if run is not None]
    return sorted(runs, key=lambda r: (r.created, r.run), reverse=True)

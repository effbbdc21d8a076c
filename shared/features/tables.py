"""A run's results as Parquet tables, and where a run stands.

Per extractor, one row per video of the run's manifest that has its result: the video's
object, id and MD5, the extractor's version, the seconds its extraction took and when it
finished, then the result's fields as columns (per-shot and per-frame lists as nested list
columns of structs). The Arrow schema comes from the result's pydantic model, not from the
rows, so a table has the same columns whatever it holds (even none) and loads into BigQuery
(``bq load --source_format=PARQUET --parquet_enable_list_inference``).

The export joins them: one row per video of the manifest, a struct column per extractor
(null where it has no result) and the failure's reason, if any.

Results are read with a pool of threads: one object per (video, extractor), and a bucket
answers many reads at once.
"""

from __future__ import annotations

import io
import types
import typing
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Union

import orjson
import pyarrow as pa
import pyarrow.parquet as pq
from pydantic import BaseModel

from shared.core.errors import NotFoundError
from shared.features.extract import plan
from shared.features.runs import (
    ManifestEntry,
    failure_path,
    load_manifest,
    load_run,
    result_path,
    table_path,
)
from shared.features.settings import FeatureSettings
from shared.features.specs import EXTRACTORS, ExtractorSpec
from shared.platform.context import Context

__all__ = [
    "ExtractorStatus",
    "RunStatus",
    "arrow_type",
    "consolidate",
    "export",
    "run_status",
]

READERS = 32  # result objects read at once

ROW_FIELDS = pa.schema(
    [
        ("object", pa.string()),
        ("video_id", pa.string()),
        ("md5", pa.string()),
        ("version", pa.string()),
        ("seconds", pa.float64()),
        ("finished", pa.timestamp("us", tz="UTC")),
    ]
)


def arrow_type(annotation: Any) -> pa.DataType:
    """The Arrow type of a pydantic field's annotation."""
    origin = typing.get_origin(annotation)
    if origin in (Union, types.UnionType):
        kinds = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(kinds) != 1:
            raise TypeError(f"no Arrow type for {annotation}")
        return arrow_type(kinds[0])
    if origin is Literal:
        return pa.string()
    if origin in (list, tuple, Sequence):
        args = [a for a in typing.get_args(annotation) if a is not Ellipsis]
        return pa.list_(arrow_type(args[0]))
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return pa.struct(_fields(annotation))
    simple = {
        bool: pa.bool_(),
        int: pa.int64(),
        float: pa.float64(),
        str: pa.string(),
        datetime: pa.timestamp("us", tz="UTC"),
    }
    if annotation in simple:
        return simple[annotation]
    raise TypeError(f"no Arrow type for {annotation}")


def _fields(model: type[BaseModel]) -> list[pa.Field]:
    hints = typing.get_type_hints(model)
    return [pa.field(name, arrow_type(hints[name])) for name in model.model_fields]


def _schema(spec: ExtractorSpec) -> pa.Schema:
    return pa.schema([*ROW_FIELDS, *_fields(spec.load().Result)])


def _stored(
    services: Context[FeatureSettings], spec: ExtractorSpec, entries: Sequence[ManifestEntry]
) -> Iterator[dict[str, Any] | None]:
    """Each entry's stored result of ``spec`` (None: none, or one of other content)."""
    bucket = services.settings.features_bucket

    def read(entry: ManifestEntry) -> dict[str, Any] | None:
        try:
            data = services.blobs.read(bucket, result_path(spec.name, spec.version, entry.object))
        except NotFoundError:
            return None
        stored: dict[str, Any] = orjson.loads(data)
        return stored if stored.get("md5") == entry.md5 else None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        yield from pool.map(read, entries)


def _table(
    services: Context[FeatureSettings], spec: ExtractorSpec, entries: Sequence[ManifestEntry]
) -> pa.Table:
    rows = []
    for stored in _stored(services, spec, entries):
        if stored is None:
            continue
        row = {k: stored[k] for k in ("object", "video_id", "md5", "version", "seconds")}
        row["finished"] = datetime.fromisoformat(stored["finished"])
        rows.append({**row, **stored["result"]})
    return pa.Table.from_pylist(rows, schema=_schema(spec))


def _parquet(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()


def consolidate(
    services: Context[FeatureSettings], run: str, extractors: Sequence[str] | None = None
) -> dict[str, int]:
    """Write the run's table of each extractor to the features bucket
    (``tables/<run>/<extractor>.parquet``); the rows of each."""
    record = load_run(services, run)
    entries = load_manifest(services, run)
    rows: dict[str, int] = {}
    for spec in plan(extractors or record.extractors):
        table = _table(services, spec, entries)
        services.blobs.write(
            services.settings.features_bucket,
            table_path(run, spec.name),
            _parquet(table),
            content_type="application/vnd.apache.parquet",
            metadata={"rows": str(table.num_rows)},
        )
        rows[spec.name] = table.num_rows
    return rows


def export(
    services: Context[FeatureSettings],
    run: str,
    out: Path,
    extractors: Sequence[str] | None = None,
) -> int:
    """Write one Parquet file to ``out``: a row per video of the run, a struct column per
    extractor and the failure's reason. Written beside and renamed: never half a file."""
    record = load_run(services, run)
    entries = load_manifest(services, run)
    specs = plan(extractors or record.extractors)
    columns: dict[str, pa.Array] = {
        "object": pa.array([e.object for e in entries], pa.string()),
        "video_id": pa.array([e.video_id for e in entries], pa.string()),
        "md5": pa.array([e.md5 for e in entries], pa.string()),
    }
    for spec in specs:
        kind = pa.struct(_fields(spec.load().Result))
        values = [s["result"] if s else None for s in _stored(services, spec, entries)]
        columns[spec.name] = pa.array(values, type=kind)
    columns["failure"] = pa.array(list(_failures(services, entries)), pa.string())
    table = pa.table(columns)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    pq.write_table(table, partial, compression="zstd")
    partial.replace(out)
    return int(table.num_rows)


def _failures(
    services: Context[FeatureSettings], entries: Sequence[ManifestEntry]
) -> Iterator[str | None]:
    bucket = services.settings.features_bucket

    def read(entry: ManifestEntry) -> str | None:
        try:
            failure = orjson.loads(services.blobs.read(bucket, failure_path(entry.object)))
        except NotFoundError:
            return None
        return str(failure["reason"]) if failure.get("md5") == entry.md5 else None

    with ThreadPoolExecutor(max_workers=READERS) as pool:
        yield from pool.map(read, entries)


class ExtractorStatus(BaseModel):
    """Where one extractor of a run stands."""

    extractor: str
    version: str
    done: int
    failed: int
    remaining: int
    videos_per_hour: float | None
    eta_seconds: float | None


class RunStatus(BaseModel):
    """Where a run stands, per extractor."""

    run: str
    videos: int
    extractors: list[ExtractorStatus]
    failures: dict[str, str]  # object -> reason (the first 20)


def run_status(services: Context[FeatureSettings], run: str) -> RunStatus:
    """Per extractor: done, failed, remaining, throughput and ETA. One listing of each
    extractor's results and one of the failures (object metadata only, no body read but the
    failures')."""
    record = load_run(services, run)
    entries = load_manifest(services, run)
    md5 = {e.object: e.md5 for e in entries}
    bucket = services.settings.features_bucket
    failed: dict[str, str] = {}
    for blob in services.blobs.list(bucket, "failures/"):
        name = blob.name[len("failures/") : -len(".json")]
        if name in md5:
            failure = orjson.loads(services.blobs.read(bucket, blob.name))
            if failure.get("md5") == md5[name]:
                failed[name] = str(failure["reason"])
    now = datetime.now(UTC)
    rows: list[ExtractorStatus] = []
    for spec in plan(record.extractors):
        prefix = result_path(spec.name, spec.version, "")[: -len(".json")]
        finished: list[datetime] = []
        done = 0
        for blob in services.blobs.list(bucket, prefix):
            name = blob.name[len(prefix) : -len(".json")]
            if md5.get(name) is not None and blob.metadata.get("md5") == md5[name]:
                done += 1
                if blob.updated >= record.created:
                    finished.append(blob.updated)
        failing = sum(1 for name in failed if name in md5)
        remaining = max(0, len(entries) - done - failing)
        rate = None
        if len(finished) >= 2:
            span = (now if remaining else max(finished)) - min(finished)
            seconds = span.total_seconds()
            rate = len(finished) / seconds * 3600 if seconds > 0 else None
        rows.append(
            ExtractorStatus(
                extractor=spec.name,
                version=spec.version,
                done=done,
                failed=failing,
                remaining=remaining,
                videos_per_hour=round(rate, 1) if rate else None,
                eta_seconds=round(remaining / rate * 3600) if rate and remaining else None,
            )
        )
    return RunStatus(
        run=run,
        videos=len(entries),
        extractors=rows,
        failures=dict(sorted(failed.items())[:20]),
    )


def known_extractors() -> list[str]:
    """Every extractor's name, in running order."""
    return list(EXTRACTORS)

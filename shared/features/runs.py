"""A run over a collection: the selection frozen as a manifest, and where everything lives.

Layout of the features bucket (``VIDCURATE_FEATURES_BUCKET``)::

    runs/<run>/run.json            the run: prefix, filter, extractors, counts, when
    runs/<run>/manifest.jsonl      one line per video: object, video id, md5, size, generation
    results/<extractor>/v<version>/<object>.json
                                   one per (video, extractor, version): the checkpoint, shared
                                   by every run (a later run over the same videos reuses it)
    failures/<object>.json         a video that could not be extracted, and why
    tables/<run>/<extractor>.parquet
                                   the run's results, one row per video (their number in
                                   the object's metadata, ``rows``)
    progress/<run>/<extractors>/<tasks>/<task>.json
                                   what each task has done so far (shared.features.progress)

Selection: every video object under the prefix (by suffix or content type), optionally only
those whose id is in a metadata list (CSV with a ``video_id`` or ``id`` column, or JSONL with
such a key), matched against the object's file name without extension, its name under the
prefix, or its full name. Objects with the same content (MD5) are taken once: the first by
name. The manifest is written once, before any task starts: every task reads the same list.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath

import orjson
from pydantic import BaseModel, ConfigDict, Field

from shared.core.errors import ConfigError, NotFoundError
from shared.features.specs import EXTRACTORS
from shared.media import is_clip
from shared.platform.context import Context
from shared.platform.settings import PlatformSettings

__all__ = [
    "ManifestEntry",
    "Run",
    "Selection",
    "create_run",
    "failure_path",
    "load_manifest",
    "load_run",
    "read_filter",
    "result_path",
]


class ManifestEntry(BaseModel):
    """One video of a run."""

    model_config = ConfigDict(frozen=True)

    object: str
    video_id: str
    md5: str
    size: int
    generation: int


class Run(BaseModel):
    """What a run is over and what it computes."""

    run: str
    prefix: str
    filter: str | None = None
    extractors: list[str]
    created: datetime
    listed: int = Field(description="Video objects under the prefix.")
    filtered_out: int = Field(description="Left out by the metadata list.")
    duplicates: int = Field(description="Left out: same content as a video taken.")
    videos: int


@dataclass(frozen=True)
class Selection:
    """What to take from the videos bucket."""

    prefix: str = ""
    ids: frozenset[str] | None = None
    filter_name: str | None = None


def run_path(run: str, name: str) -> str:
    """An object of the run."""
    return f"runs/{run}/{name}"


def result_path(extractor: str, version: str, object_name: str) -> str:
    """The checkpoint of one (video, extractor, version)."""
    return f"results/{extractor}/v{version}/{object_name}.json"


def failure_path(object_name: str) -> str:
    """The failure record of one video."""
    return f"failures/{object_name}.json"


def table_path(run: str, extractor: str) -> str:
    """The run's consolidated table of one extractor."""
    return f"tables/{run}/{extractor}.parquet"


def read_filter(path: Path) -> frozenset[str]:
    """The ids of a metadata list: CSV with a ``video_id`` or ``id`` column, or JSONL with
    such a key (ConfigError names the file and what is wrong)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot be read ({exc})") from exc
    ids: set[str] = set()
    if path.suffix.lower() in (".jsonl", ".ndjson", ".json"):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number}: not JSON ({exc})") from exc
            value = row.get("video_id", row.get("id")) if isinstance(row, dict) else None
            if value is None or str(value).strip() == "":
                raise ConfigError(f"{path}:{number}: no video_id (or id) in this line")
            ids.add(str(value).strip())
    else:
        reader = csv.DictReader(io.StringIO(text))
        fields = [f.strip() for f in reader.fieldnames or []]
        column = next((c for c in ("video_id", "id") if c in fields), None)
        if column is None:
            raise ConfigError(
                f"{path}: no video_id (or id) column in its header ({', '.join(fields) or 'empty'})"
            )
        for row in reader:
            value = next((v for k, v in row.items() if k and k.strip() == column), None)
            if value and value.strip():
                ids.add(value.strip())
    if not ids:
        raise ConfigError(f"{path}: lists no video id")
    return frozenset(ids)


def _video_id(object_name: str) -> str:
    return PurePosixPath(object_name).stem


def _matches(ids: frozenset[str], object_name: str, prefix: str) -> bool:
    under = object_name[len(prefix) :].lstrip("/")
    return bool(
        {object_name, under, _video_id(object_name), str(PurePosixPath(under).with_suffix(""))}
        & ids
    )


def create_run(
    services: Context[PlatformSettings],
    selection: Selection,
    extractors: Iterable[str],
    *,
    run: str | None = None,
) -> Run:
    """List and freeze the selection as a new run's manifest (one listing of the prefix)."""
    names = list(dict.fromkeys(extractors))
    unknown = [name for name in names if name not in EXTRACTORS]
    if unknown or not names:
        raise ConfigError(
            f"unknown extractor {', '.join(map(repr, unknown)) or '(none given)'} "
            f"(known: {', '.join(EXTRACTORS)})"
        )
    settings = services.settings
    listed = filtered = duplicates = 0
    seen: set[str] = set()
    entries: list[ManifestEntry] = []
    for blob in services.blobs.list(settings.videos_bucket, selection.prefix):
        if not is_clip(blob.name, blob.content_type):
            continue
        listed += 1
        if selection.ids is not None and not _matches(selection.ids, blob.name, selection.prefix):
            filtered += 1
            continue
        if blob.md5_hash in seen:
            duplicates += 1
            continue
        seen.add(blob.md5_hash)
        entries.append(
            ManifestEntry(
                object=blob.name,
                video_id=_video_id(blob.name),
                md5=blob.md5_hash,
                size=blob.size,
                generation=blob.generation,
            )
        )
    if not entries:
        where = f"gs://{settings.videos_bucket}/{selection.prefix}"
        why = " matching the filter" if selection.ids is not None and listed else ""
        raise ConfigError(f"no video under {where}{why} ({listed} listed)")
    created = datetime.now(UTC)
    name = run or f"{created:%Y%m%d-%H%M%S}-{secrets.token_hex(2)}"
    record = Run(
        run=name,
        prefix=selection.prefix,
        filter=selection.filter_name,
        extractors=names,
        created=created,
        listed=listed,
        filtered_out=filtered,
        duplicates=duplicates,
        videos=len(entries),
    )
    bucket = settings.features_bucket
    manifest = b"".join(orjson.dumps(e.model_dump()) + b"\n" for e in entries)
    # The manifest first, the run last: a run that exists has its manifest.
    services.blobs.write(
        bucket, run_path(name, "manifest.jsonl"), manifest, content_type="application/x-ndjson"
    )
    services.blobs.write(
        bucket,
        run_path(name, "run.json"),
        record.model_dump_json(indent=2).encode(),
        content_type="application/json",
        if_generation_match=0,
    )
    return record


def load_run(services: Context[PlatformSettings], run: str) -> Run:
    """A run as created (ConfigError when there is none of that name)."""
    try:
        data = services.blobs.read(services.settings.features_bucket, run_path(run, "run.json"))
    except NotFoundError as exc:
        raise ConfigError(
            f"no run {run!r} in gs://{services.settings.features_bucket}/runs/"
        ) from exc
    return Run.model_validate_json(data)


def load_manifest(services: Context[PlatformSettings], run: str) -> list[ManifestEntry]:
    """The run's videos, in the manifest's order."""
    data = services.blobs.read(services.settings.features_bucket, run_path(run, "manifest.jsonl"))
    return [ManifestEntry.model_validate(orjson.loads(line)) for line in data.splitlines() if line]


def latest_run(services: Context[PlatformSettings]) -> str | None:
    """The newest run's name (names sort by creation time)."""
    names = {
        PurePosixPath(blob.name).parent.name
        for blob in services.blobs.list(services.settings.features_bucket, "runs/")
        if blob.name.endswith("/run.json")
    }
    return max(names) if names else None

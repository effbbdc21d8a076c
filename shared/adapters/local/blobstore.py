"""Buckets as folders: ``$VIDCURATE_HOME/buckets/<bucket>/<object name>``.

Object bytes are plain files (so users can look at them and drop files in by hand);
generations, content types and metadata live in SQLite beside the message bus. A write
renames a finished temp file into place and records the new generation in the same locked
transaction that publishes the GCS-style notification, so a crash never leaves an object
without its event: a file found on disk with no record (or a changed one) is registered and
announced by :meth:`LocalBlobStore.scan`.
"""

from __future__ import annotations

import base64
import builtins
import hashlib
import json
import os
import sqlite3
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path

from shared.adapters.local.bus import SqliteMessageBus
from shared.errors import NotFoundError, PermanentError, PreconditionFailedError
from shared.events import storage_object_resource
from shared.ports.blobstore import BlobInfo
from shared.ports.bus import OutgoingMessage
from shared.runtime.catalog import storage_topic

SCHEMA = """
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    name TEXT NOT NULL,
    generation INTEGER NOT NULL,
    size INTEGER NOT NULL,
    content_type TEXT NOT NULL,
    md5_hash TEXT NOT NULL,
    updated_us INTEGER NOT NULL,
    metadata TEXT NOT NULL,
    mtime_ns INTEGER NOT NULL,
    PRIMARY KEY (bucket, name)
) WITHOUT ROWID;
"""

TMP_DIR = ".tmp"


def _md5(data: bytes) -> str:
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


def _check_name(bucket: str, name: str) -> None:
    if not bucket or "/" in bucket or bucket.startswith("."):
        raise PermanentError(f"invalid bucket name {bucket!r}")
    parts = name.split("/")
    if (
        not name
        or len(name.encode()) > 1024
        or any(part in ("", ".", "..") for part in parts)
        or "\n" in name
        or "\r" in name
        or "\x00" in name
    ):
        raise PermanentError(f"gs://{bucket}: object name {name!r} cannot be stored locally")


class LocalBlobStore:
    """The blob store port over folders, with GCS generations and preconditions."""

    def __init__(self, root: Path, bus: SqliteMessageBus, *, project: str = "local") -> None:
        self.root = root
        self._bus = bus
        self._db = bus.database
        self._project = project
        self._db.connection().executescript(SCHEMA)
        (root / TMP_DIR).mkdir(parents=True, exist_ok=True)

    def _path(self, bucket: str, name: str) -> Path:
        _check_name(bucket, name)
        return self.root / bucket / name

    # --- reads ------------------------------------------------------------------------------

    def read(self, bucket: str, name: str) -> bytes:
        """The object's bytes (NotFoundError)."""
        path = self._path(bucket, name)
        try:
            return path.read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist") from exc

    def stat(self, bucket: str, name: str) -> BlobInfo:
        """Metadata with generation; a file dropped by hand is registered first."""
        path = self._path(bucket, name)
        if not path.is_file():
            raise NotFoundError(f"gs://{bucket}/{name} does not exist")
        info = self._record(bucket, name)
        if info is None or info[1] != path.stat().st_mtime_ns:
            return self._register(bucket, name)
        return info[0]

    def exists(self, bucket: str, name: str) -> bool:
        """Whether the object exists."""
        return self._path(bucket, name).is_file()

    def list(self, bucket: str, prefix: str = "") -> Iterator[BlobInfo]:
        """Objects under ``prefix`` in name order (files dropped by hand included)."""
        _check_name(bucket, "x")
        base = self.root / bucket
        start = base / prefix.rsplit("/", 1)[0] if "/" in prefix else base
        if not start.is_dir():
            return
        records = {
            row[0]: row
            for row in self._db.connection().execute(
                "SELECT name, generation, size, content_type, md5_hash, updated_us, metadata,"
                " mtime_ns FROM objects WHERE bucket=? AND name >= ? ORDER BY name",
                (bucket, prefix),
            )
        }
        names: builtins.list[str] = []
        for directory, _dirs, files in os.walk(start):
            for file_name in files:
                name = Path(directory, file_name).relative_to(base).as_posix()
                if name.startswith(prefix):
                    names.append(name)
        for name in sorted(names):
            row = records.get(name)
            try:
                mtime_ns = (base / name).stat().st_mtime_ns
            except FileNotFoundError:
                continue  # deleted while we listed
            if row is None or row[7] != mtime_ns:
                yield self._register(bucket, name)
            else:
                yield self._info(bucket, row)

    def _info(self, bucket: str, row: tuple) -> BlobInfo:  # type: ignore[type-arg]
        name, generation, size, content_type, md5_hash, updated_us, metadata = row[:7]
        return BlobInfo(
            bucket=bucket,
            name=name,
            generation=generation,
            size=size,
            content_type=content_type,
            md5_hash=md5_hash,
            updated=datetime.fromtimestamp(updated_us / 1_000_000, UTC),
            metadata=json.loads(metadata),
        )

    def _record(
        self, bucket: str, name: str, conn: sqlite3.Connection | None = None
    ) -> tuple[BlobInfo, int] | None:
        row = (
            (conn or self._db.connection())
            .execute(
                "SELECT name, generation, size, content_type, md5_hash, updated_us, metadata,"
                " mtime_ns FROM objects WHERE bucket=? AND name=?",
                (bucket, name),
            )
            .fetchone()
        )
        return None if row is None else (self._info(bucket, row), row[7])

    # --- writes -----------------------------------------------------------------------------

    def write(
        self,
        bucket: str,
        name: str,
        data: bytes,
        *,
        content_type: str = "application/octet-stream",
        metadata: Mapping[str, str] | None = None,
        if_generation_match: int | None = None,
    ) -> BlobInfo:
        """Write atomically (temp file + rename) and announce the new generation."""
        path = self._path(bucket, name)
        fd, tmp = tempfile.mkstemp(dir=self.root / TMP_DIR, prefix="upload-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            with self._db.write() as conn:
                current = self._record(bucket, name, conn)
                live = current[0].generation if current and path.is_file() else 0
                if if_generation_match is not None and if_generation_match != live:
                    raise PreconditionFailedError(
                        f"gs://{bucket}/{name}: generation is {live}, "
                        f"expected {if_generation_match}"
                    )
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, path)
                except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
                    raise PermanentError(
                        f"gs://{bucket}/{name}: clashes with another object's folder locally"
                    ) from exc
                return self._commit_record(
                    conn, bucket, name, data, content_type, metadata or {}, live
                )
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _commit_record(
        self,
        conn: sqlite3.Connection,
        bucket: str,
        name: str,
        data: bytes,
        content_type: str,
        metadata: Mapping[str, str],
        previous_generation: int,
    ) -> BlobInfo:
        now_us = time.time_ns() // 1000
        # GCS generations are microsecond timestamps; keep them strictly increasing.
        generation = max(now_us, previous_generation + 1)
        info = BlobInfo(
            bucket=bucket,
            name=name,
            generation=generation,
            size=len(data),
            content_type=content_type,
            md5_hash=_md5(data),
            updated=datetime.fromtimestamp(now_us / 1_000_000, UTC),
            metadata=dict(metadata),
        )
        mtime_ns = (self.root / bucket / name).stat().st_mtime_ns
        conn.execute(
            "INSERT OR REPLACE INTO objects(bucket, name, generation, size, content_type,"
            " md5_hash, updated_us, metadata, mtime_ns) VALUES (?,?,?,?,?,?,?,?,?)",
            (
                bucket,
                name,
                generation,
                info.size,
                content_type,
                info.md5_hash,
                now_us,
                json.dumps(dict(metadata)),
                mtime_ns,
            ),
        )
        self._notify(conn, info)
        return info

    def _notify(self, conn: sqlite3.Connection, info: BlobInfo) -> None:
        """Publish the GCS Pub/Sub notification (OBJECT_FINALIZE, JSON_API_V1)."""
        resource = storage_object_resource(
            bucket=info.bucket,
            name=info.name,
            generation=info.generation,
            size=info.size,
            content_type=info.content_type,
            md5_hash=info.md5_hash,
            updated=info.updated,
            metadata=info.metadata,
        )
        topic = storage_topic(info.bucket)
        attributes = {
            "notificationConfig": f"projects/_/buckets/{info.bucket}/notificationConfigs/local",
            "eventType": "OBJECT_FINALIZE",
            "payloadFormat": "JSON_API_V1",
            "bucketId": info.bucket,
            "objectId": info.name,
            "objectGeneration": str(info.generation),
            "eventTime": resource["updated"],
        }
        self._bus.publish_in(
            conn, topic, [OutgoingMessage(json.dumps(resource).encode(), attributes)]
        )

    def _register(self, bucket: str, name: str) -> BlobInfo:
        """Record (and announce) a file that appeared or changed without our write."""
        path = self._path(bucket, name)
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            try:
                data = path.read_bytes()
                mtime_ns = path.stat().st_mtime_ns
            except FileNotFoundError as exc:
                raise NotFoundError(f"gs://{bucket}/{name} does not exist") from exc
            if current is not None and current[1] == mtime_ns:
                return current[0]  # another thread or process registered it meanwhile
            content_type = current[0].content_type if current else _guess_type(name)
            metadata = current[0].metadata if current else {}
            previous = current[0].generation if current else 0
            return self._commit_record(conn, bucket, name, data, content_type, metadata, previous)

    def delete(self, bucket: str, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object (NotFoundError, PreconditionFailedError)."""
        path = self._path(bucket, name)
        with self._db.write() as conn:
            if not path.is_file():
                conn.execute("DELETE FROM objects WHERE bucket=? AND name=?", (bucket, name))
                raise NotFoundError(f"gs://{bucket}/{name} does not exist")
            if if_generation_match is not None:
                current = self._record(bucket, name, conn)
                live = current[0].generation if current else 0
                if live != if_generation_match:
                    raise PreconditionFailedError(
                        f"gs://{bucket}/{name}: generation is {live}, "
                        f"expected {if_generation_match}"
                    )
            path.unlink()
            conn.execute("DELETE FROM objects WHERE bucket=? AND name=?", (bucket, name))

    # --- watching ---------------------------------------------------------------------------

    def buckets(self) -> builtins.list[str]:
        """Bucket folders that exist."""
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def scan(self, settle_seconds: float = 0.0) -> builtins.list[BlobInfo]:
        """Register files that were dropped or changed by another program.

        Files modified in the last ``settle_seconds`` are left for the next scan, so a
        program still writing one is not caught half-way.
        """
        found: builtins.list[BlobInfo] = []
        horizon_ns = time.time_ns() - int(settle_seconds * 1e9)
        for bucket in self.buckets():
            base = self.root / bucket
            records = dict(
                self._db.connection()
                .execute("SELECT name, mtime_ns FROM objects WHERE bucket=?", (bucket,))
                .fetchall()
            )
            for directory, _dirs, files in os.walk(base):
                for file_name in files:
                    path = Path(directory, file_name)
                    name = path.relative_to(base).as_posix()
                    try:
                        mtime_ns = path.stat().st_mtime_ns
                    except FileNotFoundError:
                        continue
                    if records.get(name) == mtime_ns or mtime_ns > horizon_ns:
                        continue
                    try:
                        found.append(self._register(bucket, name))
                    except (NotFoundError, PermanentError):
                        continue  # vanished, or a name GCS could not hold: leave it be
        return found


def _guess_type(name: str) -> str:
    import mimetypes  # noqa: PLC0415 (only files dropped by hand need a guess)

    return mimetypes.guess_type(name)[0] or "application/octet-stream"

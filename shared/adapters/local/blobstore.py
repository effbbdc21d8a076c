"""Buckets as folders: ``$VIDCURATE_HOME/buckets/<bucket>/<object name>``.

Object bytes are plain files (so users can look at them and drop files in by hand);
generations, content types and metadata live in SQLite beside the message bus. A write
renames a finished temp file into place and records the new generation in the same locked
transaction that publishes the GCS-style notification, so a crash never leaves an object
without its event: a file found on disk with no record (or a changed one) is registered and
announced by :meth:`LocalBlobStore.scan`. Names, hashes and the upload and noncurrent-version
folders are handled in :mod:`shared.adapters.local.blobfiles`.
"""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import sqlite3
import stat
import tempfile
import time
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from shared.adapters.local.blobfiles import (
    TMP_DIR,
    check_name,
    guess_type,
    hash_file,
    keep_version,
    md5_base64,
    remove_empty_folders,
    remove_old_versions,
    remove_stale_uploads,
    version_path,
    walk_files,
    walk_sorted,
)
from shared.adapters.local.bus import SqliteMessageBus
from shared.core.errors import (
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    TransientError,
)
from shared.platform.events import storage_object_resource
from shared.platform.runtime.catalog import storage_topic
from shared.ports.blobstore import BlobInfo
from shared.ports.bus import OutgoingMessage

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

UNKNOWN_GENERATION = -1  # a file changed outside vidcurate and not registered yet


class ChangingFileError(TransientError):
    """A file dropped by another program is still being written."""


class LocalBlobStore:
    """The blob store port over folders, with GCS generations and preconditions."""

    def __init__(self, root: Path, bus: SqliteMessageBus, *, project: str = "local") -> None:
        self.root = root
        self._bus = bus
        self._db = bus.database
        self._project = project
        self._db.connection().executescript(SCHEMA)
        (root / TMP_DIR).mkdir(parents=True, exist_ok=True)
        self.deferred_files = 0
        remove_stale_uploads(root)
        remove_old_versions(root)

    def _path(self, bucket: str, name: str) -> Path:
        check_name(bucket, name)
        return self.root / bucket / name

    # --- reads ------------------------------------------------------------------------------

    def read(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        """The object's bytes; with ``generation``, only if that generation is live.

        Folders keep no old generations (like a bucket without versioning), so asking for a
        replaced or deleted generation raises NotFoundError.
        """
        path = self._path(bucket, name)
        what = f"gs://{bucket}/{name}" + (f"#{generation}" if generation is not None else "")
        try:
            if generation is None:
                return path.read_bytes()
            record = self._record(bucket, name)
            with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                before = path.stat().st_mtime_ns
                if record is not None and record[0].generation == generation:
                    data = path.read_bytes()
                    if record[1] == before and path.stat().st_mtime_ns == before:
                        return data
            # Not live (or replaced while read): a noncurrent version, if kept.
            return version_path(self.root, bucket, name, generation).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"{what} is not live and no noncurrent version is kept") from exc

    @contextlib.contextmanager
    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None
    ) -> Iterator[IO[bytes]]:
        """The object's file, opened for reading (a noncurrent generation's if asked)."""
        path = self._path(bucket, name)
        what = f"gs://{bucket}/{name}" + (f"#{generation}" if generation is not None else "")
        handle: IO[bytes] | None = None
        try:
            if generation is None:
                handle = path.open("rb")
            else:
                record = self._record(bucket, name)
                if record is not None and record[0].generation == generation:
                    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                        live = path.open("rb")
                        # The open file stays this generation even if replaced meanwhile.
                        if os.fstat(live.fileno()).st_mtime_ns == record[1]:
                            handle = live
                        else:
                            live.close()
                if handle is None:
                    handle = version_path(self.root, bucket, name, generation).open("rb")
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
            raise NotFoundError(f"{what} is not live and no noncurrent version is kept") from exc
        with handle:
            yield handle

    def stat(self, bucket: str, name: str) -> BlobInfo:
        """Metadata with generation; a file dropped by hand is registered first."""
        path = self._path(bucket, name)
        try:
            mtime_ns = path.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist") from exc
        if not path.is_file():
            raise NotFoundError(f"gs://{bucket}/{name} does not exist")
        info = self._record(bucket, name)
        if info is None or info[1] != mtime_ns:
            return self._register(bucket, name)
        return info[0]

    def exists(self, bucket: str, name: str) -> bool:
        """Whether the object exists."""
        return self._path(bucket, name).is_file()

    def list(self, bucket: str, prefix: str = "") -> Iterator[BlobInfo]:
        """Objects under ``prefix`` in name order (files dropped by hand included), lazily:
        the folder is walked in name order beside the registered records, read a page at a
        time, so taking the first objects of a large bucket costs only those."""
        check_name(bucket, "x")
        base = os.path.join(self.root, bucket)
        if not os.path.isdir(base):
            return
        records = self._records(bucket, prefix)
        record = next(records, None)
        for name, entry in walk_sorted(base, "", prefix):
            while record is not None and record[0] < name:
                record = next(records, None)  # registered, but its file is gone
            try:
                mtime_ns = entry.stat(follow_symlinks=False).st_mtime_ns
            except FileNotFoundError:
                continue  # deleted while we listed
            if record is None or record[0] != name or record[7] != mtime_ns:
                try:
                    yield self._register(bucket, name)
                except (NotFoundError, ChangingFileError):
                    continue  # vanished, or still being written: not an object yet
            else:
                yield self._info(bucket, record)

    def _records(self, bucket: str, prefix: str, page: int = 1000) -> Iterator[tuple]:  # type: ignore[type-arg]
        """The registered objects under ``prefix`` in name order, a page per query (no
        cursor stays open while the caller works)."""
        columns = "name, generation, size, content_type, md5_hash, updated_us, metadata, mtime_ns"
        queries = (
            f"SELECT {columns} FROM objects WHERE bucket=? AND name >= ? ORDER BY name LIMIT ?",  # noqa: S608 (constants)
            f"SELECT {columns} FROM objects WHERE bucket=? AND name > ? ORDER BY name LIMIT ?",  # noqa: S608 (constants)
        )
        last = prefix
        first = True
        while True:
            query = queries[0] if first else queries[1]
            rows = self._db.connection().execute(query, (bucket, last, page)).fetchall()
            for row in rows:
                if not row[0].startswith(prefix):
                    return
                yield row
            if len(rows) < page:
                return
            last, first = rows[-1][0], False

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
            md5_hash = md5_base64(data)
            with self._db.write() as conn:
                current = self._record(bucket, name, conn)
                live = self._live_generation(path, current)
                self._check_precondition(bucket, name, live, if_generation_match)
                if current is not None and live == current[0].generation:
                    keep_version(self.root, path, bucket, name, live)
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                    os.replace(tmp, path)
                except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
                    raise PermanentError(
                        f"gs://{bucket}/{name}: clashes with another object's folder locally"
                    ) from exc
                previous = current[0].generation if current else 0
                return self._commit_record(
                    conn,
                    bucket,
                    name,
                    (len(data), md5_hash),
                    content_type,
                    metadata or {},
                    previous,
                )
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    @staticmethod
    def _live_generation(path: Path, current: tuple[BlobInfo, int] | None) -> int:
        """The generation a precondition compares with: 0 when absent."""
        try:
            mtime_ns = path.stat().st_mtime_ns
        except (FileNotFoundError, NotADirectoryError):
            return 0
        if current is None or current[1] != mtime_ns:
            return UNKNOWN_GENERATION  # dropped or changed by hand: it exists, unregistered
        return current[0].generation

    @staticmethod
    def _check_precondition(bucket: str, name: str, live: int, expected: int | None) -> None:
        if expected is None or expected == live:
            return
        shown = "unknown (changed outside vidcurate)" if live == UNKNOWN_GENERATION else live
        raise PreconditionFailedError(
            f"gs://{bucket}/{name}: generation is {shown}, expected {expected}"
        )

    def _commit_record(
        self,
        conn: sqlite3.Connection,
        bucket: str,
        name: str,
        content: tuple[int, str],
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
            size=content[0],
            content_type=content_type,
            md5_hash=content[1],
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

    def _notify(
        self, conn: sqlite3.Connection, info: BlobInfo, event_type: str = "OBJECT_FINALIZE"
    ) -> None:
        """Publish the GCS Pub/Sub notification (JSON_API_V1) of a finalize or delete."""
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
            "eventType": event_type,
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
        """Record (and announce) a file that appeared or changed without our write.

        The file is hashed before the lock is taken (the lock is shared with the bus, and a
        video can be large), and registered only if it did not change while it was read.
        """
        path = self._path(bucket, name)
        try:
            before = path.stat()
            if not stat.S_ISREG(before.st_mode):
                raise NotFoundError(f"gs://{bucket}/{name} is not a regular file")
            size, md5_hash = hash_file(path)
            after = path.stat()
        except (FileNotFoundError, NotADirectoryError) as exc:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist") from exc
        seen = (after.st_mtime_ns, after.st_size)
        if (before.st_mtime_ns, before.st_size) != seen or size != after.st_size:
            raise ChangingFileError(f"gs://{bucket}/{name} is still being written")
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            try:
                now = path.stat()
            except FileNotFoundError as exc:
                raise NotFoundError(f"gs://{bucket}/{name} does not exist") from exc
            if current is not None and current[1] == now.st_mtime_ns:
                return current[0]  # another thread or process registered it meanwhile
            if (now.st_mtime_ns, now.st_size) != seen:
                raise ChangingFileError(f"gs://{bucket}/{name} is still being written")
            content_type = current[0].content_type if current else guess_type(name)
            metadata = current[0].metadata if current else {}
            previous = current[0].generation if current else 0
            return self._commit_record(
                conn, bucket, name, (size, md5_hash), content_type, metadata, previous
            )

    def delete(self, bucket: str, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object (NotFoundError, PreconditionFailedError)."""
        path = self._path(bucket, name)
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            live = self._live_generation(path, current) if path.is_file() else 0
            if live:
                self._check_precondition(bucket, name, live, if_generation_match)
                if current is not None and live == current[0].generation:
                    keep_version(self.root, path, bucket, name, live)
                path.unlink()
                remove_empty_folders(self.root, bucket, path.parent)
            conn.execute("DELETE FROM objects WHERE bucket=? AND name=?", (bucket, name))
            if current is not None:
                # Announced like GCS does (OBJECT_DELETE, a bucket without versioning), in
                # the transaction that forgets the record.
                self._notify(conn, current[0], "OBJECT_DELETE")
        if not live:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist")

    # --- watching ---------------------------------------------------------------------------

    def buckets(self) -> builtins.list[str]:
        """Bucket folders that exist."""
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def scan(self, settle_seconds: float = 0.0) -> builtins.list[BlobInfo]:
        """Register files that were dropped, changed or removed by another program.

        Files modified in the last ``settle_seconds``, or that change while they are read,
        are left for the next scan (counted in ``deferred_files``), so a program still writing
        one is not caught half-way. Plain ``os`` calls: this walks every object.
        """
        found: builtins.list[BlobInfo] = []
        deferred = 0
        horizon_ns = time.time_ns() - int(settle_seconds * 1e9)
        for bucket in self.buckets():
            base = os.path.join(self.root, bucket)
            records = dict(
                self._db.connection()
                .execute("SELECT name, mtime_ns FROM objects WHERE bucket=?", (bucket,))
                .fetchall()
            )
            on_disk: set[str] = set()
            for entry in walk_files(base):
                name = os.path.relpath(entry.path, base).replace(os.sep, "/")
                on_disk.add(name)
                try:
                    mtime_ns = entry.stat(follow_symlinks=False).st_mtime_ns
                except FileNotFoundError:
                    continue
                if records.get(name) == mtime_ns:
                    continue
                if mtime_ns > horizon_ns:
                    deferred += 1
                    continue
                try:
                    found.append(self._register(bucket, name))
                except ChangingFileError:
                    deferred += 1
                except (NotFoundError, PermanentError):
                    continue  # vanished, or a name GCS could not hold: leave it be
            for name in records.keys() - on_disk:
                self._forget(bucket, name)
        self.deferred_files = deferred
        return found

    def _forget(self, bucket: str, name: str) -> None:
        """A registered file that another program removed: announce its deletion."""
        path = self._path(bucket, name)
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            if current is None or path.is_file():
                return  # forgotten or re-created meanwhile
            conn.execute("DELETE FROM objects WHERE bucket=? AND name=?", (bucket, name))
            self._notify(conn, current[0], "OBJECT_DELETE")

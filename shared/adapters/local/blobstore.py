"""Buckets as folders: ``$VIDCURATE_HOME/buckets/<bucket>/<object name>``.

Object bytes are plain files (so users can look at them and drop files in by hand);
generations, content types and metadata live in SQLite beside the message bus. A write
renames a finished temp file into place and records the new generation in the same locked
transaction that publishes the GCS-style notification, so a crash never leaves an object
without its event: a file found on disk with no record (or a changed one) is registered and
announced by :meth:`LocalBlobStore.scan`. Names, hashes and the upload and noncurrent-version
folders are handled in :mod:`shared.adapters.local.blobfiles`.

A bucket holds regular files only. Whatever else another program leaves in a bucket folder (a
link, a FIFO, a socket, a device, a name that is not UTF-8, holds a newline or is longer than
Cloud Storage allows) is never read, announced, listed or uploaded anywhere: it is refused,
logged once, and kept in ``refused_files`` with why (:meth:`LocalBlobStore.refused_files`,
``vidcurate quarantine``). Files are opened without following a link at any level and
without blocking, and checked on the open descriptor, so a link or FIFO swapped in for a
registered object after the fact is refused too.
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
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from shared.adapters.local.blobfiles import (
    TMP_DIR,
    VERSIONS_DIR,
    check_name,
    guess_type,
    hash_stream,
    keep_version,
    log,
    refusal,
    remove_empty_folders,
    remove_old_versions,
    remove_stale_uploads,
    walk_files,
    walk_sorted,
)
from shared.adapters.local.bus import SqliteMessageBus
from shared.core.dropfiles import (
    RefusedFileError,
    file_kind_problem,
    lstat_beneath,
    open_folder,
    open_regular,
    shown_name,
)
from shared.core.errors import (
    NotFoundError,
    PermanentError,
    PreconditionFailedError,
    TransientError,
)
from shared.platform.events import storage_object_resource
from shared.platform.runtime.catalog import storage_topic
from shared.ports.blobstore import BlobInfo, md5_base64
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
CREATE TABLE IF NOT EXISTS refused_files (
    bucket TEXT NOT NULL,
    path BLOB NOT NULL,  -- the file's path in the bucket folder, as bytes (maybe not UTF-8)
    name TEXT NOT NULL,  -- the same, as it can be shown
    reason TEXT NOT NULL,
    seen_us INTEGER NOT NULL,
    PRIMARY KEY (bucket, path)
) WITHOUT ROWID;
"""

UNKNOWN_GENERATION = -1  # a file changed outside vidcurate and not registered yet


class RefusedObjectError(NotFoundError):
    """A file in a bucket folder that is no object (recorded with why, never read)."""


class ChangingFileError(TransientError):
    """A file dropped by another program is still being written."""


@dataclass(frozen=True)
class RefusedFile:
    """A file in a bucket folder that is not an object, and why (never read)."""

    bucket: str
    name: str  # as it can be shown: bytes that are not UTF-8 as \xNN, control characters escaped
    reason: str
    seen: datetime


class LocalBlobStore:
    """The blob store port over folders, with GCS generations and preconditions."""

    def __init__(
        self,
        root: Path,
        bus: SqliteMessageBus,
        *,
        project: str = "local",
        versions_not_kept: Mapping[str, tuple[str, ...]] | None = None,
    ) -> None:
        self.root = root
        # bucket -> name endings whose replaced generations are not kept (a lifecycle rule)
        self._versions_not_kept = dict(versions_not_kept or {})
        self._bus = bus
        self._db = bus.database
        self._project = project
        self._db.connection().executescript(SCHEMA)
        (root / TMP_DIR).mkdir(parents=True, exist_ok=True)
        self.deferred_files = 0
        remove_stale_uploads(root)
        remove_old_versions(root)

    def _keep_version(self, path: Path, bucket: str, name: str, generation: int) -> None:
        if not name.endswith(self._versions_not_kept.get(bucket, ())):
            keep_version(self.root, path, bucket, name, generation)

    def _path(self, bucket: str, name: str) -> Path:
        check_name(bucket, name)
        return self.root / bucket / name

    # --- reads ------------------------------------------------------------------------------

    def read(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        """The object's bytes; with ``generation``, only if that generation is live.

        Folders keep no old generations (like a bucket without versioning), so asking for a
        replaced or deleted generation raises NotFoundError.
        """
        check_name(bucket, name)
        if generation is not None:
            live = self._open_live(bucket, name, generation)
            if live is not None:
                with live:
                    before = os.fstat(live.fileno()).st_mtime_ns
                    data = live.read()
                    if os.fstat(live.fileno()).st_mtime_ns == before:
                        return data
                # Changed while read: a noncurrent version, if kept.
        with self._open_object(bucket, name, generation, live=generation is None) as handle:
            return handle.read()

    @contextlib.contextmanager
    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None
    ) -> Iterator[IO[bytes]]:
        """The object's file, opened for reading (a noncurrent generation's if asked)."""
        check_name(bucket, name)
        handle = None if generation is None else self._open_live(bucket, name, generation)
        if handle is None:
            handle = self._open_object(bucket, name, generation, live=generation is None)
        with handle:
            yield handle

    def _open_object(
        self, bucket: str, name: str, generation: int | None, *, live: bool
    ) -> IO[bytes]:
        """The live file, or (``live`` false) the kept noncurrent ``generation``."""
        what = f"gs://{bucket}/{name}" + (f"#{generation}" if generation is not None else "")
        missing = f"{what} is not live and no noncurrent version is kept"
        if live:
            try:
                return self._open(bucket, name)
            except (FileNotFoundError, IsADirectoryError, NotADirectoryError) as exc:
                raise NotFoundError(missing) from exc
        try:
            return open_regular(self.root / VERSIONS_DIR / bucket, f"{name}#{generation}")
        except (OSError, RefusedFileError) as exc:  # not kept (or a name too long to keep)
            raise NotFoundError(missing) from exc

    def _open_live(self, bucket: str, name: str, generation: int) -> IO[bytes] | None:
        """The live file if it is still ``generation`` (it stays that generation once open,
        even if replaced meanwhile); None when it is not."""
        record = self._record(bucket, name)
        if record is None or record[0].generation != generation:
            return None
        try:
            live = self._open(bucket, name)
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError, NotFoundError):
            return None
        if os.fstat(live.fileno()).st_mtime_ns == record[1]:
            return live
        live.close()
        return None

    def _open(self, bucket: str, name: str) -> IO[bytes]:
        """The object's file opened for reading if it is a regular file reached without
        links (a FIFO is never waited on); a refused file raises NotFoundError with why,
        recorded and logged."""
        check_name(bucket, name)
        try:
            return open_regular(self.root / bucket, name)
        except RefusedFileError as exc:
            raise self._refused(bucket, name, exc.reason) from exc
        except PermissionError as exc:
            raise self._refused(bucket, name, f"cannot be read ({exc.strerror})") from exc

    def stat(self, bucket: str, name: str) -> BlobInfo:
        """Metadata with generation; a file dropped by hand is registered first."""
        check_name(bucket, name)
        try:
            found = self._lstat(bucket, name)
        except RefusedFileError as exc:
            raise self._refused(bucket, name, exc.reason) from exc
        if found is None:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist")
        info = self._record(bucket, name)
        if info is None or info[1] != found.st_mtime_ns:
            return self._register(bucket, name)
        return info[0]

    def exists(self, bucket: str, name: str) -> bool:
        """Whether the object exists."""
        check_name(bucket, name)
        return self._regular(bucket, name) is not None

    def _lstat(self, bucket: str, name: str) -> os.stat_result | None:
        """The object's file as ``lstat`` sees it, None when there is none (or a folder is
        there). A link (at any level) or a special file raises RefusedFileError."""
        try:
            found = lstat_beneath(self.root / bucket, name)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except PermissionError as exc:
            raise RefusedFileError(f"cannot be read ({exc.strerror})") from exc
        if stat.S_ISDIR(found.st_mode):
            return None
        problem = file_kind_problem(found.st_mode)
        if problem is not None:
            raise RefusedFileError(problem)
        return found

    def _regular(self, bucket: str, name: str) -> os.stat_result | None:
        """:meth:`_lstat`, a refused file counting as none (nothing recorded: this runs
        inside write transactions)."""
        try:
            return self._lstat(bucket, name)
        except RefusedFileError:
            return None

    def list(self, bucket: str, prefix: str = "") -> Iterator[BlobInfo]:
        """Objects under ``prefix`` in name order (files dropped by hand included), lazily:
        the folder is walked in name order beside the registered records, read a page at a
        time, so taking the first objects of a large bucket costs only those. Files that
        cannot be objects are refused (recorded, logged once), never listed."""
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
                found = entry.stat(follow_symlinks=False)
            except FileNotFoundError:
                continue  # deleted while we listed
            mine = record if record is not None and record[0] == name else None
            problem = refusal(name, found.st_mode, registered=mine is not None)
            if problem is not None:
                self._refuse(bucket, name, problem)
                continue
            if mine is None or mine[7] != found.st_mtime_ns:
                try:
                    yield self._register(bucket, name)
                except (NotFoundError, ChangingFileError):
                    continue  # vanished, refused, or still being written: not an object yet
            else:
                yield self._info(bucket, mine)

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
                live = self._live_generation(bucket, name, current)
                self._check_precondition(bucket, name, live, if_generation_match)
                if current is not None and live == current[0].generation:
                    self._keep_version(path, bucket, name, live)
                mtime_ns = self._move_into_place(bucket, name, tmp)
                previous = current[0].generation if current else 0
                return self._commit_record(
                    conn,
                    bucket,
                    name,
                    (len(data), md5_hash, mtime_ns),
                    content_type,
                    metadata or {},
                    previous,
                )
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _move_into_place(self, bucket: str, name: str, tmp: str) -> int:
        """Rename the finished temp file to the object's path (its folders made as needed,
        none of them a link) and return its modification time."""
        *folders, leaf = name.split("/")
        clash = f"gs://{bucket}/{name}: clashes with another object's folder locally"
        try:
            (self.root / bucket).mkdir(parents=True, exist_ok=True)
            parent = open_folder(self.root / bucket, folders, create=True)
        except RefusedFileError as exc:
            raise PermanentError(f"gs://{bucket}/{name}: not written: {exc.reason}") from exc
        except (NotADirectoryError, FileExistsError) as exc:
            raise PermanentError(clash) from exc
        try:
            # A link at the object's own name is replaced, never written through.
            os.replace(tmp, leaf, dst_dir_fd=parent)
            return os.stat(leaf, dir_fd=parent, follow_symlinks=False).st_mtime_ns
        except (NotADirectoryError, IsADirectoryError, FileExistsError) as exc:
            raise PermanentError(clash) from exc
        finally:
            os.close(parent)

    def _live_generation(self, bucket: str, name: str, current: tuple[BlobInfo, int] | None) -> int:
        """The generation a precondition compares with: 0 when absent (or not a regular
        file: a link or FIFO there is no object)."""
        found = self._regular(bucket, name)
        if found is None:
            return 0
        if current is None or current[1] != found.st_mtime_ns:
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
        content: tuple[int, str, int],
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
        mtime_ns = content[2]  # of the file as registered: a later change shows as a new one
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
        video can be large), from the descriptor that was checked to be a regular file, and
        registered only if it did not change (nor was replaced) while it was read.
        """
        try:
            with self._open(bucket, name) as handle:
                before = os.fstat(handle.fileno())
                size, md5_hash = hash_stream(handle)
                after = os.fstat(handle.fileno())
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist") from exc
        seen = (after.st_mtime_ns, after.st_size, after.st_ino)
        if (before.st_mtime_ns, before.st_size) != seen[:2] or size != after.st_size:
            raise ChangingFileError(f"gs://{bucket}/{name} is still being written")
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            now = self._regular(bucket, name)
            if now is None:
                raise NotFoundError(f"gs://{bucket}/{name} does not exist")
            if current is not None and current[1] == now.st_mtime_ns:
                return current[0]  # another thread or process registered it meanwhile
            if (now.st_mtime_ns, now.st_size, now.st_ino) != seen:
                raise ChangingFileError(f"gs://{bucket}/{name} is still being written")
            conn.execute(
                "DELETE FROM refused_files WHERE bucket=? AND path=?", (bucket, os.fsencode(name))
            )
            content_type = current[0].content_type if current else guess_type(name)
            metadata = current[0].metadata if current else {}
            previous = current[0].generation if current else 0
            return self._commit_record(
                conn,
                bucket,
                name,
                (size, md5_hash, now.st_mtime_ns),
                content_type,
                metadata,
                previous,
            )

    def delete(self, bucket: str, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object (NotFoundError, PreconditionFailedError)."""
        path = self._path(bucket, name)
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            live = self._live_generation(bucket, name, current)
            if live:
                self._check_precondition(bucket, name, live, if_generation_match)
                if current is not None and live == current[0].generation:
                    self._keep_version(path, bucket, name, live)
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

    def scan(
        self, settle_seconds: float = 0.0, cancelled: Callable[[], bool] | None = None
    ) -> builtins.list[BlobInfo]:
        """Register files that were dropped, changed or removed by another program.

        Files modified in the last ``settle_seconds``, or that change while they are read,
        are left for the next scan (counted in ``deferred_files``), so a program still writing
        one is not caught half-way. Files that cannot be objects are refused (recorded and
        logged once), and count neither as found nor as deferred: they never keep a run
        from going idle. Plain ``os`` calls: this walks every object.

        ``cancelled`` (asked every 100 files) ends a scan early, as when ``serve`` is asked to
        stop: what it registered stands, and removals wait for the next whole scan (a part
        of a folder says nothing about what is gone).
        """
        found: builtins.list[BlobInfo] = []
        deferred = 0
        horizon_ns = time.time_ns() - int(settle_seconds * 1e9)
        for bucket in self.buckets():
            base = os.path.join(self.root, bucket)
            conn = self._db.connection()
            records = dict(
                conn.execute("SELECT name, mtime_ns FROM objects WHERE bucket=?", (bucket,))
            )
            refused = dict(
                conn.execute("SELECT path, reason FROM refused_files WHERE bucket=?", (bucket,))
            )
            on_disk: set[str] = set()
            still_refused: set[bytes] = set()
            for seen, entry in enumerate(walk_files(base)):
                if cancelled is not None and seen % 100 == 99 and cancelled():
                    self.deferred_files = deferred + 1  # not a whole look: not idle
                    return found
                name = os.path.relpath(entry.path, base).replace(os.sep, "/")
                try:
                    entry_stat = entry.stat(follow_symlinks=False)
                except FileNotFoundError:
                    continue
                mtime_ns = entry_stat.st_mtime_ns
                problem = refusal(name, entry_stat.st_mode, registered=name in records)
                if problem is not None:
                    still_refused.add(os.fsencode(name))
                    if refused.get(os.fsencode(name)) != problem:
                        self._refuse(bucket, name, problem)
                    continue
                on_disk.add(name)
                if records.get(name) == mtime_ns:
                    continue
                if mtime_ns > horizon_ns:
                    deferred += 1
                    continue
                try:
                    found.append(self._register(bucket, name))
                except ChangingFileError:
                    deferred += 1
                except RefusedObjectError:
                    still_refused.add(os.fsencode(name))  # refused once opened (recorded)
                except NotFoundError:
                    continue  # vanished
            for name in records.keys() - on_disk:
                self._forget(bucket, name)
            self._drop_refused(bucket, refused.keys() - still_refused)
        self.deferred_files = deferred
        return found

    def _forget(self, bucket: str, name: str) -> None:
        """A registered file that another program removed (or replaced by something that is
        not an object, such as a link): announce its deletion."""
        with self._db.write() as conn:
            current = self._record(bucket, name, conn)
            if current is None or self._regular(bucket, name) is not None:
                return  # forgotten or re-created meanwhile
            conn.execute("DELETE FROM objects WHERE bucket=? AND name=?", (bucket, name))
            self._notify(conn, current[0], "OBJECT_DELETE")

    # --- refused files ----------------------------------------------------------------------

    def _refused(self, bucket: str, name: str, reason: str) -> RefusedObjectError:
        """Record a refused file and say why it is no object (for the caller to raise)."""
        self._refuse(bucket, name, reason)
        return RefusedObjectError(f"gs://{bucket}/{shown_name(name)}: {reason}: not an object")

    def _refuse(self, bucket: str, name: str, reason: str) -> None:
        """Keep why a file in a bucket folder is not an object; log it once per file (and
        again only if the reason changes)."""
        path = os.fsencode(name)
        row = (
            self._db.connection()
            .execute("SELECT reason FROM refused_files WHERE bucket=? AND path=?", (bucket, path))
            .fetchone()
        )
        if row is not None and row[0] == reason:
            return
        shown = shown_name(name)
        with self._db.write() as conn:
            conn.execute(
                "INSERT OR REPLACE INTO refused_files(bucket, path, name, reason, seen_us)"
                " VALUES (?,?,?,?,?)",
                (bucket, path, shown, reason, time.time_ns() // 1000),
            )
        log.warning("refused gs://%s/%s: %s; it is not read", bucket, shown, reason)

    def _drop_refused(self, bucket: str, paths: Iterable[bytes]) -> None:
        """Forget refusals of files that are gone or became objects."""
        gone = [(bucket, path) for path in paths]
        if gone:
            with self._db.write() as conn:
                conn.executemany("DELETE FROM refused_files WHERE bucket=? AND path=?", gone)

    def refused_files(self, bucket: str | None = None) -> builtins.list[RefusedFile]:
        """The files of bucket folders that are not objects (links, FIFOs, unusable names...)
        with why, in name order: what ``vidcurate quarantine`` lists. A file since removed or
        made a regular file is forgotten here."""
        query = "SELECT bucket, path, name, reason, seen_us FROM refused_files"
        rows = self._db.connection().execute(
            query + (" WHERE bucket=? ORDER BY path" if bucket else " ORDER BY bucket, path"),
            (bucket,) if bucket else (),
        )
        # Only read here (a read-only home lists too): the next scan forgets the records.
        return [
            RefusedFile(row_bucket, name, reason, datetime.fromtimestamp(seen_us / 1e6, UTC))
            for row_bucket, path, name, reason, seen_us in rows.fetchall()
            if self._still_refused(row_bucket, os.fsdecode(path))
        ]

    def _still_refused(self, bucket: str, name: str) -> bool:
        """Whether the file is still there and still no object."""
        try:
            found = lstat_beneath(self.root / bucket, name)
        except RefusedFileError:
            return True
        except OSError:
            return False  # gone
        if stat.S_ISDIR(found.st_mode):
            return False  # a folder now: what it holds is judged on its own
        return refusal(name, found.st_mode) is not None or self._record(bucket, name) is None

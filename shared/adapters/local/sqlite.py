"""SQLite plumbing shared by the local adapters: WAL, one connection per thread and process,
and write transactions that take the write lock up front (``BEGIN IMMEDIATE``).

Taking the lock up front makes every read-modify-write serializable across threads and
processes: two writers never both read the old value, so no update is lost.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.core.errors import ContentionError, StorageError, VidcurateError, storage_problem

BUSY_TIMEOUT_MS = 30_000


class SqliteDatabase:
    """A SQLite file opened in WAL mode, with per-thread connections."""

    def __init__(self, path: Path, schema: str, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._schema = schema
        self._synchronous = synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[tuple[weakref.ref[threading.Thread], sqlite3.Connection]] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    def _init_schema(self) -> None:
        # executescript commits on its own, so it runs outside our explicit transactions;
        # the busy timeout covers another process creating the same schema at the same time.
        try:
            _while_locked(lambda: self.connection().executescript(self._schema))
        except sqlite3.OperationalError as exc:
            problem = sqlite_storage_problem(self.path, exc)
            if problem is not None:
                raise problem from exc
            raise ContentionError(f"{self.path}: could not create the schema: {exc}") from exc

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a fresh one after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        try:
            # Switching a fresh file to WAL can answer "locked" at once, without waiting on
            # the busy handler, while another process creates the same file: retry it.
            _while_locked(lambda: conn.execute("PRAGMA journal_mode=WAL"))
        except sqlite3.OperationalError as exc:
            _close_quietly(conn)
            problem = sqlite_storage_problem(self.path, exc)
            if problem is not None:
                raise problem from exc
            raise ContentionError(f"{self.path}: could not open the database: {exc}") from exc
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            # Worker threads come and go (a pool per runtime run): close the connections of
            # threads that ended instead of keeping their file handles until close().
            alive = []
            for owner, other in self._connections:
                thread = owner()
                if thread is not None and thread.is_alive():
                    alive.append((owner, other))
                else:
                    _close_quietly(other)
            alive.append((weakref.ref(threading.current_thread()), conn))
            self._connections = alive
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A serializable write transaction; rolled back if the block raises."""
        conn = self.connection()
        if conn.in_transaction:
            raise VidcurateError(
                f"{self.path}: a write was started inside another write on the same thread "
                "(use the transaction's own methods instead)"
            )
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ContentionError(f"{self.path}: database stayed locked: {exc}") from exc
        try:
            yield conn
            conn.execute("COMMIT")
        except BaseException as exc:
            # SQLite may already have rolled back (I/O error, full disk); never let a
            # second error hide the first, and never leave the connection mid-transaction.
            if conn.in_transaction:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            problem = (
                sqlite_storage_problem(self.path, exc)
                if isinstance(exc, sqlite3.OperationalError)
                else None
            )
            if problem is not None:
                raise problem from exc
            raise

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        with self._lock:
            connections, self._connections = self._connections, []
        for _owner, conn in connections:
            _close_quietly(conn)
        self._local = threading.local()


# SQLite's primary result codes that mean the disk, not the data: as the errno they stand for.
_SQLITE_STORAGE_ERRNOS = {
    sqlite3.SQLITE_FULL: errno.ENOSPC,
    sqlite3.SQLITE_READONLY: errno.EACCES,
    sqlite3.SQLITE_CANTOPEN: errno.EACCES,
    sqlite3.SQLITE_IOERR: errno.EIO,
}


def sqlite_storage_problem(path: Path, exc: sqlite3.Error) -> StorageError | None:
    """A full or read-only disk under a database, in the user's words (else None)."""
    code = getattr(exc, "sqlite_errorcode", None)
    number = _SQLITE_STORAGE_ERRNOS.get(code & 0xFF) if code is not None else None
    if number is None:
        return None
    if number == errno.EACCES and _read_only_file_system(path.parent):
        number = errno.EROFS
    return storage_problem(path, OSError(number, os.strerror(number), str(path)))


def _read_only_file_system(folder: Path) -> bool:
    try:
        return bool(os.statvfs(folder).f_flag & os.ST_RDONLY)
    except OSError:
        return False


def _while_locked(step: Callable[[], object]) -> None:
    """Run ``step``, retrying with a growing pause while SQLite answers "locked"/"busy"
    without having waited (bounded by the busy timeout)."""
    deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
    pause = 0.005
    while True:
        try:
            step()
            return
        except sqlite3.OperationalError as exc:
            message = str(exc)
            if "locked" not in message and "busy" not in message:
                raise
            if time.monotonic() + pause > deadline:
                raise
            time.sleep(pause)
            pause = min(pause * 2, 0.25)


def _close_quietly(conn: sqlite3.Connection) -> None:
    with contextlib.suppress(sqlite3.Error):
        conn.close()

"""SQLite plumbing shared by the local adapters: WAL, one connection per thread and process,
and write transactions that take the write lock up front (``BEGIN IMMEDIATE``).

Taking the lock up front makes every read-modify-write serializable across threads and
processes: two writers never both read the old value, so no update is lost.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from shared.errors import ContentionError

BUSY_TIMEOUT_MS = 30_000


class SqliteDatabase:
    """A SQLite file opened in WAL mode, with per-thread connections."""

    def __init__(self, path: Path, schema: str, *, synchronous: str = "NORMAL") -> None:
        self.path = path
        self._schema = schema
        self._synchronous = synchronous
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        path.parent.mkdir(parents=True, exist_ok=True)
        self._init_schema()

    def _init_schema(self) -> None:
        # executescript commits on its own, so it runs outside our explicit transactions;
        # the busy timeout covers another process creating the same schema at the same time.
        try:
            self.connection().executescript(self._schema)
        except sqlite3.OperationalError as exc:
            raise ContentionError(f"{self.path}: could not create the schema: {exc}") from exc

    def connection(self) -> sqlite3.Connection:
        """This thread's connection (a fresh one after a fork)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is not None and getattr(self._local, "pid", None) == os.getpid():
            return conn
        conn = sqlite3.connect(
            self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute(f"PRAGMA synchronous={self._synchronous}")
        conn.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
        self._local.conn = conn
        self._local.pid = os.getpid()
        with self._lock:
            self._connections.append(conn)
        return conn

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A serializable write transaction; rolled back if the block raises."""
        conn = self.connection()
        try:
            conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            raise ContentionError(f"{self.path}: database stayed locked: {exc}") from exc
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A consistent snapshot for several reads."""
        conn = self.connection()
        conn.execute("BEGIN")
        try:
            yield conn
        finally:
            conn.execute("COMMIT")

    def close(self) -> None:
        """Close every connection this object opened in this process."""
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.ProgrammingError:
                continue  # a connection owned by a thread that already ended
        self._local = threading.local()

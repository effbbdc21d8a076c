"""The Firestore-shaped document store on SQLite (WAL), with real transactions.

Documents are JSON in one table keyed by (collection path, id). Datetimes and bytes are
tagged so that they round-trip. Writes in a transaction or batch are buffered and applied
together under the write lock, as Firestore applies them at commit.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson

from shared.adapters.local.sqlite import SqliteDatabase
from shared.core.errors import AlreadyExistsError, NotFoundError, VidcurateError
from shared.ports.documents import (
    DELETE_FIELD,
    SERVER_TIMESTAMP,
    Document,
    Filter,
    Order,
    check_collection_path,
    split_document_path,
)

T = TypeVar("T")

MAX_BATCH_WRITES = 500

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
    collection TEXT NOT NULL,
    id TEXT NOT NULL,
    data TEXT NOT NULL,
    create_us INTEGER NOT NULL,
    update_us INTEGER NOT NULL,
    PRIMARY KEY (collection, id)
) WITHOUT ROWID;
"""

_SIMPLE_FIELD = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")


# --- encoding -------------------------------------------------------------------------------


def _encode_value(value: Any) -> Any:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return {"__datetime__": value.astimezone(UTC).isoformat()}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): _encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_encode_value(v) for v in value]
    if value is SERVER_TIMESTAMP or value is DELETE_FIELD:
        raise VidcurateError(f"{value!r} is only allowed as a top-level field value")
    return value


def _decode_hook(obj: dict[str, Any]) -> Any:
    if len(obj) == 1:
        if "__datetime__" in obj:
            return datetime.fromisoformat(obj["__datetime__"])
        if "__bytes__" in obj:
            return base64.b64decode(obj["__bytes__"])
    return obj


def _default(value: Any) -> Any:
    """What the C encoder cannot write itself; anything unusual takes the slow path."""
    if isinstance(value, datetime | bytes):
        return _encode_value(value)
    raise TypeError(type(value).__name__)


def _dumps(data: Mapping[str, Any]) -> str:
    # The C encoder walks the document and calls back only for timestamps and bytes;
    # the Python walk is kept for what it cannot do (non-string keys, other mappings,
    # sentinels in nested values, which must fail with our error).
    try:
        return json.dumps(data, default=_default, separators=(",", ":"), sort_keys=True)
    except TypeError:
        return json.dumps(_encode_value(data), separators=(",", ":"), sort_keys=True)


def _loads(text: str) -> dict[str, Any]:
    # Most documents hold special values (timestamps) only at the top level, where
    # SERVER_TIMESTAMP puts them: decode with orjson and fix those up, falling back to the
    # slower hook-based decoder when markers sit deeper.
    markers = text.count('"__datetime__"') + text.count('"__bytes__"')
    loaded: dict[str, Any] = orjson.loads(text)
    if markers:
        fixed = 0
        for key, value in loaded.items():
            if isinstance(value, dict) and len(value) == 1:
                decoded = _decode_hook(value)
                if decoded is not value:
                    loaded[key] = decoded
                    fixed += 1
        if fixed != markers:
            loaded = json.loads(text, object_hook=_decode_hook)
    return loaded


def _now_us() -> int:
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def _from_us(us: int) -> datetime:
    return datetime.fromtimestamp(us / 1_000_000, UTC)


# --- field values ---------------------------------------------------------------------------


def _resolve(value: Any, now: datetime) -> Any:
    if value is SERVER_TIMESTAMP:
        return now
    if isinstance(value, Mapping):
        return {k: _resolve(v, now) for k, v in value.items() if v is not DELETE_FIELD}
    return value


def _deep_merge(base: dict[str, Any], patch: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    merged = dict(base)
    for key, value in patch.items():
        if value is DELETE_FIELD:
            merged.pop(key, None)
        elif isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value, now)
        else:
            merged[key] = _resolve(value, now)
    return merged


def _apply_update(
    base: dict[str, Any], updates: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    result = json.loads(json.dumps(_encode_value(base)), object_hook=_decode_hook)
    for dotted, value in updates.items():
        keys = dotted.split(".")
        node = result
        for key in keys[:-1]:
            child = node.get(key)
            if not isinstance(child, dict):
                if value is DELETE_FIELD:
                    break
                child = {}
                node[key] = child
            node = child
        else:
            if value is DELETE_FIELD:
                node.pop(keys[-1], None)
            else:
                node[keys[-1]] = _resolve(value, now)
    return result  # type: ignore[no-any-return]


_MISSING = object()


def _field(data: Mapping[str, Any], dotted: str) -> Any:
    node: Any = data
    for key in dotted.split("."):
        if not isinstance(node, Mapping) or key not in node:
            return _MISSING
        node = node[key]
    return node


def _kind(value: Any) -> int:
    # Firestore orders values by type first: null < bool < number < timestamp < string < bytes
    # < array < map. Comparisons only match values of the same kind.
    if value is None:
        return 0
    if isinstance(value, bool):
        return 1
    if isinstance(value, int | float):
        return 2
    if isinstance(value, datetime):
        return 3
    if isinstance(value, str):
        return 4
    if isinstance(value, bytes):
        return 5
    if isinstance(value, list):
        return 6
    return 7


def _same(a: Any, b: Any) -> bool:
    return _kind(a) == _kind(b) and a == b


def _normalise(value: Any) -> Any:
    # Writes store naive datetimes as UTC; filters must compare them the same way.
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    if isinstance(value, list | tuple):
        return [_normalise(item) for item in value]
    return value


def _sql_filters(where: Sequence[Filter]) -> tuple[str, list[Any], bool]:
    """SQL pre-filters for equality and ``in`` on plain fields, and whether they are exact.

    Strings compare the same in SQL and in Firestore, so filters on strings alone need no
    re-check (counts and limits can then run in SQL); other values are re-checked in
    Python, which alone knows Firestore's typing rules.
    """
    sql = ""
    params: list[Any] = []
    exact = True
    for field, op, value in where:
        values = value if op == "in" and isinstance(value, list | tuple) else [value]
        if (
            op in ("==", "in")
            and _SIMPLE_FIELD.match(field)
            and values
            and all(isinstance(v, str | int | float) and not isinstance(v, bool) for v in values)
        ):
            marks = ", ".join("?" * len(values))
            sql += f" AND json_extract(data, ?) IN ({marks})"
            params += ["$." + field, *values]
            exact = exact and all(isinstance(v, str) for v in values)
        else:
            exact = False
    return sql, params, exact


def _matches(data: Mapping[str, Any], flt: Filter) -> bool:
    field, op, expected = flt
    expected = _normalise(expected)
    value = _field(data, field)
    if value is _MISSING:
        return False
    if op == "==":
        return _same(value, expected)
    if op == "!=":
        return value is not None and not _same(value, expected)
    if op == "in":
        return any(_same(value, item) for item in expected)
    if op == "not-in":
        return value is not None and not any(_same(value, item) for item in expected)
    if op == "array-contains":
        return isinstance(value, list) and any(_same(item, expected) for item in value)
    if _kind(value) != _kind(expected) or _kind(value) in (0, 6, 7):
        return False
    if op == "<":
        return bool(value < expected)
    if op == "<=":
        return bool(value <= expected)
    if op == ">":
        return bool(value > expected)
    if op == ">=":
        return bool(value >= expected)
    raise VidcurateError(f"unsupported filter operator {op!r}")


def _doc_sort_key(field: str, doc: Document) -> tuple[int, Any]:
    return _sort_key(_field(doc.data, field))


def _sort_key(value: Any) -> tuple[int, Any]:
    kind = _kind(value)
    if kind in (0, 6, 7):
        return kind, json.dumps(_encode_value(value), sort_keys=True)
    return kind, value


# --- writes ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Write:
    op: str  # create | set | merge | update | delete
    path: str
    data: Mapping[str, Any] | None = None


def _row(conn: sqlite3.Connection, path: str) -> tuple[dict[str, Any], int, int] | None:
    collection, doc_id = split_document_path(path)
    row = conn.execute(
        "SELECT data, create_us, update_us FROM documents WHERE collection=? AND id=?",
        (collection, doc_id),
    ).fetchone()
    if row is None:
        return None
    return _loads(row[0]), int(row[1]), int(row[2])


def _apply(conn: sqlite3.Connection, write: _Write, now_us: int) -> None:
    collection, doc_id = split_document_path(write.path)
    if write.op == "delete":
        conn.execute("DELETE FROM documents WHERE collection=? AND id=?", (collection, doc_id))
        return
    current = _row(conn, write.path)
    if current is not None:
        now_us = max(now_us, current[2] + 1)  # a document's update time never goes back
    now = _from_us(now_us)
    data = write.data or {}
    if write.op == "create":
        if current is not None:
            raise AlreadyExistsError(f"document already exists: {write.path}")
        new = _resolve(data, now)
    elif write.op == "set":
        new = _resolve(data, now)
    elif write.op == "merge":
        new = _deep_merge(current[0] if current else {}, data, now)
    elif write.op == "update":
        if current is None:
            raise NotFoundError(f"no document to update: {write.path}")
        new = _apply_update(current[0], data, now)
    else:  # pragma: no cover - _Write is built only below
        raise VidcurateError(f"unknown write {write.op}")
    create_us = current[1] if current else now_us
    conn.execute(
        "INSERT INTO documents(collection, id, data, create_us, update_us) VALUES (?,?,?,?,?)"
        " ON CONFLICT(collection, id) DO UPDATE SET data=excluded.data,"
        " update_us=excluded.update_us",
        (collection, doc_id, _dumps(new), create_us, now_us),
    )


class _Writes:
    """Buffered writes, shared by transactions and batches."""

    def __init__(self) -> None:
        self.writes: list[_Write] = []

    def create(self, path: str, data: Mapping[str, Any]) -> None:
        split_document_path(path)
        self.writes.append(_Write("create", path, dict(data)))

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        split_document_path(path)
        self.writes.append(_Write("merge" if merge else "set", path, dict(data)))

    def update(self, path: str, data: Mapping[str, Any]) -> None:
        split_document_path(path)
        if not data:
            raise VidcurateError(f"update of {path} with no fields")
        self.writes.append(_Write("update", path, dict(data)))

    def delete(self, path: str) -> None:
        split_document_path(path)
        self.writes.append(_Write("delete", path))


class LocalTransaction(_Writes):
    """Reads go to the locked connection; writes apply at commit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        super().__init__()
        self._conn = conn

    def get(self, path: str) -> Document | None:
        if self.writes:
            raise VidcurateError("transactions must do all their reads before any write")
        row = _row(self._conn, path)
        if row is None:
            return None
        return Document(path, row[0], _from_us(row[1]), _from_us(row[2]))


class LocalWriteBatch(_Writes):
    """Writes applied together when the batch commits."""


class SqliteDocumentStore:
    """Documents in a SQLite file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)

    def _commit(self, writes: Sequence[_Write], conn: sqlite3.Connection | None = None) -> None:
        # The commit time is read once the write lock is held: a writer that waited for the
        # lock must not stamp its documents earlier than the writer it waited for.
        if conn is not None:
            now_us = _now_us()
            for write in writes:
                _apply(conn, write, now_us)
            return
        with self._db.write() as locked:
            now_us = _now_us()
            for write in writes:
                _apply(locked, write, now_us)

    # single writes
    def create(self, path: str, data: Mapping[str, Any]) -> None:
        """Write only if absent (AlreadyExistsError)."""
        split_document_path(path)
        self._commit([_Write("create", path, dict(data))])

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        """Replace, or deep-merge with ``merge=True``."""
        split_document_path(path)
        self._commit([_Write("merge" if merge else "set", path, dict(data))])

    def update(self, path: str, data: Mapping[str, Any]) -> None:
        """Change fields of an existing document (NotFoundError)."""
        batch = LocalWriteBatch()
        batch.update(path, data)
        self._commit(batch.writes)

    def delete(self, path: str) -> None:
        """Delete; a missing document is fine."""
        split_document_path(path)
        self._commit([_Write("delete", path)])

    # reads
    def get(self, path: str) -> Document | None:
        """The document or None."""
        row = _row(self._db.connection(), path)
        if row is None:
            return None
        return Document(path, row[0], _from_us(row[1]), _from_us(row[2]))

    def get_many(self, paths: Sequence[str]) -> dict[str, Document]:
        """The existing documents of ``paths``, by path: one query per collection chunk."""
        by_collection: dict[str, list[str]] = {}
        for path in paths:
            collection, doc_id = split_document_path(path)
            by_collection.setdefault(collection, []).append(doc_id)
        found: dict[str, Document] = {}
        conn = self._db.connection()
        for collection, ids in by_collection.items():
            for start in range(0, len(ids), 500):
                chunk = ids[start : start + 500]
                marks = ",".join("?" * len(chunk))
                sql = (
                    "SELECT id, data, create_us, update_us FROM documents"  # noqa: S608
                    f" WHERE collection=? AND id IN ({marks})"  # placeholders only
                )
                rows = conn.execute(sql, (collection, *chunk)).fetchall()
                for doc_id, text, create_us, update_us in rows:
                    path = f"{collection}/{doc_id}"
                    found[path] = Document(
                        path, _loads(text), _from_us(create_us), _from_us(update_us)
                    )
        return found

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        order_by: Sequence[Order] = (),
        limit: int | None = None,
    ) -> list[Document]:
        """Matching documents of one collection, Firestore semantics for missing fields."""
        check_collection_path(collection)
        conditions, params, exact = _sql_filters(where)
        sql = "SELECT id, data, create_us, update_us FROM documents WHERE collection=?"
        sql += conditions  # placeholders only: values travel as parameters
        params = [collection, *params]
        if exact and not order_by and limit is not None:
            sql += " ORDER BY id LIMIT ?"  # SQL alone decides: stop at the first matches
            params.append(limit)
        docs = []
        for doc_id, text, create_us, update_us in self._db.connection().execute(sql, params):
            data = _loads(text)
            if all(_matches(data, flt) for flt in where):
                docs.append(
                    Document(
                        f"{collection}/{doc_id}", data, _from_us(create_us), _from_us(update_us)
                    )
                )
        # Firestore breaks ties by document id, in the direction of the last ordering.
        docs.sort(key=lambda d: d.id, reverse=bool(order_by) and order_by[-1][1] == "desc")
        for field, direction in reversed(order_by):
            docs = [d for d in docs if _field(d.data, field) is not _MISSING]
            docs.sort(key=functools.partial(_doc_sort_key, field), reverse=direction == "desc")
        return docs[:limit] if limit is not None else docs

    def count(self, collection: str, where: Sequence[Filter] = ()) -> int:
        """How many documents match."""
        if not where:
            check_collection_path(collection)
            row = (
                self._db.connection()
                .execute("SELECT count(*) FROM documents WHERE collection=?", (collection,))
                .fetchone()
            )
            return int(row[0])
        conditions, params, exact = _sql_filters(where)
        if exact:
            check_collection_path(collection)
            row = (
                self._db.connection()
                .execute(
                    "SELECT count(*) FROM documents WHERE collection=?"  # noqa: S608 (placeholders only)
                    + conditions,
                    [collection, *params],
                )
                .fetchone()
            )
            return int(row[0])
        return len(self.query(collection, where))

    def collections(self) -> list[str]:
        """Top-level collection ids."""
        rows = self._db.connection().execute(
            "SELECT DISTINCT collection FROM documents WHERE instr(collection, '/') = 0"
            " ORDER BY collection"
        )
        return [row[0] for row in rows]

    def iter_collection(
        self, collection: str, page_size: int = 500, *, fields: Sequence[str] | None = None
    ) -> Iterator[Document]:
        """Every document, in id order, a page at a time (only ``fields`` when given)."""
        check_collection_path(collection)
        last = ""
        while True:
            rows = (
                self._db.connection()
                .execute(
                    "SELECT id, data, create_us, update_us FROM documents"
                    " WHERE collection=? AND id>? ORDER BY id LIMIT ?",
                    (collection, last, page_size),
                )
                .fetchall()
            )
            for doc_id, text, create_us, update_us in rows:
                data = _loads(text)
                if fields is not None:
                    data = {name: data[name] for name in fields if name in data}
                yield Document(
                    f"{collection}/{doc_id}", data, _from_us(create_us), _from_us(update_us)
                )
            if len(rows) < page_size:
                return
            last = rows[-1][0]

    # transactions and batches
    def run_transaction(self, fn: Callable[[LocalTransaction], T], *, max_attempts: int = 5) -> T:
        """Run ``fn`` under the write lock; serializable across threads and processes.

        The lock is taken before the first read, so a transaction never has to be retried
        for a conflict; ``max_attempts`` exists for parity with Firestore.
        """
        del max_attempts
        with self._db.write() as conn:
            tx = LocalTransaction(conn)
            result = fn(tx)
            self._commit(tx.writes, conn)
            return result

    @contextmanager
    def batch(self) -> Iterator[LocalWriteBatch]:
        """Writes committed together when the block ends without an error."""
        batch = LocalWriteBatch()
        yield batch
        if len(batch.writes) > MAX_BATCH_WRITES:
            raise VidcurateError(f"a batch holds at most {MAX_BATCH_WRITES} writes")
        if batch.writes:
            self._commit(batch.writes)

    def close(self) -> None:
        """Close the SQLite connections."""
        self._db.close()

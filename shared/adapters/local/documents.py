"""The Firestore-shaped document store on SQLite (WAL), with real transactions.

Documents are JSON in one table keyed by (collection path, id). Datetimes and bytes are
tagged so that they round-trip (:mod:`shared.adapters.local.docencoding`); queries follow
Firestore's typing rules (:mod:`shared.adapters.local.docquery`). Writes in a transaction or
batch are buffered and applied together under the write lock, as Firestore applies them at
commit.
"""

from __future__ import annotations

import functools
import hashlib
import json
import sqlite3
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from shared.adapters.local.docencoding import (
    decode_hook,
    dump_document,
    encode_value,
    load_document,
    utc_from_us,
    utc_now_us,
)
from shared.adapters.local.docquery import (
    EXACT_KINDS,
    MISSING,
    SqlQuery,
    doc_sort_key,
    field_value,
    kind_sql,
    matches,
    plan_sql,
    sort_key,
)
from shared.adapters.local.sqlite import SqliteDatabase
from shared.core.errors import AlreadyExistsError, NotFoundError, VidcurateError
from shared.ports.documents import (
    DELETE_FIELD,
    SERVER_TIMESTAMP,
    Document,
    Filter,
    Increment,
    Order,
    check_collection_path,
    split_document_path,
)

T = TypeVar("T")

MAX_BATCH_WRITES = 500

MAX_AUTO_INDEXES = 512
"""Indexes the store makes for the (collection, fields) it is asked about, at most. Each is
partial, on one collection: a write to another one only compares its collection name."""

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


# --- field values ---------------------------------------------------------------------------


def _resolve(value: Any, now: datetime, current: Any = None) -> Any:
    if value is SERVER_TIMESTAMP:
        return now
    if isinstance(value, Increment):
        base = current if isinstance(current, int | float) and not isinstance(current, bool) else 0
        return base + value.amount
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
            merged[key] = _resolve(value, now, merged.get(key))
    return merged


def _apply_update(
    base: dict[str, Any], updates: Mapping[str, Any], now: datetime
) -> dict[str, Any]:
    result = json.loads(json.dumps(encode_value(base)), object_hook=decode_hook)
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
                node[keys[-1]] = _resolve(value, now, node.get(keys[-1]))
    return result  # type: ignore[no-any-return]


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
    return load_document(row[0]), int(row[1]), int(row[2])


def _apply(conn: sqlite3.Connection, write: _Write, now_us: int) -> None:
    collection, doc_id = split_document_path(write.path)
    if write.op == "delete":
        conn.execute("DELETE FROM documents WHERE collection=? AND id=?", (collection, doc_id))
        return
    current = _row(conn, write.path)
    if current is not None:
        now_us = max(now_us, current[2] + 1)  # a document's update time never goes back
    now = utc_from_us(now_us)
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
        (collection, doc_id, dump_document(new), create_us, now_us),
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
        return Document(path, row[0], utc_from_us(row[1]), utc_from_us(row[2]))


class LocalWriteBatch(_Writes):
    """Writes applied together when the batch commits."""


@dataclass(frozen=True)
class _Source:
    """``FROM`` and the collection condition of a query, with their parameters."""

    sql: str
    params: tuple[Any, ...]


def _ordered(docs: list[Document], order_by: Sequence[Order], limit: int | None) -> list[Document]:
    """Firestore's order (ties by document id, in the direction of the last ordering),
    documents lacking an ordering field left out, at most ``limit``."""
    docs = sorted(docs, key=lambda d: d.id, reverse=bool(order_by) and order_by[-1][1] == "desc")
    for name, direction in reversed(order_by):
        docs = [d for d in docs if field_value(d.data, name) is not MISSING]
        docs.sort(key=functools.partial(doc_sort_key, name), reverse=direction == "desc")
    return docs[:limit] if limit is not None else docs


class SqliteDocumentStore:
    """Documents in a SQLite file; safe across threads and processes."""

    def __init__(self, path: Path) -> None:
        self._db = SqliteDatabase(path, SCHEMA)
        self._indexes: set[str] = set()  # the indexes known to exist

    def _commit(self, writes: Sequence[_Write], conn: sqlite3.Connection | None = None) -> None:
        # The commit time is read once the write lock is held: a writer that waited for the
        # lock must not stamp its documents earlier than the writer it waited for.
        if conn is not None:
            now_us = utc_now_us()
            for write in writes:
                _apply(conn, write, now_us)
            return
        with self._db.write() as locked:
            now_us = utc_now_us()
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
        return Document(path, row[0], utc_from_us(row[1]), utc_from_us(row[2]))

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
                        path, load_document(text), utc_from_us(create_us), utc_from_us(update_us)
                    )
        return found

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        order_by: Sequence[Order] = (),
        limit: int | None = None,
    ) -> list[Document]:
        """Matching documents of one collection, Firestore semantics for missing fields.

        SQLite narrows (and where it can, decides, orders and limits) through an index of
        the fields asked about, made on first use (see :meth:`_ensure_index`): equality,
        ``in``, ranges and one ordering with a limit read O(log n + results) rows.
        """
        check_collection_path(collection)
        plan = plan_sql(where, order_by)
        source = self._indexed(plan, collection)
        if plan.exact and not order_by and limit is not None and plan.expandable is not None:
            return self._query_each_value(collection, plan, source, where, limit)
        sql = f"SELECT id, data, create_us, update_us FROM {source.sql}"  # noqa: S608
        sql += plan.where()  # placeholders only: values travel as parameters
        params: list[Any] = [*source.params, *plan.params]
        ordered = len(order_by) == 1 and order_by[0][0] in (
            plan.trailing_field,
            *plan.equality_fields,
        )
        if ordered:
            name, direction = order_by[0]
            way = "DESC" if direction == "desc" else "ASC"
            sql += f" AND {kind_sql(name)} IS NOT NULL" + plan.order_by_sql(name, way)
        elif not order_by:
            sql += " ORDER BY id"
            if plan.exact and limit is not None:
                sql += " LIMIT ?"  # SQL alone decides: stop at the first matches
                params.append(limit)
        docs: list[Document] = []
        in_sql_order = True  # every row so far in Firestore's order (no bytes, arrays, maps)
        for doc_id, text, create_us, update_us in self._db.connection().execute(sql, params):
            data = load_document(text)
            if not all(matches(data, flt) for flt in where):
                continue
            docs.append(
                Document(
                    f"{collection}/{doc_id}", data, utc_from_us(create_us), utc_from_us(update_us)
                )
            )
            if ordered:
                in_sql_order = (
                    in_sql_order and sort_key(field_value(data, order_by[0][0]))[0] in EXACT_KINDS
                )
                if in_sql_order and limit is not None and len(docs) >= limit:
                    break  # the first ``limit`` in index order are the answer
        return _ordered(docs, order_by, limit)

    def _query_each_value(
        self, collection: str, plan: SqlQuery, source: _Source, where: Sequence[Filter], limit: int
    ) -> list[Document]:
        """An exact query with an ``in`` of several values and a limit, in id order: one
        index seek per value, merged, so the answer costs O(values x (log n + limit))."""
        found: dict[str, Document] = {}
        for conditions, params in plan.each_value():
            sql = (
                f"SELECT id, data, create_us, update_us FROM {source.sql}"  # noqa: S608 (placeholders only)
                + conditions
                + " ORDER BY id LIMIT ?"
            )
            rows = self._db.connection().execute(sql, [*source.params, *params, limit])
            for doc_id, text, create_us, update_us in rows:
                path = f"{collection}/{doc_id}"
                found[path] = Document(
                    path, load_document(text), utc_from_us(create_us), utc_from_us(update_us)
                )
        docs = [found[path] for path in sorted(found)]
        return [d for d in docs if all(matches(d.data, flt) for flt in where)][:limit]

    def count(
        self, collection: str, where: Sequence[Filter] = (), *, up_to: int | None = None
    ) -> int:
        """How many documents match: counted on an index (no document read) when SQL can
        decide the filters; with ``up_to``, the index is read no further than that."""
        check_collection_path(collection)
        if up_to is not None and up_to <= 0:
            return 0
        plan = plan_sql(where)
        if not plan.exact:
            return len(self.query(collection, where, limit=up_to))
        source = self._indexed(plan, collection)
        rows = f"SELECT 1 FROM {source.sql}" + plan.where()  # noqa: S608 (placeholders only)
        params: list[Any] = [*source.params, *plan.params]
        if up_to is not None:
            rows += " LIMIT ?"
            params.append(up_to)
        row = (
            self._db.connection()
            .execute(f"SELECT count(*) FROM ({rows})", params)  # noqa: S608
            .fetchone()
        )
        return int(row[0])

    def _indexed(self, plan: SqlQuery, collection: str) -> _Source:
        """Where a query of ``collection`` reads from: through the index that serves
        ``plan``, made if it is not there (Firestore indexes every field; this store the
        fields it is asked about, once per database, DDL under the write lock).

        The index is partial, on this collection only (``WHERE collection = '...'``), so
        writes to other collections do not pay for it, and the query names both the index
        (``INDEXED BY``: SQLite's planner otherwise prefers the (collection, id) key and
        reads the whole collection) and the collection as the same literal (so SQLite sees
        that the partial index holds every row the query can match)."""
        scan = _Source("documents WHERE collection=?", (collection,))
        columns = plan.index_columns()
        if not columns:
            return scan
        literal = "'" + collection.replace("'", "''") + "'"
        spec = ", ".join(["collection", *columns])
        key = f"({spec}) WHERE collection = {literal}"
        name = "ix_" + hashlib.sha1(key.encode(), usedforsecurity=False).hexdigest()[:20]
        source = _Source(f"documents INDEXED BY {name} WHERE collection = {literal}", ())
        if name in self._indexes:
            return source
        conn = self._db.connection()
        exists = conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type='index' AND name=?", (name,)
        ).fetchone()
        if exists is None:
            if conn.in_transaction or self._index_count(conn) >= MAX_AUTO_INDEXES:
                return scan  # inside a caller's write, or enough indexes
            with self._db.write() as locked:
                locked.execute(f"CREATE INDEX IF NOT EXISTS {name} ON documents{key}")
        self._indexes.add(name)
        return source

    @staticmethod
    def _index_count(conn: sqlite3.Connection) -> int:
        row = conn.execute(
            "SELECT count(*) FROM sqlite_master WHERE type='index' AND name LIKE 'ix_%'"
        ).fetchone()
        return int(row[0])

    def collections(self) -> list[str]:
        """Top-level collection ids: one step of the primary key per collection (and per
        parent of subcollections), never a read of every document."""
        conn = self._db.connection()
        found: list[str] = []
        after = ""
        while True:
            row = conn.execute(
                "SELECT min(collection) FROM documents WHERE collection > ?", (after,)
            ).fetchone()
            if row is None or row[0] is None:
                return found
            name = str(row[0])
            top, _, rest = name.partition("/")
            if not rest:
                found.append(name)
                after = name
            else:  # a subcollection: on past every path under the same top-level collection
                after = top + "/\U0010ffff"

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
                data = load_document(text)
                if fields is not None:
                    data = {name: data[name] for name in fields if name in data}
                yield Document(
                    f"{collection}/{doc_id}", data, utc_from_us(create_us), utc_from_us(update_us)
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

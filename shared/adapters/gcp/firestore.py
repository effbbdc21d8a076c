"""The document store port over Firestore (google-cloud-firestore)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from google.api_core import exceptions as gexc
from google.cloud import firestore

from shared.adapters.gcp._errors import translated
from shared.core.errors import ContentionError, VidcurateError
from shared.platform.settings import PlatformSettings
from shared.ports.documents import (
    DELETE_FIELD,
    SERVER_TIMESTAMP,
    Document,
    Filter,
    Increment,
    Order,
    Transaction,
    check_collection_path,
    split_document_path,
)

T = TypeVar("T")

MAX_BATCH_WRITES = 500
DOCUMENT_ID = "__name__"  # the field path Firestore orders documents by id with

_OPERATORS = {"array-contains": "array_contains"}
_DIRECTIONS = {"asc": firestore.Query.ASCENDING, "desc": firestore.Query.DESCENDING}


def _to_firestore(value: Any, *, drop_deletes: bool = False) -> Any:
    """Our sentinels to Firestore's, recursively; tuples become arrays.

    ``drop_deletes``: in a replacing ``set`` a DELETE_FIELD means "absent", as in the local
    store, whereas Firestore would reject the write.
    """
    if value is SERVER_TIMESTAMP:
        return firestore.SERVER_TIMESTAMP
    if value is DELETE_FIELD:
        return firestore.DELETE_FIELD
    if isinstance(value, Increment):
        return firestore.Increment(value.amount)
    if isinstance(value, Mapping):
        return {
            str(key): _to_firestore(item, drop_deletes=drop_deletes)
            for key, item in value.items()
            if not (drop_deletes and item is DELETE_FIELD)
        }
    if isinstance(value, list | tuple):
        return [_to_firestore(item) for item in value]
    return value


def _document(snapshot: Any) -> Document | None:
    if not snapshot.exists:
        return None
    return Document(
        path=snapshot.reference.path,
        data=snapshot.to_dict() or {},
        create_time=snapshot.create_time,
        update_time=snapshot.update_time,
    )


class _FirestoreWriter:
    """The writes shared by transactions and batches, buffered until commit."""

    def __init__(self, client: firestore.Client, writes: Any) -> None:
        self._client = client
        self._writes = writes
        self.count = 0

    def create(self, path: str, data: Mapping[str, Any]) -> None:
        """Create at commit; AlreadyExistsError if the document is there."""
        split_document_path(path)
        self._writes.create(self._client.document(path), _to_firestore(data))
        self.count += 1

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        """Replace (or deep-merge) at commit."""
        split_document_path(path)
        self._writes.set(
            self._client.document(path), _to_firestore(data, drop_deletes=not merge), merge=merge
        )
        self.count += 1

    def update(self, path: str, data: Mapping[str, Any]) -> None:
        """Change fields at commit; NotFoundError if the document is missing."""
        split_document_path(path)
        if not data:
            raise VidcurateError(f"update of {path} with no fields")
        self._writes.update(self._client.document(path), _to_firestore(data))
        self.count += 1

    def delete(self, path: str) -> None:
        """Delete at commit (a missing document is fine)."""
        split_document_path(path)
        self._writes.delete(self._client.document(path))
        self.count += 1


class FirestoreTransaction(_FirestoreWriter):
    """A Firestore transaction: reads first (they lock the documents), then writes."""

    def get(self, path: str) -> Document | None:
        """Read a document inside the transaction."""
        if self.count:
            # Firestore forbids it too, but only for some reads; the local store always does.
            raise VidcurateError("transaction read after write")
        split_document_path(path)
        with translated(f"firestore {path}"):
            snapshot = next(iter(self._writes.get(self._client.document(path))))
        return _document(snapshot)


class FirestoreWriteBatch(_FirestoreWriter):
    """Writes committed together, without reads."""


class FirestoreDocumentStore:
    """Documents in Firestore (or its emulator, through FIRESTORE_EMULATOR_HOST)."""

    def __init__(
        self, settings: PlatformSettings, *, client: firestore.Client | None = None
    ) -> None:
        self._client = (
            client
            if client is not None
            else firestore.Client(project=settings.project, database=settings.firestore_database)
        )

    @property
    def client(self) -> firestore.Client:
        """The underlying client."""
        return self._client

    # --- single writes ----------------------------------------------------------------------

    def create(self, path: str, data: Mapping[str, Any]) -> None:
        """Write only if absent (AlreadyExistsError)."""
        split_document_path(path)
        with translated(f"firestore {path}"):
            self._client.document(path).create(_to_firestore(data))

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        """Replace the document, or deep-merge into it with ``merge=True``."""
        split_document_path(path)
        with translated(f"firestore {path}"):
            self._client.document(path).set(
                _to_firestore(data, drop_deletes=not merge), merge=merge
            )

    def update(self, path: str, data: Mapping[str, Any]) -> None:
        """Change fields (dotted paths) of an existing document (NotFoundError)."""
        split_document_path(path)
        if not data:
            raise VidcurateError(f"update of {path} with no fields")
        with translated(f"firestore {path}"):
            self._client.document(path).update(_to_firestore(data))

    def delete(self, path: str) -> None:
        """Delete the document; a missing one is fine."""
        split_document_path(path)
        with translated(f"firestore {path}"):
            self._client.document(path).delete()

    # --- reads ------------------------------------------------------------------------------

    def get(self, path: str) -> Document | None:
        """The document, or None."""
        split_document_path(path)
        with translated(f"firestore {path}"):
            return _document(self._client.document(path).get())

    def get_many(self, paths: Sequence[str]) -> dict[str, Document]:
        """The existing documents of ``paths``, by path (BatchGetDocuments, 300 a call)."""
        found: dict[str, Document] = {}
        for start in range(0, len(paths), 300):
            chunk = paths[start : start + 300]
            for path in chunk:
                split_document_path(path)
            references = [self._client.document(path) for path in chunk]
            with translated(f"firestore get_many ({len(chunk)} documents)"):
                snapshots = list(self._client.get_all(references))
            for snapshot in snapshots:
                document = _document(snapshot)
                if document is not None:
                    found[document.path] = document
        return found

    def _query(
        self, collection: str, where: Sequence[Filter], order_by: Sequence[Order] = ()
    ) -> Any:
        check_collection_path(collection)
        query: Any = self._client.collection(collection)
        for field, op, value in where:
            query = query.where(
                filter=firestore.FieldFilter(field, _OPERATORS.get(op, op), _to_firestore(value))
            )
        for field, direction in order_by:
            query = query.order_by(field, direction=_DIRECTIONS[direction])
        return query

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        order_by: Sequence[Order] = (),
        limit: int | None = None,
    ) -> list[Document]:
        """Documents directly in ``collection`` that match every filter."""
        query = self._query(collection, where, order_by)
        if limit is not None:
            query = query.limit(limit)
        with translated(f"firestore query {collection}"):
            return [doc for snapshot in query.stream() if (doc := _document(snapshot))]

    def count(
        self, collection: str, where: Sequence[Filter] = (), *, up_to: int | None = None
    ) -> int:
        """How many documents match, by a server-side count aggregation (of a limited query
        with ``up_to``: Firestore reads no more index entries than that)."""
        if up_to is not None and up_to <= 0:
            return 0
        query = self._query(collection, where)
        if up_to is not None:
            query = query.limit(up_to)
        with translated(f"firestore count {collection}"):
            results = query.count(alias="count").get()
        return int(results[0][0].value)

    def collections(self) -> list[str]:
        """Top-level collection ids, sorted."""
        with translated("firestore collections"):
            return sorted(collection.id for collection in self._client.collections())

    def iter_collection(
        self, collection: str, page_size: int = 500, *, fields: Sequence[str] | None = None
    ) -> Iterator[Document]:
        """Every document of ``collection`` in id order, ``page_size`` per request; with
        ``fields``, a projection (Firestore sends only those fields)."""
        query = self._query(collection, ()).order_by(DOCUMENT_ID)
        if fields is not None:
            query = query.select(list(fields))
        last: Any = None
        while True:
            page = query.limit(page_size)
            if last is not None:
                page = page.start_after(last)
            with translated(f"firestore {collection}"):
                snapshots = list(page.stream())
            for snapshot in snapshots:
                document = _document(snapshot)
                if document is not None:
                    yield document
            if len(snapshots) < page_size:
                return
            last = snapshots[-1]

    # --- transactions and batches -----------------------------------------------------------

    def run_transaction(self, fn: Callable[[Transaction], T], *, max_attempts: int = 5) -> T:
        """Run ``fn`` in a Firestore transaction, retried on contention.

        The library retries a commit that Firestore aborts, keeping the transaction's place
        in line; when every attempt is aborted (or a read is), ContentionError is raised.
        """

        def attempt(transaction: Any) -> T:
            return fn(FirestoreTransaction(self._client, transaction))

        transaction = self._client.transaction(max_attempts=max_attempts)
        with translated("firestore transaction"):
            try:
                return firestore.transactional(attempt)(transaction)  # type: ignore[no-any-return]
            except ValueError as exc:
                # The library wraps the last Aborted in a ValueError when attempts run out.
                if isinstance(exc.__cause__, gexc.Aborted):
                    raise ContentionError(
                        f"transaction aborted {max_attempts} times by concurrent writers"
                    ) from exc
                raise

    @contextmanager
    def batch(self) -> Iterator[FirestoreWriteBatch]:
        """A batch that commits atomically when the ``with`` block ends without an error."""
        batch = self._client.batch()
        writer = FirestoreWriteBatch(self._client, batch)
        yield writer
        if writer.count > MAX_BATCH_WRITES:
            raise VidcurateError(f"a batch holds at most {MAX_BATCH_WRITES} writes")
        if writer.count:
            with translated("firestore batch"):
                batch.commit()

    def close(self) -> None:
        """Close the client's gRPC channel."""
        self._client.close()  # type: ignore[no-untyped-call]

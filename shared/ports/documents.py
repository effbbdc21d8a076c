"""Document store port: the subset of Firestore that vidcurate uses.

Paths alternate collection and document ids, as in Firestore: ``videos/abc`` or
``runs/r1/jobs/j7``. Field paths in ``update`` may be dotted (``"counts.done"``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, Protocol, TypeVar

from shared.core.errors import VidcurateError

T = TypeVar("T")

FilterOp = Literal["==", "!=", "<", "<=", ">", ">=", "in", "not-in", "array-contains"]
Filter = tuple[str, FilterOp, Any]
Order = tuple[str, Literal["asc", "desc"]]


class _Sentinel:
    def __init__(self, name: str) -> None:
        self._name = name

    def __repr__(self) -> str:
        return self._name

    def __reduce__(self) -> str:
        return self._name


SERVER_TIMESTAMP: Any = _Sentinel("SERVER_TIMESTAMP")
"""A field value replaced by the commit time of the write."""

DELETE_FIELD: Any = _Sentinel("DELETE_FIELD")
"""In ``update`` or a merging ``set``: remove the field."""


@dataclass(frozen=True)
class Increment:
    """A field value that adds ``amount`` to the stored number (to 0 when the field is
    absent or not a number), applied by the store at commit: concurrent writers add up
    without a transaction (a counter kept beside the records it counts)."""

    amount: int | float


def split_document_path(path: str) -> tuple[str, str]:
    """``(collection path, document id)`` of a document path, or a clear error."""
    parts = path.split("/")
    if len(parts) < 2 or len(parts) % 2 or any(not part for part in parts):
        raise VidcurateError(f"not a document path (collection/id[/collection/id...]): {path!r}")
    return "/".join(parts[:-1]), parts[-1]


def check_collection_path(path: str) -> None:
    """Reject anything that is not a collection path (odd number of segments)."""
    parts = path.split("/")
    if len(parts) % 2 == 0 or any(not part for part in parts):
        raise VidcurateError(f"not a collection path: {path!r}")


@dataclass(frozen=True)
class Document:
    """A snapshot of one document."""

    path: str
    data: dict[str, Any]
    create_time: datetime | None = None
    update_time: datetime | None = None

    @property
    def id(self) -> str:
        """The last segment of the path."""
        return self.path.rsplit("/", 1)[-1]


class Writer(Protocol):
    """The writes shared by transactions and batches."""

    def create(self, path: str, data: Mapping[str, Any]) -> None:
        """Write only if the document does not exist (AlreadyExistsError at commit)."""
        ...

    def set(self, path: str, data: Mapping[str, Any], *, merge: bool = False) -> None:
        """Replace the document, or deep-merge into it with ``merge=True``."""
        ...

    def update(self, path: str, data: Mapping[str, Any]) -> None:
        """Change fields (dotted paths allowed) of an existing document (NotFoundError)."""
        ...

    def delete(self, path: str) -> None:
        """Delete the document; deleting a missing document is not an error."""
        ...


class Transaction(Writer, Protocol):
    """Reads then writes, committed atomically; all reads must come before any write."""

    def get(self, path: str) -> Document | None:
        """Read a document inside the transaction."""
        ...


class WriteBatch(Writer, Protocol):
    """Writes committed together (at most 500), without reads."""


class DocumentStore(Writer, Protocol):
    """Firestore-shaped document storage."""

    def get(self, path: str) -> Document | None:
        """The document, or None."""
        ...

    def get_many(self, paths: Sequence[str]) -> dict[str, Document]:
        """The documents of ``paths`` that exist, by path (batched reads, any number)."""
        ...

    def query(
        self,
        collection: str,
        where: Sequence[Filter] = (),
        order_by: Sequence[Order] = (),
        limit: int | None = None,
    ) -> list[Document]:
        """Documents directly in ``collection`` that match every filter."""
        ...

    def count(
        self, collection: str, where: Sequence[Filter] = (), *, up_to: int | None = None
    ) -> int:
        """How many documents match, counted by the store (no hot counter needed); with
        ``up_to``, at most that many (the store stops there: a bounded cost, whatever the
        collection's size)."""
        ...

    def collections(self) -> list[str]:
        """Top-level collection ids."""
        ...

    def run_transaction(self, fn: Callable[[Transaction], T], *, max_attempts: int = 5) -> T:
        """Run ``fn`` in a transaction, retrying it on contention; it must be idempotent."""
        ...

    def batch(self) -> AbstractContextManager[WriteBatch]:
        """A batch that commits when the ``with`` block ends without an error."""
        ...

    def iter_collection(
        self, collection: str, page_size: int = 500, *, fields: Sequence[str] | None = None
    ) -> Iterator[Document]:
        """Every document of ``collection``, in id order, paged; with ``fields``, only those
        top-level fields of each (absent ones are left out): less to read and to hold."""
        ...

"""Blob store port: the subset of Cloud Storage that vidcurate uses."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import IO, Protocol


@dataclass(frozen=True)
class BlobInfo:
    """An object's metadata. ``generation`` changes on every write, as in GCS."""

    bucket: str
    name: str
    generation: int
    size: int
    content_type: str
    md5_hash: str  # base64 of the MD5 digest, as GCS reports it
    updated: datetime
    metadata: Mapping[str, str] = field(default_factory=dict)


def md5_base64(data: bytes) -> str:
    """Base64 MD5 of ``data``: what :attr:`BlobInfo.md5_hash` holds, as GCS reports it."""
    return base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode("ascii")


class BlobStore(Protocol):
    """Buckets of objects with generations and GCS-like preconditions.

    ``if_generation_match=0`` means "only if the object does not exist"; a positive value
    means "only if the live generation is this one". A failed precondition raises
    :class:`shared.core.errors.PreconditionFailedError`; a missing object raises
    :class:`shared.core.errors.NotFoundError`.
    """

    def read(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        """The object's bytes; with ``generation``, those of that generation or NotFoundError.

        Handlers of an object event read the generation the event names, so a replaced
        object is never mistaken for the version the event announced.
        """
        ...

    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None
    ) -> AbstractContextManager[IO[bytes]]:
        """A seekable binary reader of the object (of ``generation``), read in chunks as it
        is consumed: large objects (clips) are never held in memory whole."""
        ...

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
        """Create or replace the object atomically and return its new metadata."""
        ...

    def stat(self, bucket: str, name: str) -> BlobInfo:
        """The object's metadata, generation included."""
        ...

    def exists(self, bucket: str, name: str) -> bool:
        """Whether the object exists."""
        ...

    def list(self, bucket: str, prefix: str = "") -> Iterator[BlobInfo]:
        """Objects whose names start with ``prefix``, in name order."""
        ...

    def delete(self, bucket: str, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object; a missing object raises NotFoundError."""
        ...

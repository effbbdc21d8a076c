"""The blob store port over Cloud Storage (google-cloud-storage)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import IO, Any

from google.cloud.storage import Client as StorageClient

from shared.adapters.gcp._errors import translated
from shared.core.errors import NotFoundError, PreconditionFailedError
from shared.platform.settings import PlatformSettings
from shared.ports.blobstore import BlobInfo


def _info(bucket: str, blob: Any) -> BlobInfo:
    updated = blob.updated or datetime.now(UTC)
    return BlobInfo(
        bucket=bucket,
        name=blob.name,
        generation=int(blob.generation),
        size=int(blob.size or 0),
        content_type=blob.content_type or "application/octet-stream",
        md5_hash=blob.md5_hash or "",
        updated=updated,
        metadata=dict(blob.metadata or {}),
    )


class GcsBlobStore:
    """Objects in Cloud Storage buckets, with GCS generations and preconditions.

    Without a ``client`` it builds one for ``settings.project``. When STORAGE_EMULATOR_HOST
    is set (fake-gcs-server), the client library itself sends requests there with anonymous
    credentials, so the same code runs against the emulator.
    """

    def __init__(self, settings: PlatformSettings, *, client: StorageClient | None = None) -> None:
        self._client = client if client is not None else StorageClient(project=settings.project)

    @property
    def client(self) -> StorageClient:
        """The underlying client (for topology helpers and tests)."""
        return self._client

    def read(self, bucket: str, name: str, *, generation: int | None = None) -> bytes:
        """The object's bytes; with ``generation``, that generation's (NotFoundError).

        A versioned bucket still serves a replaced generation; without versioning only the
        live one exists.
        """
        what = f"gs://{bucket}/{name}" + (f"#{generation}" if generation is not None else "")
        with translated(what):
            blob = self._client.bucket(bucket).blob(name, generation=generation)
            data: bytes = blob.download_as_bytes()
        return data

    @contextmanager
    def open_read(
        self, bucket: str, name: str, *, generation: int | None = None
    ) -> Iterator[IO[bytes]]:
        """A BlobReader: ranged reads of 8 MiB as the consumer reads and seeks."""
        what = f"gs://{bucket}/{name}" + (f"#{generation}" if generation is not None else "")
        with translated(what):
            blob = self._client.bucket(bucket).blob(name, generation=generation)
            blob.reload()  # a missing object or generation fails here, with its name
            reader: IO[bytes] = blob.open("rb", chunk_size=8 << 20)
        try:
            with translated(what):
                yield reader
        finally:
            reader.close()

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
        """Upload the object in one request and return its new metadata."""
        blob = self._client.bucket(bucket).blob(name)
        blob.metadata = dict(metadata) if metadata else None
        with translated(f"gs://{bucket}/{name}"):
            # The library retries an upload only when a generation precondition makes the
            # retry safe (its DEFAULT_RETRY_IF_GENERATION_SPECIFIED); we add no second layer.
            blob.upload_from_string(
                data, content_type=content_type, if_generation_match=if_generation_match
            )
        return _info(bucket, blob)

    def stat(self, bucket: str, name: str) -> BlobInfo:
        """The object's metadata, generation included (NotFoundError)."""
        with translated(f"gs://{bucket}/{name}"):
            blob = self._client.bucket(bucket).get_blob(name)
        if blob is None:
            raise NotFoundError(f"gs://{bucket}/{name} does not exist")
        return _info(bucket, blob)

    def exists(self, bucket: str, name: str) -> bool:
        """Whether the object exists."""
        with translated(f"gs://{bucket}/{name}"):
            return bool(self._client.bucket(bucket).blob(name).exists())

    def list(self, bucket: str, prefix: str = "") -> Iterator[BlobInfo]:
        """Objects whose names start with ``prefix``, in name order (paged by the library)."""
        with translated(f"gs://{bucket}/{prefix}*"):
            for blob in self._client.list_blobs(bucket, prefix=prefix or None):
                yield _info(bucket, blob)

    def delete(self, bucket: str, name: str, *, if_generation_match: int | None = None) -> None:
        """Delete the object (NotFoundError; PreconditionFailedError on a generation mismatch)."""
        what = f"gs://{bucket}/{name}"
        blob = self._client.bucket(bucket).blob(name)
        if if_generation_match is not None:
            # GCS enforces the precondition on delete atomically, but fake-gcs-server ignores
            # it; checking the live generation first makes the emulator honour the contract
            # (with a race the real service closes by checking again server-side).
            live = self.stat(bucket, name)
            if live.generation != if_generation_match:
                raise PreconditionFailedError(
                    f"{what}: generation is {live.generation}, not {if_generation_match}"
                )
        with translated(what):
            blob.delete(if_generation_match=if_generation_match)

    def close(self) -> None:
        """Close the client's HTTP session."""
        self._client.close()

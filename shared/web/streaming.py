"""A bucket object over HTTP the way video players want it: streamed in chunks (never whole
in memory), an ``ETag`` (``If-None-Match`` answers 304), and one byte range per request
(``bytes=a-b``, ``a-``, ``-n``: 206 with ``Content-Range``; past the end 416; ``If-Range``
with another ETag, a malformed or a multi-range header: the whole object)."""

from __future__ import annotations

import re
from collections.abc import Iterator

from fastapi import Request
from fastapi.responses import Response, StreamingResponse

from shared.ports import BlobStore

__all__ = ["stream_object"]

CHUNK = 1 << 18
_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


def stream_object(
    request: Request,
    blobs: BlobStore,
    bucket: str,
    name: str,
    *,
    size: int,
    etag: str,
    content_type: str,
    cache_control: str,
) -> Response:
    """The object (or the range asked for) as the response (see the module docstring)."""
    headers = {"ETag": etag, "Cache-Control": cache_control, "Accept-Ranges": "bytes"}
    asked = request.headers.get("if-none-match")
    if asked is not None and (
        asked.strip() == "*" or etag in [t.strip() for t in asked.split(",")]
    ):
        return Response(status_code=304, headers=headers)
    span = _range(request, etag, size)
    if isinstance(span, str):
        return Response(status_code=416, headers={**headers, "Content-Range": f"bytes */{size}"})
    start, end = span if span is not None else (0, size - 1)
    length = max(0, end - start + 1)
    headers["Content-Length"] = str(length)
    if span is not None:
        headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    return StreamingResponse(
        _chunks(blobs, bucket, name, start, length),
        status_code=206 if span is not None else 200,
        media_type=content_type,
        headers=headers,
    )


def _range(request: Request, etag: str, size: int) -> tuple[int, int] | str | None:
    """The one byte range asked for (inclusive), ``unsatisfiable``, or None for the whole
    object (no Range, several ranges, a malformed one, or an If-Range for another version)."""
    header = request.headers.get("range")
    if header is None:
        return None
    if_range = request.headers.get("if-range")
    if if_range is not None and if_range.strip() != etag:
        return None
    match = _RANGE.match(header.strip())
    if match is None:
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # the last N bytes
        suffix = int(last)
        if suffix == 0:
            return "unsatisfiable"
        return max(0, size - suffix), size - 1
    start = int(first)
    if start >= size:
        return "unsatisfiable"
    end = int(last) if last else size - 1
    if end < start:
        return None  # not a valid range: ignored, as RFC 9110 lets a server do
    return start, min(end, size - 1)


def _chunks(blobs: BlobStore, bucket: str, name: str, start: int, length: int) -> Iterator[bytes]:
    with blobs.open_read(bucket, name) as reader:
        reader.seek(start)
        left = length
        while left > 0:
            chunk = reader.read(min(CHUNK, left))
            if not chunk:
                break
            left -= len(chunk)
            yield chunk

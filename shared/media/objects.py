"""Objects of the videos bucket: metadata as object storage holds it (text), and writes
that leave an object holding the same bytes and metadata alone. No decoder here: the shard
pull function ships without PyAV."""

from __future__ import annotations

import json
import mimetypes
from collections.abc import Mapping
from typing import Any

from shared.core.errors import NotFoundError
from shared.media.settings import MediaSettings
from shared.platform.context import Context
from shared.ports import BlobInfo, md5_base64


def metadata_text(value: Any) -> str:
    """A metadata value as object metadata holds it: strings, numbers and booleans as
    ``str(value)``, ``null`` and nested values as compact JSON."""
    if isinstance(value, str | int | float | bool):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def put_unless_same(
    services: Context[MediaSettings],
    bucket: str,
    name: str,
    data: bytes,
    metadata: Mapping[str, str],
    *,
    content_type: str | None = None,
) -> tuple[BlobInfo, bool]:
    """Write the object unless it holds these bytes (MD5) and metadata already; its info,
    and whether it was written. The write is conditional on the generation compared, so a
    concurrent writer is never overwritten blindly (PreconditionFailedError)."""
    digest = md5_base64(data)
    try:
        current = services.blobs.stat(bucket, name)
    except NotFoundError:
        current = None
    if current is not None and current.md5_hash == digest and dict(current.metadata) == metadata:
        return current, False
    info = services.blobs.write(
        bucket,
        name,
        data,
        content_type=content_type or mimetypes.guess_type(name)[0] or "application/octet-stream",
        metadata=metadata,
        if_generation_match=current.generation if current is not None else 0,
    )
    return info, True

"""How the SQLite document store writes documents as JSON text and reads them back.

Datetimes and bytes are tagged (``{"__datetime__": iso}``, ``{"__bytes__": base64}``) so that
they round-trip; times of creation and update are stored as microseconds since the epoch.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from shared.core.errors import VidcurateError
from shared.ports.documents import DELETE_FIELD, SERVER_TIMESTAMP


def encode_value(value: Any) -> Any:
    """A JSON-ready copy of ``value``: datetimes (as UTC) and bytes tagged, keys as strings."""
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return {"__datetime__": value.astimezone(UTC).isoformat()}
    if isinstance(value, bytes):
        return {"__bytes__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [encode_value(v) for v in value]
    if value is SERVER_TIMESTAMP or value is DELETE_FIELD:
        raise VidcurateError(f"{value!r} is only allowed as a top-level field value")
    return value


def decode_hook(obj: dict[str, Any]) -> Any:
    """``json`` object hook: a tagged datetime or bytes back to its value."""
    if len(obj) == 1:
        if "__datetime__" in obj:
            return datetime.fromisoformat(obj["__datetime__"])
        if "__bytes__" in obj:
            return base64.b64decode(obj["__bytes__"])
    return obj


def json_default(value: Any) -> Any:
    """What the C encoder cannot write itself; anything unusual takes the slow path."""
    if isinstance(value, datetime | bytes):
        return encode_value(value)
    raise TypeError(type(value).__name__)


def dump_document(data: Mapping[str, Any]) -> str:
    """The stored JSON text of a document (compact, keys sorted)."""
    # The C encoder walks the document and calls back only for timestamps and bytes;
    # the Python walk is kept for what it cannot do (non-string keys, other mappings,
    # sentinels in nested values, which must fail with our error).
    try:
        return json.dumps(data, default=json_default, separators=(",", ":"), sort_keys=True)
    except TypeError:
        return json.dumps(encode_value(data), separators=(",", ":"), sort_keys=True)


def load_document(text: str) -> dict[str, Any]:
    """A document from its stored JSON text, datetimes and bytes restored."""
    # Most documents hold special values (timestamps) only at the top level, where
    # SERVER_TIMESTAMP puts them: decode with orjson and fix those up, falling back to the
    # slower hook-based decoder when markers sit deeper.
    markers = text.count('"__datetime__"') + text.count('"__bytes__"')
    loaded: dict[str, Any] = orjson.loads(text)
    if markers:
        fixed = 0
        for key, value in loaded.items():
            if isinstance(value, dict) and len(value) == 1:
                decoded = decode_hook(value)
                if decoded is not value:
                    loaded[key] = decoded
                    fixed += 1
        if fixed != markers:
            loaded = json.loads(text, object_hook=decode_hook)
    return loaded


def utc_now_us() -> int:
    """Now, in microseconds since the epoch: the unit of the stored times."""
    return int(datetime.now(UTC).timestamp() * 1_000_000)


def utc_from_us(us: int) -> datetime:
    """A stored time (microseconds since the epoch) as an aware UTC datetime."""
    return datetime.fromtimestamp(us / 1_000_000, UTC)

"""What the web app's clip explorer asks of clips: a page of the videos bucket's clips by
name (a prefix, a metadata field's value, a cursor), one clip with its sampled frames, and
where its video and frames are.

Pages are keyset-paginated on the clip's name (``name > cursor``, limit + 1): the 1,000th page
costs what the first does, whatever the collection's size.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from shared.media.settings import MediaSettings
from shared.media.store import CLIPS
from shared.platform.context import Context
from shared.ports import Filter

__all__ = ["ClipPage", "ClipRow", "ClipView", "FrameView", "clip_page", "clip_view"]

PAGE_SIZE = 30  # also the most clips one "in" query over their analyses may name
_HIGHEST = "\uf8ff"


class ClipRow(BaseModel):
    """One clip in the list."""

    id: str
    name: str
    status: str
    frames: int
    duration: float | None
    metadata: dict[str, Any]
    error: str | None


class ClipPage(BaseModel):
    """A page of clips and the cursor of the next (None on the last)."""

    clips: list[ClipRow]
    next_cursor: str | None


class FrameView(BaseModel):
    """A sampled frame of a clip."""

    index: int
    timestamp: float
    path: str
    width: int | None = None
    height: int | None = None


class ClipView(BaseModel):
    """A clip with its frames and what sampling found."""

    id: str
    name: str
    bucket: str
    generation: int
    status: str
    error: str | None
    metadata: dict[str, Any]
    codec: str | None
    width: int | None
    height: int | None
    duration: float | None
    fps: float | None
    frames: list[FrameView]


def _row(doc_id: str, data: dict[str, Any]) -> ClipRow:
    info = data.get("clip") or {}
    return ClipRow(
        id=doc_id,
        name=str(data.get("name") or ""),
        status=str(data.get("status") or "unknown"),
        frames=len(data.get("frames") or []),
        duration=info.get("duration"),
        metadata=dict(data.get("metadata") or {}),
        error=data.get("error"),
    )


def clip_page(
    services: Context[MediaSettings],
    *,
    prefix: str = "",
    field: str | None = None,
    value: str | None = None,
    after: str | None = None,
    size: int = PAGE_SIZE,
) -> ClipPage:
    """Clips whose name starts with ``prefix`` (and whose metadata ``field`` is ``value``),
    by name, after the cursor ``after``: one indexed query."""
    where: list[Filter] = []
    if prefix:
        where += [("name", ">=", prefix), ("name", "<", prefix + _HIGHEST)]
    if after:
        where.append(("name", ">", after))
    if field and value is not None:
        # A sidecar's JSON keeps numbers as numbers: "17" finds 17 as well as "17".
        where.append((f"metadata.{field}", "in", _as_stored(value)))
    docs = services.documents.query(CLIPS, where=where, order_by=[("name", "asc")], limit=size + 1)
    rows = [_row(doc.id, doc.data) for doc in docs[:size]]
    more = len(docs) > size
    return ClipPage(clips=rows, next_cursor=rows[-1].name if more and rows else None)


def clip_view(services: Context[MediaSettings], clip: str) -> ClipView | None:
    """The clip ``clip`` (its document id), or None."""
    if not clip or "/" in clip:
        return None
    doc = services.documents.get(f"{CLIPS}/{clip}")
    if doc is None:
        return None
    data = doc.data
    info = data.get("clip") or {}
    frames = [
        FrameView(
            index=index,
            timestamp=float(frame["timestamp"]),
            path=str(frame["path"]),
            width=frame.get("width"),
            height=frame.get("height"),
        )
        for index, frame in enumerate(data.get("frames") or [])
    ]
    return ClipView(
        id=doc.id,
        name=str(data.get("name") or ""),
        bucket=str(data.get("bucket") or services.settings.videos_bucket),
        generation=int(data.get("generation") or 0),
        status=str(data.get("status") or "unknown"),
        error=data.get("error"),
        metadata=dict(data.get("metadata") or {}),
        codec=info.get("codec"),
        width=info.get("width"),
        height=info.get("height"),
        duration=info.get("duration"),
        fps=info.get("fps"),
        frames=frames,
    )


def _as_stored(value: str) -> list[Any]:
    """The values a metadata field typed as ``value`` may be stored as."""
    found: list[Any] = [value]
    try:
        number = float(value)
    except ValueError:
        return found
    if number.is_integer() and "." not in value and "e" not in value.lower():
        found.append(int(number))
    else:
        found.append(number)
    return found

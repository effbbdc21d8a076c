"""Local files written whole: a temporary file in the same folder, then renamed over the
target, so a reader never sees half a file and an interrupted write leaves the old one."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from shared.core.errors import PermanentError


def write_whole(target: Path, data: bytes, *, mtime_ns: int | None = None) -> None:
    """Write ``data`` to ``target`` atomically (folders made as needed); ``mtime_ns`` stamps
    the file's modification time. A file system error is one line naming the path."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        reason = exc.strerror or exc
        raise PermanentError(f"{target.parent}: cannot write there ({reason})") from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        if mtime_ns is not None:
            os.utime(temp, ns=(mtime_ns, mtime_ns))
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise PermanentError(f"{target}: cannot write it ({exc.strerror or exc})") from exc
        raise

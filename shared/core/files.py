"""Local files and folders written whole, so a reader never sees half of one.

A file goes to a temporary file in the same folder, is flushed to disk, then renamed over
the target: an interrupted write leaves the old file. A folder of files
(:class:`StagedFolder`) is written into a hidden temporary folder beside the target, each
file flushed to disk, and renamed into place only once every file is there: a killed or
failed writer leaves no folder under the target's name, only a hidden ``.<name>_partial-<pid>``
that :func:`remove_abandoned_folders` clears later.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TextIO, cast

from shared.core.errors import AlreadyExistsError, PermanentError

PARTIAL_MAX_AGE_SECONDS = 3600.0
"""A staged folder older than this is abandoned even if a process with its pid runs (pids
are reused, and a folder on a shared disk may come from another machine)."""


_PARTIAL = re.compile(r"\.(?P<name>.+)_partial-(?P<pid>\d+)")


def write_whole(target: Path, data: bytes, *, mtime_ns: int | None = None) -> None:
    """Write ``data`` to ``target`` atomically (folders made as needed); ``mtime_ns`` stamps
    the file's modification time. A file system error is one line naming the path."""
    with _replacing(target, binary=True, mtime_ns=mtime_ns) as handle:
        handle.write(data)


def writing_text(target: Path) -> contextlib.AbstractContextManager[TextIO]:
    """A text file to stream into, renamed over ``target`` when the block ends without an
    error (removed otherwise): a large export is never held in memory, never seen half."""
    return cast(contextlib.AbstractContextManager[TextIO], _replacing(target, binary=False))


@contextlib.contextmanager
def _replacing(target: Path, *, binary: bool, mtime_ns: int | None = None) -> Iterator[IO[Any]]:
    """A temporary file beside ``target``, flushed to disk and renamed over it at the end."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, temp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise PermanentError(f"{target.parent}: cannot write there ({_reason(exc)})") from exc
    try:
        opened = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with opened as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        if mtime_ns is not None:
            os.utime(temp, ns=(mtime_ns, mtime_ns))
        os.replace(temp, target)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        if isinstance(exc, OSError):
            raise PermanentError(f"{target}: cannot write it ({_reason(exc)})") from exc
        raise


def partial_folder(target: Path, pid: int | None = None) -> Path:
    """The hidden folder beside ``target`` where process ``pid`` (this one) stages it."""
    return target.parent / f".{target.name}_partial-{os.getpid() if pid is None else pid}"


class StagedFolder:
    """A folder that appears under its name only when complete.

    ``with StagedFolder(target) as staged``: :meth:`write` each file (written and flushed to
    disk in the hidden :func:`partial_folder`), then :meth:`commit` renames the folder into
    place. Leaving the block without a commit (an error, a disk full, Ctrl-C) removes the
    staged folder. Errors of the file system are one line naming the target
    (PermanentError); a target that exists by commit time is AlreadyExistsError.
    """

    def __init__(self, target: Path) -> None:
        self.target = target
        self.staging = partial_folder(target)
        self.committed = False

    def __enter__(self) -> StagedFolder:
        try:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            if self.staging.exists():  # left by an earlier failure of this very process
                shutil.rmtree(self.staging)
            self.staging.mkdir()
        except OSError as exc:
            raise self._error(exc) from exc
        return self

    def write(self, name: str, data: bytes) -> None:
        """Write the file ``name`` of the folder whole and flush it to disk."""
        try:
            with (self.staging / name).open("xb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            raise self._error(exc) from exc

    def commit(self) -> None:
        """Rename the complete folder into place (never over an existing one)."""
        try:
            _fsync_folder(self.staging)
            if self.target.exists():
                raise AlreadyExistsError(f"{self.target} already exists: it is left as it is")
            os.rename(self.staging, self.target)
            _fsync_folder(self.target.parent)
        except OSError as exc:
            raise self._error(exc) from exc
        self.committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if not self.committed:
            shutil.rmtree(self.staging, ignore_errors=True)

    def _error(self, exc: OSError) -> PermanentError:
        return PermanentError(
            f"{self.target}: cannot write it ({_reason(exc)}); nothing was left there"
        )


def remove_abandoned_folders(
    parent: Path, prefix: str, *, max_age_seconds: float = PARTIAL_MAX_AGE_SECONDS
) -> list[Path]:
    """Remove the staged folders in ``parent`` (of targets named ``prefix...``) whose
    process is gone or that are older than ``max_age_seconds``; the ones removed."""
    removed: list[Path] = []
    try:
        entries = list(parent.iterdir())
    except (FileNotFoundError, NotADirectoryError):
        return removed
    for entry in entries:
        found = _PARTIAL.fullmatch(entry.name)
        if found is None or not found["name"].startswith(prefix) or not entry.is_dir():
            continue
        if _running(int(found["pid"])) and not _older_than(entry, max_age_seconds):
            continue
        shutil.rmtree(entry, ignore_errors=True)
        removed.append(entry)
    return removed


def _running(pid: int) -> bool:
    """Whether a process ``pid`` exists on this machine (this one included)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    except (OverflowError, OSError):
        return False  # not a pid this machine can have
    return True


def _older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


def _fsync_folder(folder: Path) -> None:
    """Flush a folder's entries (a rename, the files in it) to disk."""
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reason(exc: OSError) -> str:
    return str(exc.strerror or exc)

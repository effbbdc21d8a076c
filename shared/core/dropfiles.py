"""Files other programs drop where vidcurate reads: bucket folders, a campaign folder.

Such a file is untrusted. It may be a link to something outside the folder (a key, a
password file), a FIFO that blocks whoever opens it, a name that is not UTF-8 or that Cloud
Storage could not hold, or far larger than anything we would read. These helpers say what
is wrong with an entry in words a user can act on, show its name safely, and open only
regular files: no link is followed at any level below the folder, and nothing is waited
on. Callers refuse the rest, with the reason.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from shared.core.errors import PermanentError

MAX_OBJECT_NAME_BYTES = 1024  # Cloud Storage's limit on an object name, UTF-8 encoded
MAX_COMPONENT_BYTES = 255  # what a local file system allows in one path segment
SHOWN_NAME_CHARS = 160

_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO (or a device) must never wait for a writer.
_FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_LINK_ERRNOS = (errno.ELOOP, errno.EMLINK)  # what O_NOFOLLOW answers for a link (Linux, BSD)


class RefusedFileError(PermanentError):
    """A file that is not a regular file reached without links: never read."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def shown_name(name: str, limit: int = SHOWN_NAME_CHARS) -> str:
    """``name`` as it can be printed and stored: bytes that are not UTF-8 as ``\\xNN``,
    control characters escaped (``\\n``), and a long name cut with its length said."""
    out = []
    for char in name:
        code = ord(char)
        if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as os.fsdecode keeps it
            out.append(f"\\x{code - 0xDC00:02x}")
        elif char.isprintable() and not 0xD800 <= code <= 0xDFFF:
            out.append(char)
        else:
            out.append(char.encode("unicode_escape", "backslashreplace").decode("ascii"))
    text = "".join(out)
    if len(text) <= limit:
        return text
    try:
        size = len(name.encode("utf-8", "surrogateescape"))  # the bytes on disk
    except UnicodeEncodeError:
        size = len(name.encode("utf-8", "surrogatepass"))
    return f"{text[:limit]}... ({size:,} bytes)"


def object_name_problem(name: str) -> str | None:
    """Why ``name`` cannot be an object name, or None: it must be valid UTF-8 of 1 to 1,024
    bytes (Cloud Storage's rule) without control characters (newlines, CR, tabs...)."""
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        return "the name is not valid UTF-8"
    if not size:
        return "the name is empty"
    if size > MAX_OBJECT_NAME_BYTES:
        return f"the name is {size:,} bytes long (object names are at most 1,024)"
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in name):
        return "the name holds a control character (a newline, a carriage return, a tab...)"
    return None


def file_kind_problem(mode: int) -> str | None:
    """Why a file of this ``lstat`` mode is not read, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISLNK(mode):
        return "a symbolic link (links are never followed)"
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO), not a regular file"
    if stat.S_ISSOCK(mode):
        return "a socket, not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device, not a regular file"
    if stat.S_ISDIR(mode):
        return "a folder"
    return "not a regular file"


def walk_entries(folder: str, relative: str = "") -> Iterator[tuple[str, os.DirEntry[str]]]:
    """``(name, entry)`` of everything below ``folder`` that is not a folder (links, FIFOs
    and the like included, for the caller to refuse), in name order; ``name`` is the path
    inside ``folder`` with ``/``. Links to folders are entries, never walked into; a folder
    that cannot be listed is passed over."""
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except OSError:
        return
    for entry in entries:
        name = relative + entry.name
        if entry.is_dir(follow_symlinks=False):
            yield from walk_entries(entry.path, name + "/")
        else:
            yield name, entry


def open_regular(folder: str | Path, name: str) -> IO[bytes]:
    """Open ``folder/name`` for reading (``name`` relative, ``/``-separated), only if it is a
    regular file reached without a link at any level below ``folder``.

    A FIFO or a device is opened without waiting, seen for what it is and closed. Raises
    :class:`RefusedFileError` with the reason for a link or a special file, and what
    ``open`` raises for a missing path (FileNotFoundError, NotADirectoryError) or a folder
    (IsADirectoryError).
    """
    parts = name.split("/")
    parent = open_folder(folder, parts[:-1])
    try:
        fd = _open_at(parent, parts[-1], _FILE_FLAGS, last=True)
    finally:
        os.close(parent)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(errno.EISDIR, "is a folder", name)
        problem = file_kind_problem(mode)
        if problem is not None:
            raise RefusedFileError(problem)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def open_folder(folder: str | Path, parts: list[str], *, create: bool = False) -> int:
    """A descriptor of ``folder/<parts...>``, reached without following a link below
    ``folder`` (made as needed with ``create``). The caller closes it.

    Raises :class:`RefusedFileError` for a link on the way, NotADirectoryError for a file on
    the way, FileNotFoundError for a missing folder.
    """
    fd = os.open(folder, _DIR_FLAGS)
    try:
        for part in parts:
            if create:
                # Already there: a folder, or something refused just below.
                with contextlib.suppress(FileExistsError):
                    os.mkdir(part, dir_fd=fd)
            parent, fd = fd, _open_at(fd, part, _DIR_FLAGS | os.O_NOFOLLOW, last=False)
            os.close(parent)
    except BaseException:
        os.close(fd)
        raise
    return fd


def lstat_beneath(folder: str | Path, name: str) -> os.stat_result:
    """``lstat`` of ``folder/name`` reached without following a link on the way (a link
    there raises :class:`RefusedFileError`; the last part is not followed either)."""
    parts = name.split("/")
    parent = open_folder(folder, parts[:-1])
    try:
        return os.stat(parts[-1], dir_fd=parent, follow_symlinks=False)
    finally:
        os.close(parent)


def _open_at(parent: int, part: str, flags: int, *, last: bool) -> int:
    try:
        return os.open(part, flags, dir_fd=parent)
    except OSError as exc:
        if exc.errno in (*_LINK_ERRNOS, errno.ENOTDIR) and _is_link(parent, part):
            where = (
                "a symbolic link" if last else f"a symbolic link on its path ({shown_name(part)})"
            )
            raise RefusedFileError(f"{where} (links are never followed)") from exc
        raise


def _is_link(parent: int, part: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(part, dir_fd=parent, follow_symlinks=False).st_mode)
    except OSError:
        return False

"""The error contract shared by every function, adapter and the runtime.

``PermanentError``: the input is bad and retrying cannot help. The entry point records it
(quarantine, a document, a log line) and acknowledges the event.

``TransientError``: something outside us failed (a 503, a lock, a timeout). The entry point
raises, the platform (or the local runtime) retries with backoff, and after the configured
number of attempts the message lands in a dead-letter topic with its error.

Adapters translate vendor exceptions into the classes below with ``raise ... from exc`` so
that services never import a cloud SDK.
"""

from __future__ import annotations

import errno


class VidcurateError(Exception):
    """Base class of every error vidcurate raises on purpose."""


class PermanentError(VidcurateError):
    """Bad input: record it and acknowledge; a retry would fail the same way."""


class TransientError(VidcurateError):
    """A temporary failure: raise so that the platform retries."""


class ConfigError(VidcurateError):
    """The configuration is missing or inconsistent."""


class NotFoundError(VidcurateError):
    """A blob or document that must exist does not."""


class AlreadyExistsError(VidcurateError):
    """A create-only write found the target already there."""


class PreconditionFailedError(VidcurateError):
    """A generation (or other) precondition did not hold, like GCS's HTTP 412."""


class BusyError(TransientError):
    """Another delivery holds this work (its lease is live): retry later. Being second is no
    failure of the message: the entry point does not count it towards dead-lettering."""


class ContentionError(TransientError):
    """A transaction could not commit after its attempts because of concurrent writers."""


class StorageError(TransientError):
    """The disk cannot take a write: full, read-only, or not ours to write. Transient for a
    function (space can be freed, the message is retried); one line for a command."""


# The errno values that mean "this storage cannot be written", not "this code is wrong".
STORAGE_ERRNOS = frozenset(
    {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG, errno.EIO}
)


def storage_problem(where: object, exc: OSError) -> StorageError | None:
    """``exc`` in the user's words when it is a storage problem (else None)."""
    if exc.errno not in STORAGE_ERRNOS:
        return None
    what = {
        errno.ENOSPC: "the disk is full (free some space and run again)",
        errno.EDQUOT: "the disk quota is used up (free some space and run again)",
        errno.EROFS: "cannot be written: the file system is read-only",
        errno.EFBIG: "the file grew past the size this system allows",
        errno.EIO: "the disk failed a read or write (full or failing?)",
    }.get(exc.errno, "cannot be written or read (permission denied)")
    return StorageError(f"{exc.filename or where}: {what}")

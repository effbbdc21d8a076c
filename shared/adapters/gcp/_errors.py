"""Translate Google Cloud client errors into vidcurate's error contract at the boundary."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import requests
from google.api_core import exceptions as gexc
from google.auth import exceptions as auth_exceptions

from shared.core.errors import (
    AlreadyExistsError,
    ContentionError,
    NotFoundError,
    PreconditionFailedError,
    TransientError,
    VidcurateError,
)

# Failures of the network or of the service itself: a later attempt may succeed.
_TRANSIENT: tuple[type[BaseException], ...] = (
    gexc.TooManyRequests,  # 429, and gRPC RESOURCE_EXHAUSTED
    gexc.ServerError,  # 5xx, and gRPC UNAVAILABLE, INTERNAL, UNKNOWN, DEADLINE_EXCEEDED
    gexc.Cancelled,
    gexc.RetryError,  # the SDK's own retries ran out on one of the above
    auth_exceptions.TransportError,
    requests.ConnectionError,
    requests.Timeout,
    ConnectionError,
    TimeoutError,
)

VENDOR_ERRORS: tuple[type[BaseException], ...] = (
    gexc.GoogleAPIError,
    auth_exceptions.GoogleAuthError,
    *_TRANSIENT,
)
"""What :func:`translated` catches: every error the Google client libraries raise."""


def translate(exc: BaseException, what: str) -> VidcurateError:
    """Our error for a vendor error raised while working on ``what``."""
    detail = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    if isinstance(exc, gexc.PreconditionFailed):
        return PreconditionFailedError(f"{what}: precondition failed: {detail}")
    if isinstance(exc, gexc.NotFound):
        return NotFoundError(f"{what}: not found: {detail}")
    if isinstance(exc, gexc.AlreadyExists):
        return AlreadyExistsError(f"{what}: already exists: {detail}")
    if isinstance(exc, gexc.Aborted):
        return ContentionError(f"{what}: aborted by a concurrent writer: {detail}")
    if isinstance(exc, _TRANSIENT):
        return TransientError(f"{what}: {type(exc).__name__}: {detail}")
    return VidcurateError(f"{what}: {type(exc).__name__}: {detail}")


@contextmanager
def translated(what: str) -> Iterator[None]:
    """Re-raise Google client errors raised in the block as ours, chained with ``from``."""
    try:
        yield
    except VENDOR_ERRORS as exc:
        raise translate(exc, what) from exc

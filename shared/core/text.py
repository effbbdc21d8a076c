"""Text that leaves the process: secrets redacted, UTC instants written one way."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

REDACTED = "[redacted]"

Timespec = Literal["auto", "seconds", "milliseconds", "microseconds"]


def redact(text: str, *secrets: str | None) -> str:
    """``text`` with every non-empty secret replaced by ``[redacted]``.

    Errors from SDKs and servers may echo a key or token they were given (in a URL, a header
    dump); nothing that reaches a log, a document or a message may carry it.
    """
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


def utc_iso(moment: datetime, timespec: Timespec = "auto") -> str:
    """``moment`` in UTC as ISO 8601 with a ``Z``: ``2026-12-03T09:34:22Z``."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


def utc_now_iso(timespec: Timespec = "seconds") -> str:
    """The current instant, as :func:`utc_iso` writes it."""
    return utc_iso(datetime.now(UTC), timespec)

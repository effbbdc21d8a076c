"""Leases on documents: a delivery that works on something says until when it holds it.

Another delivery that finds a live lease held by someone else backs off (TransientError,
so the platform retries it later); a lease that ran out is taken over. Stores may hand a
datetime back without a time zone; stored lease times are always UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime


def lease_end(until: object) -> datetime | None:
    """The stored end of a lease as an aware UTC datetime (None when there is none)."""
    if not isinstance(until, datetime):
        return None
    return until if until.tzinfo is not None else until.replace(tzinfo=UTC)


def lease_live(until: object, now: datetime | None = None) -> bool:
    """Whether a lease that runs ``until`` is still held (at ``now``)."""
    end = lease_end(until)
    return end is not None and end > (now or datetime.now(UTC))

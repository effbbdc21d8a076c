"""One request rate shared by every instance of every function: a gate in the document store.

A provider that allows N requests per minute per account (a clip search API at 10/minute)
counts every caller together, so a limiter per process is not enough: forty function
instances with a local limiter each would send forty times the quota. :class:`RateGate`
keeps the next free instant of one named gate in one document; a caller reserves the next
instant in a transaction (``next_free`` moves on by one interval), sleeps until it and
sends. Reservations are spaced ``60 / N`` seconds apart (plus a small margin for the time a
request spends on the way), so no rolling minute holds more than N requests, whichever
instance sends them.

A gate never makes a caller wait long: when the next free instant is further away than the
caller may wait (a function must finish within its timeout), nothing is reserved and the
caller gets :class:`~shared.core.errors.BusyError`: the platform delivers its message again
later, and meanwhile the instances already waiting keep the gate busy. A provider's 429 moves
the gate itself on (:meth:`RateGate.push_back`): every instance then waits, not only the one
that was refused.

Documents::

    rate_gates/<name>   next_free (epoch seconds), per_minute, pushed_back_until
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from shared.core.errors import BusyError
from shared.ports import DocumentStore, Transaction

__all__ = ["RATE_GATES", "RateGate"]

RATE_GATES = "rate_gates"

SAFETY_MARGIN = 0.02
"""Reservations are this fraction further apart than the quota needs: a request that reaches
the provider a little late (a slow network, a descheduled thread) stays inside the quota."""


@dataclass
class RateGate:
    """``per_minute`` requests a minute through the gate ``name``, for every caller."""

    documents: DocumentStore
    name: str
    per_minute: float
    clock: Callable[[], float] = field(default=time.time)
    sleep: Callable[[float], None] = field(default=time.sleep)

    def __post_init__(self) -> None:
        if not self.per_minute > 0:
            raise ValueError(f"rate gate {self.name}: per_minute must be > 0")

    @property
    def path(self) -> str:
        """The gate's document."""
        return f"{RATE_GATES}/{self.name}"

    @property
    def interval(self) -> float:
        """Seconds between two reservations."""
        return 60.0 / self.per_minute * (1 + SAFETY_MARGIN)

    def reserve(self, *, max_wait: float) -> float | None:
        """Reserve the next free instant if it comes within ``max_wait`` seconds: that
        instant (epoch seconds of the gate's clock), or None with nothing reserved."""

        def take(transaction: Transaction) -> float | None:
            now = self.clock()
            doc = transaction.get(self.path)
            next_free = float(doc.data.get("next_free") or 0.0) if doc is not None else 0.0
            at = max(now, next_free)
            if at - now > max_wait:
                return None
            transaction.set(
                self.path,
                {
                    "next_free": at + self.interval,
                    "per_minute": self.per_minute,
                    "pushed_back_until": (doc.data.get("pushed_back_until") if doc else None),
                },
            )
            return at

        return self.documents.run_transaction(take, max_attempts=10)

    def acquire(self, *, max_wait: float) -> float:
        """Wait for a reserved instant and return the seconds waited; BusyError (nothing
        reserved) when the gate is taken for longer than ``max_wait`` seconds."""
        at = self.reserve(max_wait=max_wait)
        if at is None:
            raise BusyError(
                f"{self.name}: the {self.per_minute:g} requests/minute are taken for the next "
                f"{max_wait:g} s; this delivery is retried later"
            )
        delay = at - self.clock()
        if delay > 0:
            self.sleep(delay)
        return max(0.0, delay)

    def push_back(self, seconds: float) -> None:
        """Nobody sends for ``seconds`` (the provider said so: a 429's Retry-After)."""

        def push(transaction: Transaction) -> None:
            now = self.clock()
            doc = transaction.get(self.path)
            next_free = float(doc.data.get("next_free") or 0.0) if doc is not None else 0.0
            until = now + max(0.0, seconds)
            if until > next_free:
                transaction.set(
                    self.path,
                    {"next_free": until, "per_minute": self.per_minute, "pushed_back_until": until},
                )

        self.documents.run_transaction(push, max_attempts=10)

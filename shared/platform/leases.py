"""Leases on documents: a delivery that works on something says until when it holds it.

Another delivery that finds a live lease held by someone else backs off (the caller raises
TransientError, so the platform retries it later, or answers why); a lease that ran out is
taken over. Stores may hand a datetime back without a time zone; stored lease times are
always UTC.

:class:`Lease` owns the mechanics, over the DocumentStore port only: the transaction, reading
the holder and the end of the lease (two fields, or one map field), writing them when taken,
and finishing, renewing or releasing only while this holder still has the lease. What a
site decides when it reads the document (stale, done already, held by another, taken) stays
with the site, in the ``decide`` function it hands to :meth:`Lease.claim`: the order of
those checks, their answers and their error texts differ from one document to the next.

Usage::

    lease = Lease(documents, "clips/abc", holder, seconds=600)

    def decide(view: View) -> Take[str] | Keep[str]:
        if view.data.get("status") == "done":
            return Keep("already_done")
        if view.held:
            raise TransientError("abc is being sampled")
        return Take("claimed", {**view.data, "status": "sampling"})

    if lease.claim(decide) == "claimed":
        ...
        lease.finish({"status": "done"})
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Generic, Literal, TypeVar

from shared.ports.documents import DELETE_FIELD, Document, DocumentStore, Transaction

T = TypeVar("T")

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    """The current time, aware and in UTC (the default clock of a lease)."""
    return datetime.now(UTC)


def lease_end(until: object) -> datetime | None:
    """The stored end of a lease as an aware UTC datetime (None when there is none)."""
    if not isinstance(until, datetime):
        return None
    return until if until.tzinfo is not None else until.replace(tzinfo=UTC)


def lease_live(until: object, now: datetime | None = None) -> bool:
    """Whether a lease that runs ``until`` is still held (at ``now``)."""
    end = lease_end(until)
    return end is not None and end > (now or utc_now())


@dataclass(frozen=True)
class LeaseFields:
    """Where a document keeps its lease: two top-level fields, or one map field.

    The names are per collection because stored documents, tests, indexes and the status
    commands already use them: a lease written under an old name would be invisible to code
    reading a new one, and two deliveries would both do the (paid) work.
    """

    holder: str = "holder"
    until: str = "lease_until"
    map: str | None = None
    """The lease is one map field ``{map: {holder, until, ...}}``, freed as ``{map: None}``."""
    freed: Any = None
    """What a freed ``holder`` and ``until`` are set to: None, or DELETE_FIELD."""
    keep_holder: bool = False
    """The holder stays on the document once the lease is freed (who did it, for readers)."""

    def read(self, data: Mapping[str, Any]) -> tuple[Any, Any]:
        """The stored holder and end of the lease (as stored) of a document's data."""
        source = (data.get(self.map) or {}) if self.map else data
        return source.get(self.holder), source.get(self.until)

    def taken(self, holder: str, until: datetime, extra: Mapping[str, Any]) -> dict[str, Any]:
        """The fields that say ``holder`` holds the lease until ``until``."""
        if self.map:
            return {self.map: {self.holder: holder, **extra, self.until: until}}
        return {self.holder: holder, self.until: until}

    def extended(self, until: datetime) -> dict[str, Any]:
        """The update that moves the end of a held lease to ``until`` (nothing else)."""
        return {f"{self.map}.{self.until}" if self.map else self.until: until}

    def freed_fields(self) -> dict[str, Any]:
        """The fields that free the lease."""
        if self.map:
            return {self.map: None}
        fields = {self.until: self.freed}
        if not self.keep_holder:
            fields[self.holder] = self.freed
        return fields

    def live(self, data: Mapping[str, Any], now: datetime | None = None) -> bool:
        """Whether the lease stored in ``data`` is still held (by anyone) at ``now``."""
        return lease_live(self.read(data)[1], now)


HOLDER = LeaseFields()
"""``holder`` and ``lease_until``, both set to None when freed (clips, frame analyses,
dataset shards)."""

DELIVERY = LeaseFields(holder="delivery")
"""``delivery`` and ``lease_until`` (critique items)."""

REQUEST = LeaseFields(holder="request_id", freed=DELETE_FIELD, keep_holder=True)
"""``request_id``, kept once freed, and ``lease_until``, removed (Hub uploads)."""


def in_map(name: str) -> LeaseFields:
    """A lease kept as one map field ``name: {holder, until}`` (critique runs)."""
    return LeaseFields(until="until", map=name)


@dataclass(frozen=True)
class View:
    """The leased document as one transaction read it, for ``decide`` to judge."""

    path: str
    doc: Document | None
    data: dict[str, Any]
    """A copy of the document's data ({} when it does not exist)."""
    holder: Any
    until: datetime | None
    """The end of the lease, aware UTC (None when there is none)."""
    now: datetime
    me: str
    others: Mapping[str, Document | None] = field(default_factory=dict)
    """The documents of ``also_read``, read in the same transaction."""

    @property
    def exists(self) -> bool:
        """Whether the document exists."""
        return self.doc is not None

    @property
    def mine(self) -> bool:
        """Whether this holder is the one recorded (live or not)."""
        return bool(self.holder == self.me)

    @property
    def live(self) -> bool:
        """Whether the lease has not run out, whoever holds it."""
        return self.until is not None and self.until > self.now

    @property
    def held(self) -> bool:
        """Held by another holder, and live (a lease without a holder is free)."""
        return self.holder not in (None, self.me) and self.live


WriteOp = Literal["set", "merge", "update", "create"]
Write = tuple[WriteOp, str, Mapping[str, Any]]


@dataclass(frozen=True)
class Take(Generic[T]):
    """Take the lease: write ``fields`` with the lease's fields (``write`` says how), then
    the ``also`` writes, in the same transaction; the claim answers ``value``."""

    value: T
    fields: Mapping[str, Any] = field(default_factory=dict)
    write: Literal["set", "merge", "update"] = "set"
    lease_extra: Mapping[str, Any] = field(default_factory=dict)
    """More keys inside a map lease, beside its holder and end."""
    also: Sequence[Write] = ()


@dataclass(frozen=True)
class Keep(Generic[T]):
    """Leave the lease as it is and answer ``value``; ``update`` the document if given."""

    value: T
    update: Mapping[str, Any] | None = None


def _write(tx: Transaction, op: WriteOp, path: str, data: Mapping[str, Any]) -> None:
    if op == "set":
        tx.set(path, data)
    elif op == "merge":
        tx.set(path, data, merge=True)
    elif op == "update":
        tx.update(path, data)
    else:
        tx.create(path, data)


class Lease:
    """``holder``'s lease of ``seconds`` on the document at ``path``.

    ``clock`` gives the time leases are judged and written by (tests inject one).
    Nothing here raises on purpose: backing off is the caller's ``decide``'s to say.
    """

    def __init__(
        self,
        documents: DocumentStore,
        path: str,
        holder: str,
        *,
        seconds: float,
        fields: LeaseFields = HOLDER,
        clock: Clock = utc_now,
    ) -> None:
        self.documents = documents
        self.path = path
        self.holder = holder
        self.seconds = seconds
        self.fields = fields
        self.clock = clock

    def freed(self) -> dict[str, Any]:
        """The fields that free this lease (for writes outside the methods below)."""
        return self.fields.freed_fields()

    def view(
        self, tx: Transaction, now: datetime | None = None, also_read: Sequence[str] = ()
    ) -> View:
        """Read the document, then ``also_read``, in ``tx`` (for transactions of a caller's
        own; every read must come before the first write)."""
        doc = tx.get(self.path)
        others = {path: tx.get(path) for path in also_read}
        data = dict(doc.data) if doc is not None else {}
        holder, until = self.fields.read(data)
        moment = now or self.clock()
        return View(self.path, doc, data, holder, lease_end(until), moment, self.holder, others)

    def claim(
        self, decide: Callable[[View], Take[T] | Keep[T]], *, also_read: Sequence[str] = ()
    ) -> T:
        """In one transaction: read the document (and ``also_read``), let ``decide`` answer,
        write what it says; its answer's value. An error ``decide`` raises commits nothing.

        The time is read once, before the transaction: a retried transaction (Firestore
        retries on contention) judges and writes with the same time, so ``decide`` stays a
        pure function of what it reads, as a retried transaction needs.
        """
        now = self.clock()
        until = now + timedelta(seconds=self.seconds)

        def apply(tx: Transaction) -> T:
            decision = decide(self.view(tx, now, also_read))
            if isinstance(decision, Keep):
                if decision.update:
                    tx.update(self.path, decision.update)
                return decision.value
            lease = self.fields.taken(self.holder, until, decision.lease_extra)
            _write(tx, decision.write, self.path, {**decision.fields, **lease})
            for op, path, data in decision.also:
                _write(tx, op, path, data)
            return decision.value

        return self.documents.run_transaction(apply)

    def renew(self, fields: Mapping[str, Any] | None = None) -> bool:
        """Extend the lease by ``seconds`` from now, writing ``fields`` too, if this holder
        still has it; whether it did. Only the holder is checked: a lease that ran out but
        that nobody took over is still this holder's to extend."""
        until = self.clock() + timedelta(seconds=self.seconds)
        return self._if_mine(lambda: {**(fields or {}), **self.fields.extended(until)})

    def finish(
        self,
        fields: Mapping[str, Any],
        *,
        require: Callable[[Mapping[str, Any]], bool] | None = None,
        also: Callable[[Transaction], None] | None = None,
    ) -> bool:
        """Write ``fields`` and free the lease, only if this holder still has it (and
        ``require`` holds of the document's data); ``also`` writes more in the same
        transaction. Whether it did: False means another holder took over, and that one
        records its own outcome."""
        return self._if_mine(lambda: {**fields, **self.freed()}, require, also)

    def release(
        self,
        fields: Mapping[str, Any] | None = None,
        *,
        require: Callable[[Mapping[str, Any]], bool] | None = None,
    ) -> bool:
        """Give the lease back (writing ``fields`` too) if this holder still has it (and
        ``require`` holds), so that any holder may take it at once; whether it did."""
        return self._if_mine(lambda: {**(fields or {}), **self.freed()}, require)

    def _if_mine(
        self,
        fields: Callable[[], Mapping[str, Any]],
        require: Callable[[Mapping[str, Any]], bool] | None = None,
        also: Callable[[Transaction], None] | None = None,
    ) -> bool:
        def apply(tx: Transaction) -> bool:
            view = self.view(tx)
            # A missing document has no holder; checked first, since update needs one.
            if not view.exists or not view.mine:
                return False
            if require is not None and not require(view.data):
                return False
            tx.update(self.path, fields())
            if also is not None:
                also(tx)
            return True

        done: bool = self.documents.run_transaction(apply)
        return done

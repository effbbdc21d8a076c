"""Fan-out and fan-in: plan items, publish one job per item, and consolidate once.

A run (a critique run of an export, a batch of clips) is planned as items, one document
each in the run's item collection, and one job message per item. Workers finish items in
any order, each delivery at least once. The fan-in is a barrier:

1. :meth:`FanIn.ask`: a finisher that finds no item open (one limit-1 query, whatever the
   run's size) and the run's current plan not yet consolidated publishes a consolidation
   request. Several finishers may ask at once; that is fine, because
2. :meth:`FanIn.begin`: the consolidation claims the plan under a lease on the run (one
   consolidation of a run at a time; a dead one's lease runs out and is taken over) and a
   claim document per plan (``<run>/<claims>/<plan_id>``), so a plan is consolidated once;
3. :meth:`FanIn.end`: releases the lease and, with a result, marks the plan consolidated,
   only if it is still the run's plan (a newer plan consolidates after it).

Documents (field names are the run's, so stored runs keep working)::

    <run path>                   plan_id, <lease field>: {holder, plan_id, until},
                                 <done field>: the consolidated plan, and the result fields
    <run path>/<claims>/<plan>   plan_id, holder, claimed_at, done_at, and the claim fields
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Literal, TypeVar

from pydantic import BaseModel

from shared.platform.leases import Keep, Lease, Take, View, in_map
from shared.platform.topics import Topic
from shared.ports import SERVER_TIMESTAMP, DocumentStore, Filter, MessageBus, Transaction

M = TypeVar("M", bound=BaseModel)

WRITE_BATCH = 400
"""Documents per batched write: Firestore commits at most 500 writes."""

Refused = Literal["stale", "done", "held"]


def record_items(
    documents: DocumentStore, collection: str, items: Sequence[tuple[str, Mapping[str, Any]]]
) -> None:
    """Write a plan's item documents (``(id, data)``) in batches, each stamped updated_at."""
    for start in range(0, len(items), WRITE_BATCH):
        with documents.batch() as batch:
            for doc_id, data in items[start : start + WRITE_BATCH]:
                batch.set(f"{collection}/{doc_id}", {**data, "updated_at": SERVER_TIMESTAMP})


def any_open(documents: DocumentStore, collection: str, open_statuses: Sequence[str]) -> bool:
    """Whether an item of ``collection`` has an open status.

    One open item is enough to know: a limit-1 query reads one index entry at any scale,
    where a count would read the whole index on every completion.
    """
    where: list[Filter] = [("status", "in", list(open_statuses))]
    return bool(documents.query(collection, where=where, limit=1))


@dataclass(frozen=True)
class FanIn(Generic[M]):
    """The fan-in barrier of the runs of one kind (see the module docstring)."""

    topic: Topic[M]
    """Where consolidation requests go."""
    run_path: Callable[[str], str]
    items_path: Callable[[str], str]
    open_statuses: tuple[str, ...]
    request: Callable[[str, str], M]
    """The consolidation request of (run, plan id)."""
    lease_seconds: float
    """Longer than a consolidation may run: a live one is never taken over."""
    lease_field: str = "consolidating"
    done_field: str = "consolidated_plan"
    claims: str = "consolidations"
    complete: Callable[[DocumentStore, str, Mapping[str, Any]], bool] | None = None
    """Whether a run with nothing open is complete (given the store, the run and its
    document): a run whose items come from several plans (one per type, say) may still miss
    some."""

    def claim_path(self, run: str, plan_id: str) -> str:
        """The claim document of one plan's consolidation."""
        return f"{self.run_path(run)}/{self.claims}/{plan_id}"

    def is_open(self, documents: DocumentStore, run: str) -> bool:
        """Whether an item of the run is still open."""
        return any_open(documents, self.items_path(run), self.open_statuses)

    def ask(self, documents: DocumentStore, bus: MessageBus, run: str) -> bool:
        """If no item is open and the run's plan is not consolidated, publish its
        consolidation request; whether this did."""
        if self.is_open(documents, run):
            return False
        doc = documents.get(self.run_path(run))
        if doc is None or doc.data.get(self.done_field) == doc.data["plan_id"]:
            return False
        if self.complete is not None and not self.complete(documents, run, doc.data):
            return False
        plan_id = str(doc.data["plan_id"])
        self.topic.publish(bus, self.request(run, plan_id), {"run": run})
        return True

    def lease(self, documents: DocumentStore, run: str, holder: str) -> Lease:
        """``holder``'s lease on consolidating the run."""
        return Lease(
            documents,
            self.run_path(run),
            holder,
            seconds=self.lease_seconds,
            fields=in_map(self.lease_field),
        )

    def begin(
        self, documents: DocumentStore, run: str, plan_id: str, holder: str
    ) -> dict[str, Any] | Refused:
        """Claim the consolidation of ``plan_id``: the run document when claimed, else why
        not: ``stale`` (the run was planned again), ``done`` (consolidated already) or
        ``held`` (another live consolidation of the run; the caller retries later)."""
        claim = self.claim_path(run, plan_id)

        def decide(view: View) -> Take[dict[str, Any] | Refused] | Keep[dict[str, Any] | Refused]:
            current = view.others[claim]
            if not view.exists or view.data.get("plan_id") != plan_id:
                return Keep("stale")
            if current is not None and current.data.get("done_at") is not None:
                return Keep("done")
            if view.held:
                return Keep("held")
            # The claim document is replaced: an earlier attempt's fields go.
            claimed = {
                "plan_id": plan_id,
                "holder": holder,
                "claimed_at": view.now,
                "done_at": None,
            }
            return Take(
                dict(view.data),
                write="update",
                lease_extra={"plan_id": plan_id},
                also=[("set", claim, claimed)],
            )

        return self.lease(documents, run, holder).claim(decide, also_read=[claim])

    def end(
        self,
        documents: DocumentStore,
        run: str,
        plan_id: str,
        holder: str,
        *,
        result: Mapping[str, Any] | None,
        claim_fields: Mapping[str, Any] | None = None,
    ) -> bool:
        """Release the lease (if still held); with a ``result`` (written on the run), mark
        the plan consolidated and its claim done (with ``claim_fields``) if it is still the
        run's plan. Whether it was marked."""
        lease = self.lease(documents, run, holder)
        claim = self.claim_path(run, plan_id)

        def apply(tx: Transaction) -> bool:
            view = lease.view(tx)
            if not view.exists:
                return False
            release = lease.freed() if view.mine else {}
            if result is None or view.data.get("plan_id") != plan_id:
                if release:  # update needs a field to write
                    tx.update(lease.path, release)
                return False
            # Marked by the plan, not by the lease: the result is this plan's either way.
            tx.update(lease.path, {**release, self.done_field: plan_id, **result})
            tx.update(claim, {**(claim_fields or {}), "done_at": SERVER_TIMESTAMP})
            return True

        marked: bool = documents.run_transaction(apply)
        return marked

    def claimed_by(self, documents: DocumentStore, run: str, plan_id: str) -> dict[str, Any]:
        """The claim document of a plan's consolidation (empty when there is none)."""
        doc = documents.get(self.claim_path(run, plan_id))
        return {} if doc is None else dict(doc.data)

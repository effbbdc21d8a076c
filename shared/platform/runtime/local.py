"""The event runtime: pull deliveries, call the deployed entry points, ack or nack.

One dispatcher thread pulls batches from every function's subscription, hands each delivery
to a worker pool, acks finished ones in batches, nacks failures (the subscription decides
between retry-with-backoff and dead letter), keeps the leases of long handlers alive, and
notices files dropped into bucket folders by other programs. ``run_until_idle`` returns when
nothing is left to deliver; ``serve`` runs until asked to stop.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shared.core.errors import PermanentError, TransientError
from shared.platform.runtime.catalog import FunctionSpec
from shared.platform.runtime.dispatch import Handler, to_cloud_event
from shared.platform.settings import PlatformSettings
from shared.ports.subscriber import ReceivedMessage, Subscriber

log = logging.getLogger("vidcurate.runtime")

CHUNK_LIMIT = 8
CAPPED_IDLE_SECONDS = 0.5
"""How long a capped function's empty subscription is left alone before it is pulled again."""
EMPTY_IDLE_SECONDS = 0.1
"""The same for the other functions (a short wait: new work waits at most this long)."""
# Asked to stop, the runtime waits this long for handlers already running, then hands their
# deliveries back (the bus redelivers them at once; handlers are idempotent) and returns.
SHUTDOWN_GRACE_SECONDS = 2.0
SCAN_BUDGET_FACTOR = 10.0  # next scan after at least 10x the last one took


@dataclass(frozen=True)
class Route:
    """A function and the handler that serves it."""

    spec: FunctionSpec
    handler: Handler


@runtime_checkable
class Backlog(Protocol):
    """Subscribers that can count what is left (the local bus can; Pub/Sub cannot)."""

    def backlog(self, subscriptions: Sequence[str]) -> int: ...


@runtime_checkable
class Scanner(Protocol):
    """Blob stores that can find files dropped by other programs."""

    deferred_files: int  # files seen in the last scan but still being written

    def scan(
        self, settle_seconds: float = 0.0, cancelled: Callable[[], bool] | None = None
    ) -> Sequence[object]: ...


@dataclass
class RuntimeStats:
    """What the runtime did."""

    handled: Counter[str] = field(default_factory=Counter)
    failed: Counter[str] = field(default_factory=Counter)
    scanned_files: int = 0
    left_running: int = 0  # handlers still running when the runtime returned (handed back)

    @property
    def total_handled(self) -> int:
        """Deliveries acknowledged."""
        return sum(self.handled.values())

    @property
    def total_failed(self) -> int:
        """Delivery attempts that failed (each is retried or dead-lettered)."""
        return sum(self.failed.values())


@dataclass(frozen=True, slots=True)
class _Done:
    route: Route
    message: ReceivedMessage
    error: str | None
    started: bool = True  # False: skipped because the runtime is stopping (hand it back)


class EventRuntime:
    """Serves the catalogue's functions from a subscriber with a worker pool."""

    def __init__(
        self,
        settings: PlatformSettings,
        subscriber: Subscriber,
        routes: Sequence[Route],
        *,
        scanner: Scanner | None = None,
        workers: int | None = None,
        batch_size: int = 100,
        max_in_flight: int | None = None,
        poll_interval: float = 0.05,
        on_progress: Callable[[RuntimeStats], None] | None = None,
    ) -> None:
        self.settings = settings
        self.subscriber = subscriber
        self.routes = list(routes)
        self.scanner = scanner
        self.workers = workers or settings.workers
        self.batch_size = batch_size
        # Deliveries leased but not yet finished: enough to keep every worker busy between
        # two pulls, small enough that a crash hands back little work.
        self.max_in_flight = max_in_flight or max(2 * batch_size, 4 * self.workers)
        self.poll_interval = poll_interval
        self.on_progress = on_progress
        self.stats = RuntimeStats()
        self._backlog = subscriber if isinstance(subscriber, Backlog) else None
        # A Queue, not a SimpleQueue: on CPython 3.11 a signal arriving during
        # SimpleQueue.get(timeout=...) can turn the rest of the timeout into "forever".
        self._done: queue.Queue[list[_Done]] = queue.Queue()
        self._work: queue.SimpleQueue[list[tuple[Route, ReceivedMessage]] | None] = (
            queue.SimpleQueue()
        )
        # A function with an instance cap runs on that many threads of its own, as it runs on
        # its own instances in the cloud: it never waits behind the others' work, nor holds
        # the shared workers (a search waiting its turn at a rate, say).
        self._own_work: dict[str, queue.SimpleQueue[list[tuple[Route, ReceivedMessage]] | None]] = {
            route.spec.name: queue.SimpleQueue()
            for route in self.routes
            if route.spec.max_instances
        }
        self._quiet_until: dict[str, float] = {}  # subscriptions found empty, until when
        self._in_flight: dict[str, tuple[Route, ReceivedMessage, float]] = {}
        self._next_scan = 0.0
        self._stop_by: float | None = None  # set when asked to stop: when waiting ends
        self._stop: threading.Event | None = None  # serve's stop, which also ends a scan
        self._next_route = 0
        self._last_extend = time.monotonic()

    # --- public -----------------------------------------------------------------------------

    def run_until_idle(self, timeout: float = 300.0) -> RuntimeStats:
        """Deliver until no subscription holds anything (retries included), or time out."""
        deadline = time.monotonic() + timeout
        empty_rounds = 0
        self._stop_by, self._stop = None, None
        with self._worker_pool():
            while True:
                pulled = self._step()
                if pulled or self._in_flight:
                    empty_rounds = 0
                else:
                    empty_rounds += 1
                if not self._in_flight and self._idle(empty_rounds):
                    return self.stats
                if time.monotonic() > deadline:
                    in_flight = len(self._in_flight)
                    self._stop_by = time.monotonic() + SHUTDOWN_GRACE_SECONDS
                    self._release_queued_work()
                    self._drain(deadline=self._stop_by)
                    self._collect(wait=0.0)
                    self._release_in_flight()
                    raise TransientError(
                        f"runtime still busy after {timeout:.0f}s ({in_flight} deliveries "
                        "were in flight); run it again to continue"
                    )

    def serve(
        self, stop: threading.Event, grace_seconds: float = SHUTDOWN_GRACE_SECONDS
    ) -> RuntimeStats:
        """Deliver until ``stop`` is set; then hand back what no worker started, give the
        running handlers ``grace_seconds`` to finish, and hand back the rest."""
        self._stop_by, self._stop = None, stop
        with self._worker_pool():
            while not stop.is_set():
                self._step()
            self._release_queued_work()
            self._stop_by = time.monotonic() + grace_seconds
            self._drain(deadline=self._stop_by)
            self._collect(wait=0.0)  # what finished meanwhile is acknowledged, not redone
            self._release_in_flight()
        return self.stats

    # --- the loop ---------------------------------------------------------------------------

    def _idle(self, empty_rounds: int) -> bool:
        if self._backlog is not None:
            if self._backlog.backlog([r.spec.subscription for r in self.routes]):
                return False
        elif empty_rounds < 3:
            return False
        if self.scanner is None:
            return True
        # Nothing queued: one more look for dropped files, waiting for those still written.
        found = self.scanner.scan(settle_seconds=self.settings.scan_interval_seconds)
        return not found and not self.scanner.deferred_files

    @contextmanager
    def _worker_pool(self) -> Iterator[None]:
        # Long-lived threads on a plain queue: cheaper per delivery than an executor's
        # futures, which matters when handlers are fast.
        threads = [
            threading.Thread(target=self._work_loop, name=f"vidcurate-worker-{i}", daemon=True)
            for i in range(self.workers)
        ]
        own: list[tuple[queue.SimpleQueue[Any], threading.Thread]] = []
        for route in self.routes:
            work = self._own_work.get(route.spec.name)
            if work is None:
                continue
            for i in range(route.spec.max_instances or 0):
                thread = threading.Thread(
                    target=self._work_loop,
                    args=(work,),
                    name=f"vidcurate-{route.spec.name}-{i}",
                    daemon=True,
                )
                own.append((work, thread))
                threads.append(thread)
        for thread in threads:
            thread.start()
        try:
            yield
        except BaseException:
            self._stop_by = time.monotonic() + SHUTDOWN_GRACE_SECONDS
            self._release_queued_work()
            self._release_in_flight()
            raise
        finally:
            for _ in range(self.workers):
                self._work.put(None)
            for work, _thread in own:
                work.put(None)
            # A handler still running (past the grace, or on Ctrl-C) is not waited for: its
            # thread is a daemon, its delivery was handed back.
            deadline = self._stop_by or time.monotonic() + SHUTDOWN_GRACE_SECONDS
            for thread in threads:
                thread.join(timeout=max(0.0, deadline - time.monotonic()))
            self.stats.left_running = sum(thread.is_alive() for thread in threads)

    def _release_queued_work(self) -> None:
        """On a crash or Ctrl-C: hand back what no worker started, instead of running it."""
        released: dict[str, list[str]] = {}
        for work in (self._work, *self._own_work.values()):
            with contextlib.suppress(queue.Empty):
                while True:
                    chunk = work.get_nowait()
                    for route, message in chunk or ():
                        self._in_flight.pop(message.ack_id, None)
                        released.setdefault(route.spec.subscription, []).append(message.ack_id)
        self._hand_back(released)

    def _release_in_flight(self) -> None:
        """Hand back the deliveries whose handlers are still running (we stop waiting)."""
        released: dict[str, list[str]] = {}
        for ack_id, (route, _message, _started) in list(self._in_flight.items()):
            released.setdefault(route.spec.subscription, []).append(ack_id)
        self._in_flight.clear()
        self._hand_back(released)

    def _hand_back(self, released: dict[str, list[str]]) -> None:
        for subscription, ack_ids in released.items():
            with contextlib.suppress(Exception):  # the bus may be what failed; leases expire
                self.subscriber.extend(subscription, ack_ids, 0)

    def _work_loop(self, work: queue.SimpleQueue[Any] | None = None) -> None:
        source = work if work is not None else self._work
        while (chunk := source.get()) is not None:
            finished: list[_Done] = []
            reported = time.monotonic()
            for route, message in chunk:
                if self._stop_by is not None:  # stopping: start nothing new
                    finished.append(_Done(route, message, None, started=False))
                    continue
                finished.append(self._handle(route, message))
                if time.monotonic() - reported > self.poll_interval:
                    # A slow handler: report what is done now, not when the chunk is.
                    self._done.put(finished)
                    finished, reported = [], time.monotonic()
            if finished:
                self._done.put(finished)

    def _step(self) -> int:
        self._scan()
        pulled = 0
        capacity = self.max_in_flight - len(self._in_flight)
        if capacity < self.max_in_flight // 2 and len(self._in_flight) >= 2 * self.workers:
            # The workers have plenty queued: wait for some to finish, then pull (and ack) in
            # bigger batches; a pull per finished chunk costs the bus more than the work.
            capacity = 0
        # Start with a different function each step so one busy function cannot take all
        # the capacity that frees up.
        self._next_route = (self._next_route + 1) % len(self.routes) if self.routes else 0
        busy = Counter(route.spec.name for route, _, _ in self._in_flight.values())
        for route in self.routes[self._next_route :] + self.routes[: self._next_route]:
            wanted = self._wanted(route, capacity, busy[route.spec.name])
            if wanted <= 0:
                continue
            batch = self.subscriber.pull(route.spec.subscription, wanted)
            if not batch:
                quiet = CAPPED_IDLE_SECONDS if route.spec.max_instances else EMPTY_IDLE_SECONDS
                self._quiet_until[route.spec.name] = time.monotonic() + quiet
                continue
            started = time.monotonic()
            for message in batch:
                self._in_flight[message.ack_id] = (route, message, started)
            pulled += len(batch)
            own = self._own_work.get(route.spec.name)
            if own is not None:
                for message in batch:  # one each: its threads are its instances
                    own.put([(route, message)])
                continue
            # Hand work over in chunks, one queue operation per chunk instead of per
            # delivery; small chunks keep slow handlers from holding up many others.
            size = max(1, min(CHUNK_LIMIT, -(-len(batch) // self.workers)))
            for offset in range(0, len(batch), size):
                self._work.put([(route, message) for message in batch[offset : offset + size]])
            capacity -= len(batch)
        self._extend_leases()
        finished = self._collect(wait=self.poll_interval if not pulled or not capacity else 0.0)
        if (pulled or finished) and self.on_progress is not None:
            self.on_progress(self.stats)
        return pulled

    def _wanted(self, route: Route, capacity: int, busy: int) -> int:
        """How many deliveries to pull for ``route`` now (0: none). A subscription found
        empty is left alone a moment: a pull takes the bus's write lock, and pulling every
        function's subscription every step slows the handlers (and a stop) down."""
        if time.monotonic() < self._quiet_until.get(route.spec.name, 0.0):
            return 0
        limit = route.spec.max_instances
        if limit is None:
            return min(self.batch_size, capacity)
        # Its own threads: as many deliveries at once as its instance cap, pulled even while
        # the shared workers are full.
        return min(self.batch_size, limit - busy)

    def _handle(self, route: Route, message: ReceivedMessage) -> _Done:
        try:
            event = to_cloud_event(route.spec, message, self.settings)
        except PermanentError as exc:
            # What no function could take (a malformed notification): acknowledged and
            # logged, per the error contract, rather than retried into the dead letter.
            log.error(
                "undeliverable message acknowledged: %s",
                exc,
                extra={"labels": {"function": route.spec.name, "message_id": message.message_id}},
            )
            return _Done(route, message, None)
        try:
            if event is not None:
                route.handler(event)
        except BaseException as exc:  # noqa: BLE001 (every failure is reported to the bus)
            return _Done(route, message, f"{type(exc).__name__}: {exc}")
        return _Done(route, message, None)

    def _collect(self, wait: float) -> int:
        finished: list[_Done] = []
        try:
            finished.extend(self._done.get(timeout=wait) if wait else self._done.get_nowait())
            while True:
                finished.extend(self._done.get_nowait())
        except queue.Empty:
            pass
        acks: dict[str, list[str]] = {}
        skipped: dict[str, list[str]] = {}
        for done in finished:
            self._in_flight.pop(done.message.ack_id, None)
            name = done.route.spec.name
            if not done.started:
                skipped.setdefault(done.route.spec.subscription, []).append(done.message.ack_id)
            elif done.error is None:
                acks.setdefault(done.route.spec.subscription, []).append(done.message.ack_id)
                self.stats.handled[name] += 1
            else:
                self.stats.failed[name] += 1
                log.warning(
                    "delivery failed; the subscription will retry or dead-letter it",
                    extra={
                        "labels": {"function": name, "message_id": done.message.message_id},
                        "attempt": done.message.delivery_attempt,
                        "error": done.error,
                    },
                )
                self.subscriber.nack(done.route.spec.subscription, done.message.ack_id, done.error)
        for subscription, ack_ids in acks.items():
            self.subscriber.ack(subscription, ack_ids)
        self._hand_back(skipped)
        return len(finished)

    def _drain(self, deadline: float | None = None) -> None:
        while self._in_flight and (deadline is None or time.monotonic() < deadline):
            self._extend_leases()  # slow handlers keep their leases while we wait for them
            self._collect(wait=self.poll_interval)

    def _extend_leases(self) -> None:
        # Long handlers keep their lease; a dead process stops extending and its deliveries
        # come back after the ack deadline.
        interval = self.settings.ack_deadline_seconds / 3
        now = time.monotonic()
        if now - self._last_extend < interval:
            return
        self._last_extend = now
        by_subscription: dict[str, list[str]] = {}
        for ack_id, (route, _message, started) in list(self._in_flight.items()):
            if now - started >= interval:
                by_subscription.setdefault(route.spec.subscription, []).append(ack_id)
        for subscription, ack_ids in by_subscription.items():
            self.subscriber.extend(subscription, ack_ids, self.settings.ack_deadline_seconds)

    def _scan(self) -> None:
        if self.scanner is None:
            return
        now = time.monotonic()
        if now < self._next_scan:
            return
        stop = self._stop
        found = self.scanner.scan(
            settle_seconds=self.settings.scan_interval_seconds,
            cancelled=stop.is_set if stop is not None else None,
        )
        # A scan walks every bucket folder: with many objects, space scans out so that they
        # take at most a tenth of the runtime's time while deliveries are flowing.
        took = time.monotonic() - now
        self._next_scan = now + max(self.settings.scan_interval_seconds, SCAN_BUDGET_FACTOR * took)
        if found:
            self.stats.scanned_files += len(found)
            log.info("registered files dropped into bucket folders", extra={"count": len(found)})

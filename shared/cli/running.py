"""Running the local runtime until idle, with a progress bar: what a command does once it has
published work (uploaded files, queued jobs) when no cloud is there to deliver it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console
from rich.progress import TextColumn

from shared.bootstrap import build_runtime
from shared.catalog import FUNCTIONS
from shared.cli.tables import counting_progress
from shared.config import Settings
from shared.platform.context import Context
from shared.platform.runtime.local import Backlog, RuntimeStats

PROGRESS_EVERY = 500
"""Without a terminal (logs, CI), a progress line every this many deliveries."""


@contextmanager
def runtime_progress(
    console: Console, services: Context[Settings]
) -> Iterator[Callable[[RuntimeStats], None]]:
    """Progress fed by the runtime's ``on_progress`` callback: a bar on a terminal, else a
    line every ``PROGRESS_EVERY`` deliveries and a summary (no line per item)."""
    bus = services.bus
    backlog = bus.backlog([s.subscription for s in FUNCTIONS]) if isinstance(bus, Backlog) else 0
    if not console.is_terminal:
        with line_progress(console, backlog) as update:
            yield update
        return
    failed = TextColumn("{task.fields[failed]} failed attempts")
    with counting_progress(console, "[bold]delivering events", failed) as progress:
        task = progress.add_task("deliver", total=backlog or None, failed=0)

        def update(stats: RuntimeStats) -> None:
            done = stats.total_handled
            total = progress.tasks[0].total
            if total is not None and done > total:
                progress.update(task, total=done)
            progress.update(task, completed=done, failed=stats.total_failed)

        yield update
        total = progress.tasks[0].total
        if total is not None:
            progress.update(task, total=max(total, progress.tasks[0].completed))


@contextmanager
def line_progress(console: Console, backlog: int) -> Iterator[Callable[[RuntimeStats], None]]:
    """Progress as plain lines: what is queued, the share delivered every
    ``PROGRESS_EVERY`` deliveries, and a final summary by function."""
    console.print(f"delivering {backlog} queued event(s)" if backlog else "delivering events")
    lock = threading.Lock()
    state: dict[str, Any] = {"reported": 0, "last": None}
    started = time.monotonic()

    def update(stats: RuntimeStats) -> None:
        with lock:  # the runtime's worker threads report
            state["last"] = stats
            done = stats.total_handled
            if done // PROGRESS_EVERY <= state["reported"] // PROGRESS_EVERY:
                return
            state["reported"] = done
            total = max(backlog, done)
            share = f" ({100 * done // total}%)" if backlog else ""
            of = f"/{total}" if backlog else ""
            console.print(
                f"delivered {done}{of} event(s){share}, {stats.total_failed} failed attempt(s)"
            )

    yield update
    last = state["last"]
    if last is not None:
        by_function = ", ".join(f"{name} {count}" for name, count in sorted(last.handled.items()))
        console.print(
            f"delivered {last.total_handled} event(s) in {time.monotonic() - started:.1f} s"
            f" ({by_function}), {last.total_failed} failed attempt(s)"
        )


def run_until_idle(console: Console, services: Context[Settings], timeout: float) -> RuntimeStats:
    """Deliver everything queued in this process until nothing is left (or ``timeout``
    seconds pass), showing deliveries against the backlog."""
    with runtime_progress(console, services) as on_progress:
        return build_runtime(services, on_progress=on_progress).run_until_idle(timeout)


def run_locally(
    console: Console, services: Context[Settings], timeout: float, *, elsewhere: str
) -> RuntimeStats | None:
    """On the local backend, :func:`run_until_idle`; on another, print ``elsewhere`` (what
    was published for the cloud to deliver) and return None."""
    if services.settings.backend != "local":
        console.print(elsewhere)
        return None
    return run_until_idle(console, services, timeout)

"""Rich progress for the runtime: deliveries handled against what was queued."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.platform.context import Context
from shared.platform.runtime.local import Backlog, RuntimeStats


@contextmanager
def runtime_progress(
    console: Console, services: Context[Settings]
) -> Iterator[Callable[[RuntimeStats], None]]:
    """A progress bar fed by the runtime's ``on_progress`` callback."""
    bus = services.bus
    backlog = bus.backlog([s.subscription for s in FUNCTIONS]) if isinstance(bus, Backlog) else 0
    with Progress(
        TextColumn("[bold]delivering events"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed attempts"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    ) as progress:
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

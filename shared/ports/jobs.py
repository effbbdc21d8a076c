"""Batch jobs port: start an execution of a job with arguments, follow it, list them (Cloud
Run jobs in the cloud)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

ExecutionState = Literal["pending", "running", "succeeded", "failed", "cancelled"]


@dataclass(frozen=True)
class JobExecution:
    """One execution of a job, as last seen."""

    name: str
    state: ExecutionState
    args: tuple[str, ...] = ()
    created: datetime | None = None
    completed: datetime | None = None
    failed_tasks: int = 0
    retried_tasks: int = 0
    log_uri: str | None = None

    @property
    def finished(self) -> bool:
        """Whether it will change no more."""
        return self.state in ("succeeded", "failed", "cancelled")


class JobRunner(Protocol):
    """Executions of one job."""

    @property
    def job(self) -> str:
        """The job's full name."""
        ...

    def run(self, args: Sequence[str], *, tasks: int | None = None) -> JobExecution:
        """Start an execution whose container gets ``args`` (and ``tasks`` tasks instead of
        the job's task count)."""
        ...

    def execution(self, name: str) -> JobExecution:
        """An execution as it is now (NotFoundError when there is none)."""
        ...

    def executions(self, limit: int = 10) -> list[JobExecution]:
        """The latest executions, newest first."""
        ...

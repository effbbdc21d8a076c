"""Cloud Run jobs through ``google-cloud-run``: start an execution with per-execution
container arguments (``JobsClient.run_job`` with overrides), follow and list executions.

``VIDCURATE_RUN_API_ENDPOINT`` points the client at another endpoint over REST without
credentials (a local stand-in speaking the Cloud Run Admin API, as the emulator hosts do for
the other clients)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from google.api_core.client_options import ClientOptions
from google.auth.credentials import AnonymousCredentials
from google.cloud import run_v2

from shared.adapters.gcp._errors import translated
from shared.ports.jobs import ExecutionState, JobExecution

__all__ = ["CloudRunJobs"]


def _time(value: Any) -> datetime | None:
    """A proto timestamp as a datetime; None when unset (proto-plus gives None or epoch 0)."""
    if isinstance(value, datetime) and value.timestamp() > 0:
        return value
    return None


def _state(execution: run_v2.Execution) -> ExecutionState:
    if _time(execution.completion_time) is None:
        return "running" if _time(execution.start_time) is not None else "pending"
    if execution.cancelled_count:
        return "cancelled"
    if execution.failed_count and not execution.succeeded_count:
        return "failed"
    for condition in execution.conditions:
        if condition.type_ == "Completed":
            succeeded = condition.state == run_v2.Condition.State.CONDITION_SUCCEEDED
            return "succeeded" if succeeded else "failed"
    return "succeeded" if execution.succeeded_count >= max(execution.task_count, 1) else "failed"


def _execution(execution: run_v2.Execution) -> JobExecution:
    args: tuple[str, ...] = ()
    containers = execution.template.containers if execution.template else []
    if containers:
        args = tuple(containers[0].args)
    return JobExecution(
        name=execution.name,
        state=_state(execution),
        args=args,
        created=_time(execution.create_time),
        completed=_time(execution.completion_time),
        failed_tasks=int(execution.failed_count),
        retried_tasks=int(execution.retried_count),
        log_uri=execution.log_uri or None,
    )


class CloudRunJobs:
    """Executions of the Cloud Run job ``projects/P/locations/R/jobs/NAME``."""

    def __init__(
        self,
        project: str,
        region: str,
        name: str,
        *,
        endpoint: str | None = None,
        jobs: run_v2.JobsClient | None = None,
        executions: run_v2.ExecutionsClient | None = None,
    ) -> None:
        self._job = f"projects/{project}/locations/{region}/jobs/{name}"
        options: dict[str, Any] = {}
        if endpoint:
            options = {
                "client_options": ClientOptions(api_endpoint=endpoint),
                "credentials": AnonymousCredentials(),  # type: ignore[no-untyped-call]
                "transport": "rest",
            }
        self._jobs = jobs or run_v2.JobsClient(**options)
        self._executions = executions or run_v2.ExecutionsClient(**options)

    @property
    def job(self) -> str:
        """The job's full name."""
        return self._job

    def run(self, args: Sequence[str], *, tasks: int | None = None) -> JobExecution:
        """Start an execution; its container's arguments replaced by ``args``, and its task
        count by ``tasks`` when given."""
        override = run_v2.RunJobRequest.Overrides.ContainerOverride(args=list(args))
        overrides = run_v2.RunJobRequest.Overrides(container_overrides=[override])
        if tasks is not None:
            overrides.task_count = tasks
        request = run_v2.RunJobRequest(name=self._job, overrides=overrides)
        with translated(f"starting {self._job}"):
            operation = self._jobs.run_job(request=request)
            started: run_v2.Execution = operation.metadata
        return JobExecution(name=started.name, state="pending", args=tuple(args))

    def execution(self, name: str) -> JobExecution:
        """The execution as it is now."""
        with translated(f"reading {name}"):
            return _execution(self._executions.get_execution(name=name))

    def executions(self, limit: int = 10) -> list[JobExecution]:
        """The latest executions, newest first."""
        with translated(f"listing the executions of {self._job}"):
            request = run_v2.ListExecutionsRequest(parent=self._job, page_size=limit)
            pager = self._executions.list_executions(request=request)
            found = [_execution(item) for _, item in zip(range(limit), pager, strict=False)]
        return sorted(
            found, key=lambda e: e.created.timestamp() if e.created else 0.0, reverse=True
        )

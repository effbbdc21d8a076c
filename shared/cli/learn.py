"""``vidcurate learn round|status``: active-learning rounds, on this machine or as a Cloud
Run job execution."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import time
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from shared.bootstrap import build_job_runner
from shared.cli.session import (
    JsonOption,
    Where,
    console,
    echo_json,
    err_console,
    fail,
    fail_usage,
    session,
)
from shared.cli.tables import table
from shared.config import Settings
from shared.learning.rounds import RoundConfig
from shared.learning.roundstore import list_rounds, next_round
from shared.ports.jobs import JobExecution, JobRunner

learn_app = typer.Typer(
    help="Active learning: train on the labels, score the unlabelled frames, feed the queue.",
    no_args_is_help=True,
)


@learn_app.command("round")
def learn_round(
    round_: Annotated[
        int | None, typer.Option("--round", min=0, max=99, help="Default: the next round.")
    ] = None,
    top_k: Annotated[int, typer.Option(min=1, help="Frames the next queue asks about.")] = 50,
    epochs: Annotated[int, typer.Option(min=1, help="Most epochs per model.")] = 30,
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    lr: Annotated[float, typer.Option(min=0, help="Adam's learning rate.")] = 1e-4,
    patience: Annotated[int, typer.Option(min=1, help="Early stopping patience.")] = 5,
    base_weights: Annotated[
        str | None,
        typer.Option(help="Round 0's starting weights: gs://BUCKET/PATH.pt (default: random)."),
    ] = None,
    architecture: Annotated[str, typer.Option(help="resnet50 or resnet18.")] = "resnet50",
    image_size: Annotated[int, typer.Option(min=16, help="Input side in pixels.")] = 224,
    seed: Annotated[int, typer.Option(min=0)] = 0,
    workers: Annotated[int, typer.Option(min=0, help="DataLoader worker processes.")] = 2,
    where: Annotated[
        Where, typer.Option(help="local: a subprocess here; cloud: a Cloud Run job execution.")
    ] = Where.LOCAL,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Follow a cloud execution to its end.")
    ] = True,
) -> None:
    """Run an active-learning round: train a model per task, evaluate, score the unlabelled
    frames and write the queue the labelling page shows first."""
    with session() as services:
        number = next_round(services) if round_ is None else round_
        try:
            config = RoundConfig(
                round=number,
                top_k=top_k,
                epochs=epochs,
                batch_size=batch_size,
                lr=lr,
                patience=patience,
                base_weights=base_weights,
                architecture=architecture,
                image_size=image_size,
                seed=seed,
                workers=workers,
            )
        except ValidationError as exc:
            fail(exc)
        if config.base_weights is not None and config.round > 0:
            fail_usage("--base-weights: only round 0 starts from them (round N from N-1's best)")
        if where == Where.CLOUD:
            _cloud(
                build_job_runner(services.settings),
                config,
                wait=wait,
                every=services.settings.learn_follow_seconds,
            )
            return
        settings = services.settings
    _local(settings, config)


def _local(settings: Settings, config: RoundConfig) -> None:
    if importlib.util.find_spec("torch") is None:
        fail_usage("--where local needs torch: pip install 'vidcurate[learn]' (or --where cloud)")
    env = {
        **os.environ,
        "VIDCURATE_HOME": str(settings.home),
        "VIDCURATE_BACKEND": settings.backend,
        # the job's JSON logs are for Cloud Logging: here its one-line errors say it
        "VIDCURATE_LOG_LEVEL": "DEBUG" if settings.log_level == "DEBUG" else "CRITICAL",
    }
    console.print(f"round {config.round} on this machine (python -m shared.jobs.active_learning)")
    command = [sys.executable, "-m", "shared.jobs.active_learning", *config.to_args()]
    finished = subprocess.run(command, env=env, check=False)
    if finished.returncode:
        raise typer.Exit(finished.returncode)


def _cloud(runner: JobRunner, config: RoundConfig, *, wait: bool, every: float) -> None:
    execution = runner.run(config.to_args())
    console.print(f"round {config.round}: execution {execution.name} of {runner.job} started")
    if not wait:
        return
    state = execution.state
    while not execution.finished:
        time.sleep(every)  # polling a remote execution: bounded by its task timeout
        execution = runner.execution(execution.name)
        if execution.state != state:
            state = execution.state
            console.print(f"  {state}")
    if execution.log_uri:
        console.print(f"  logs: {execution.log_uri}")
    if execution.state != "succeeded":
        err_console.print(f"[red]error:[/] round {config.round}: the execution {execution.state}")
        raise typer.Exit(1)


@learn_app.command("status")
def learn_status(
    executions: Annotated[
        bool, typer.Option("--executions", help="Also list the cloud job's executions.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Every round (status, test metrics, guidance) and, with --executions, the job's."""
    with session(create_home=False) as services:
        rounds = list_rounds(services)
        runs: list[JobExecution] = []
        if executions:
            runs = build_job_runner(services.settings).executions()
    if as_json:
        echo_json({"rounds": rounds, "executions": [_execution_json(e) for e in runs]})
        return
    shown = table("Active-learning rounds", ["round", "status", "test", "queue", "guidance"])
    for row in rounds:
        test = ", ".join(
            f"{task} F1 {values['test_macro_f1']:.2f}"
            for task, values in (row.get("summary") or {}).items()
        )
        shown.add_row(
            str(row.get("round")),
            str(row.get("status")),
            test or (row.get("error") or "")[:80],
            str(row.get("queue_size", "")),
            "; ".join(row.get("guidance") or []),
        )
    console.print(shown)
    if not rounds:
        console.print("No round yet: vidcurate learn round")
    if runs:
        listed = table("Executions", ["execution", "state", "created", "arguments"])
        for run in runs:
            listed.add_row(
                run.name.rsplit("/", 1)[-1],
                run.state,
                run.created.isoformat(timespec="seconds") if run.created else "",
                " ".join(run.args),
            )
        console.print(listed)


def _execution_json(execution: JobExecution) -> dict[str, Any]:
    return {
        "name": execution.name,
        "state": execution.state,
        "args": list(execution.args),
        "created": execution.created,
        "completed": execution.completed,
        "failed_tasks": execution.failed_tasks,
        "log_uri": execution.log_uri,
    }

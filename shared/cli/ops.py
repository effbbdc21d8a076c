"""Operating the pipeline: ``serve``, ``status``, ``dlq list|replay``, ``publish``,
``provision`` and ``costs``."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import asdict
from types import FrameType
from typing import Annotated, Any

import typer

from shared.bootstrap import build_runtime, build_subscriber, provision_gcp
from shared.catalog import FUNCTIONS, function_spec
from shared.cli.running import run_until_idle
from shared.cli.session import JsonOption, console, echo_json, err_console, session
from shared.cli.tables import dead_letters, print_costs, print_status
from shared.config import Settings
from shared.llm.ledger import summarize_costs
from shared.ops.status import collect_status
from shared.platform.context import Context
from shared.platform.deadletters import list_dead_letters, replay_dead_letters
from shared.platform.runtime.catalog import FunctionSpec
from shared.platform.runtime.local import RuntimeStats

dlq_app = typer.Typer(help="Inspect and replay dead-lettered messages.", no_args_is_help=True)

FunctionOption = Annotated[
    list[str] | None, typer.Option("--function", "-f", help="Only these functions.")
]


def serve(
    workers: Annotated[int | None, typer.Option(help="Worker threads.")] = None,
    until_idle: Annotated[
        bool, typer.Option("--until-idle", help="Stop when nothing is left to deliver.")
    ] = False,
    timeout: Annotated[
        float | None,
        typer.Option(help="With --until-idle: give up after seconds (default 300).", min=1),
    ] = None,
) -> None:
    """Serve every function: deliver bucket events and messages until stopped (Ctrl-C)."""
    if timeout is not None and not until_idle:
        raise typer.BadParameter(
            "only with --until-idle (serve runs until stopped)", param_hint="--timeout"
        )
    timeout = 300 if timeout is None else timeout
    overrides: dict[str, Any] = {} if workers is None else {"workers": workers}
    with session("INFO", **overrides) as services:
        if until_idle:
            stats = run_until_idle(console, services, timeout)
        else:
            stats = _serve_until_stopped(services)
        err_console.print(
            f"handled {stats.total_handled} events, {stats.total_failed} failed attempts, "
            f"{stats.scanned_files} files picked up from bucket folders"
        )
        if stats.left_running:
            err_console.print(
                f"{stats.left_running} handler(s) cut short: handed back for next time"
            )
        if not until_idle:
            # Stopped by a signal: every delivery is acknowledged or handed back and every
            # write is on disk (SQLite commits, files renamed into place), so nothing is
            # left to do. Leave at once, as servers do: handlers past the grace would only
            # slow the interpreter's shutdown, and closing the stores while another serve
            # of the same home holds them may wait on its locks (the exit is promised
            # within seconds of the signal).
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)


def _serve_until_stopped(services: Context[Settings]) -> RuntimeStats:
    """Deliver until SIGTERM or SIGINT; then give running handlers a moment and hand the
    rest back (a second signal stops at once, handing everything back)."""
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        del signum, frame
        if stop.is_set():  # asked twice: stop waiting for the running handlers
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    err_console.print(
        f"[bold]vidcurate serve[/]: {len(FUNCTIONS)} functions, "
        f"{services.settings.workers} workers, home {services.settings.home} "
        "(Ctrl-C to stop)"
    )
    return build_runtime(services).serve(stop)


def status(as_json: JsonOption = False) -> None:
    """What is in the buckets, the bus (pending, in flight, dead-lettered) and the documents."""
    with session(create_home=False) as services:
        report = collect_status(services, build_subscriber(services))
    if as_json:
        console.print_json(json.dumps(report, default=str))
        return
    print_status(console, report)


def _specs(function: list[str] | None) -> list[FunctionSpec]:
    try:
        return [function_spec(name) for name in function] if function else list(FUNCTIONS)
    except KeyError as exc:
        raise typer.BadParameter(str(exc.args[0])) from exc


@dlq_app.command("list")
def dlq_list(function: FunctionOption = None, as_json: JsonOption = False) -> None:
    """Dead-lettered messages with the error that killed them."""
    with session() as services:
        letters = list_dead_letters(
            build_subscriber(services), _specs(function), documents=services.documents
        )
    if as_json:
        console.print_json(
            json.dumps(
                [
                    {
                        "function": d.function,
                        "message_id": d.message_id,
                        "source_message_id": d.source_message_id,
                        "error": d.error,
                        "attempts": d.attempts,
                        "failures": d.failures,
                        "published": d.published.isoformat(),
                        "data": d.data.decode("utf-8", errors="replace"),
                    }
                    for d in letters
                ]
            )
        )
        return
    if not letters:
        console.print("No dead letters.")
        return
    console.print(dead_letters(letters))


@dlq_app.command("replay")
def dlq_replay(
    message_id: Annotated[
        list[str] | None,
        typer.Option("--message-id", "-m", help="Replay these (dead-letter or original id)."),
    ] = None,
    function: FunctionOption = None,
    replay_all: Annotated[bool, typer.Option("--all", help="Replay every dead letter.")] = False,
) -> None:
    """Publish dead letters back to their function's topic (then run `serve`)."""
    if not message_id and not replay_all:
        raise typer.BadParameter("name messages with --message-id, or pass --all")
    with session() as services:
        replayed = replay_dead_letters(
            build_subscriber(services),
            services.bus,
            services.settings,
            _specs(function),
            None if replay_all else set(message_id or ()),
        )
    console.print(f"Replayed {len(replayed)} dead letters.")
    if message_id and not replay_all:
        missing = (
            set(message_id)
            - {d.message_id for d in replayed}
            - {d.source_message_id for d in replayed}
        )
        if missing:
            err_console.print(f"[yellow]not found:[/] {', '.join(sorted(missing))}")
            raise typer.Exit(1)


def publish(
    topic: Annotated[str, typer.Argument(help="Topic name, e.g. 'ping'.")],
    data: Annotated[str, typer.Argument(help="Message data (text or JSON).")] = "",
    attribute: Annotated[
        list[str] | None, typer.Option("--attribute", "-a", help="key=value, repeatable.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Publish one message to a topic."""
    attributes: dict[str, str] = {}
    for item in attribute or ():
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"attribute {item!r} is not key=value")
        attributes[key] = value
    with session() as services:
        listened = {spec.source_topic(services.settings): spec.name for spec in FUNCTIONS}
        if topic not in listened:
            known = ", ".join(sorted(listened))
            raise typer.BadParameter(
                f"no function listens to {topic!r}: the message would be lost (topics: {known})",
                param_hint="TOPIC",
            )
        message_id = services.bus.publish(topic, data.encode(), attributes)
    if as_json:
        echo_json({"message_id": message_id, "topic": topic, "function": listened[topic]})
        return
    console.print(f"Published {message_id} to {topic} (for {listened[topic]}).")


def provision() -> None:
    """Create the buckets, topics and subscriptions (with dead-letter topics) the functions use.

    On the local backend this happens by itself; on the gcp backend it is for the emulators or
    a sandbox project: production gets the same shape from terraform.
    """
    with session() as services:
        settings = services.settings
        if settings.backend == "gcp":
            provision_gcp(settings)
    console.print(
        f"Provisioned {len(FUNCTIONS)} function subscriptions with dead-letter topics "
        f"on the {settings.backend} backend."
    )


def costs(
    as_json: JsonOption = False,
    run: Annotated[
        str | None,
        typer.Option(
            "--run",
            help="Only the calls of this run (a critique export folder, a discovery run...), "
            "summed from their ledger entries.",
        ),
    ] = None,
) -> None:
    """Model spend by model and by kind (critique type, vision...): of every call, from the
    day totals kept beside the cost ledger, or of one run's calls."""
    with session() as services:
        summary = summarize_costs(services.documents, run=run or None)
    if as_json:
        console.print_json(json.dumps(asdict(summary)))
        return
    if run and not summary.calls:
        console.print(
            f"--run {run}: no model call is labelled with this run (critique runs are named "
            "by their export folder, discovery runs disc_..., frame analyses by their run id)"
        )
        return
    print_costs(console, summary)

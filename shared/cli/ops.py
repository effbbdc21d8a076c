"""Operating the pipeline: ``serve``, ``status``, ``dlq list|replay``, ``publish``,
``provision`` and ``costs``."""

from __future__ import annotations

import itertools
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
from shared.captions.progress import caption_progress
from shared.captions.store import list_exports
from shared.catalog import FUNCTIONS, function_spec
from shared.cli.running import run_until_idle
from shared.cli.session import JsonOption, console, echo_json, err_console, session
from shared.cli.tables import dead_letters, print_costs, print_status
from shared.config import Settings
from shared.core.errors import NotFoundError
from shared.llm.ledger import summarize_costs
from shared.media.shards.store import shard_status
from shared.media.store import CLIPS
from shared.platform.context import Context
from shared.platform.deadletters import list_dead_letters, replay_dead_letters
from shared.platform.runtime.catalog import FunctionSpec
from shared.platform.runtime.local import RuntimeStats
from shared.platform.settings import BUCKET_ROLES
from shared.ports import Subscriber
from shared.publishing.store import hub_upload_status
from shared.vision.store import ANALYSES

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
        # Handlers past the grace were handed back; their threads would only slow the exit
        # (the interpreter's shutdown shares the CPU with them): leave without them.
        err_console.print(f"{stats.left_running} handler(s) cut short: handed back for next time")
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


def collect_status(services: Context[Settings], subscriber: Subscriber) -> dict[str, Any]:
    """Counts per bucket, per function subscription and per collection."""
    settings = services.settings
    documents = {name: services.documents.count(name) for name in services.documents.collections()}
    return {
        "backend": settings.backend,
        "home": str(settings.home.resolve()) if settings.backend == "local" else None,
        "project": settings.project if settings.backend == "gcp" else None,
        "buckets": _bucket_status(services),
        "refused_files": _refused_files(services),
        "bus": _bus_status(services, subscriber),
        "documents": documents,
        "captions": [asdict(p) for p in caption_progress(services.documents, settings)],
        "exports": list_exports(services.documents, limit=5),
        "hub_uploads": hub_upload_status(services.documents),
        "videos": video_progress(services),
    }


STATUS_MAX_OBJECTS = 10_000
"""Objects counted per bucket by ``status``: past this, the count says "at least" (listing a
bucket costs one read per object in either backend; a status view stays quick)."""


def _bucket_status(services: Context[Settings]) -> list[dict[str, Any]]:
    """Objects and bytes in each bucket, up to :data:`STATUS_MAX_OBJECTS` objects
    (``more``: there are more; ``missing`` for a bucket that is not there)."""
    buckets = []
    for role in BUCKET_ROLES:
        name = services.settings.bucket(role)
        objects = total = 0
        try:
            for info in itertools.islice(services.blobs.list(name), STATUS_MAX_OBJECTS + 1):
                objects += 1
                total += info.size
        except NotFoundError:
            buckets.append({"role": role, "bucket": name, "objects": "missing", "bytes": 0})
            continue
        more = objects > STATUS_MAX_OBJECTS
        buckets.append(
            {
                "role": role,
                "bucket": name,
                "objects": min(objects, STATUS_MAX_OBJECTS),
                "bytes": total,
                "more": more,
            }
        )
    return buckets


def _refused_files(services: Context[Settings]) -> int:
    """Files in local bucket folders that are not objects (links, FIFOs, unusable names)."""
    refused = getattr(services.blobs, "refused_files", None)
    return len(refused()) if callable(refused) else 0


def _bus_status(services: Context[Settings], subscriber: Subscriber) -> list[dict[str, Any]]:
    """Per function: its topic, what is pending, in flight, retrying and dead-lettered."""
    stats_fn = getattr(services.bus, "stats", None)
    by_subscription = {s.subscription: s for s in stats_fn()} if callable(stats_fn) else {}
    dead = list_dead_letters(subscriber, FUNCTIONS)
    bus = []
    for spec in FUNCTIONS:
        row = by_subscription.get(spec.subscription)
        bus.append(
            {
                "function": spec.name,
                "topic": spec.source_topic(services.settings),
                "pending": row.pending if row else "n/a",
                "in_flight": row.in_flight if row else "n/a",
                "retrying": row.retrying if row else "n/a",
                "dead_lettered": sum(1 for d in dead if d.function == spec.name),
            }
        )
    return bus


def video_progress(services: Context[Settings]) -> dict[str, Any]:
    """Clips by sampling status (with the failed ones and why), frame analyses by status,
    and dataset shards pulled: counted by the store."""
    documents = services.documents
    clips = {
        status: documents.count(CLIPS, [("status", "==", status)])
        for status in ("sampling", "done", "failed", "missing")
    }
    failed = [
        {"clip": doc.data.get("name"), "error": doc.data.get("error")}
        for doc in documents.query(CLIPS, where=[("status", "==", "failed")], limit=5)
    ]
    analyses = {
        status: documents.count(ANALYSES, [("status", "==", status)])
        for status in ("running", "done", "failed")
    }
    return {
        "clips": clips,
        "failed_clips": failed,
        "analyses": analyses,
        "shards": shard_status(services)[:20],
    }


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


def costs(as_json: JsonOption = False) -> None:
    """Model spend from the cost ledger, by model and by kind (critique type, vision...)."""
    with session() as services:
        summary = summarize_costs(services.documents)
    if as_json:
        console.print_json(json.dumps(asdict(summary)))
        return
    print_costs(console, summary)

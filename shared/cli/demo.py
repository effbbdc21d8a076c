"""``vidcurate demo``: everything the system can do so far, end to end, in one run.

It drops annotation-like files into the annotations bucket (through the blob store, and one
by hand into the bucket folder as another program would), publishes ping messages twice each
(at-least-once delivery), one poisoned permanently and one transiently, runs the event
runtime until idle, and shows what ended where.
"""

from __future__ import annotations

import json
import uuid

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from shared.adapters.local.blobstore import LocalBlobStore
from shared.bootstrap import Services, build_runtime, build_subscriber
from shared.cli.progress import runtime_progress
from shared.ports import OutgoingMessage
from shared.runtime.catalog import FUNCTIONS
from shared.services.deadletters import list_dead_letters
from shared.services.ping import OBJECTS, PINGS


def run_demo(services: Services, console: Console, *, messages: int = 50) -> None:
    """Run the demo on ``services`` and print what happened."""
    settings = services.settings
    run = uuid.uuid4().hex[:8]
    bucket = settings.annotations_bucket
    console.print(
        Panel.fit(
            f"vidcurate demo (run {run}) on the [bold]{settings.backend}[/] backend\n"
            f"data under {settings.home.resolve() if settings.backend == 'local' else bucket}",
            title="vidcurate",
        )
    )

    uploads = [f"default/subject/demo-{run}-{i:03d}_feedback.json" for i in range(3)]
    for name in uploads:
        body = {"video_id": name.rsplit("/", 1)[-1], "caption": "a demo caption", "run": run}
        services.blobs.write(
            bucket, name, json.dumps(body).encode(), content_type="application/json"
        )
    console.print(f"• wrote {len(uploads)} files to gs://{bucket}/default/subject/")

    if isinstance(services.blobs, LocalBlobStore):
        dropped = services.blobs.root / bucket / "default" / "subject" / f"demo-{run}-dropped.json"
        dropped.parent.mkdir(parents=True, exist_ok=True)
        dropped.write_text(json.dumps({"dropped_by": "another program", "run": run}))
        console.print(f"• dropped one file by hand into {dropped.parent}")

    bodies = [{"run": run, "n": i} for i in range(messages)]
    batch = [OutgoingMessage(json.dumps(b).encode(), {"run": run}) for b in bodies]
    services.bus.publish_many("ping", batch)
    services.bus.publish_many("ping", batch)  # every message twice: delivery is at least once
    bad_id = services.bus.publish("ping", json.dumps({"fail": "permanent", "run": run}).encode())
    services.bus.publish("ping", json.dumps({"fail": "transient", "run": run}).encode())
    console.print(
        f"• published {messages} ping messages twice each, one bad message (rejected and "
        "recorded) and one that keeps failing (retried, then dead-lettered)"
    )

    with runtime_progress(console, services) as on_progress:
        stats = build_runtime(services, on_progress=on_progress).run_until_idle(timeout=120)

    pings = services.documents.query(PINGS, where=[("attributes.run", "==", run)])
    unique_bodies = {json.dumps(d.data["body"], sort_keys=True) for d in pings}
    objects = [
        d
        for d in services.documents.query(OBJECTS, where=[("bucket", "==", bucket)])
        if f"demo-{run}-" in d.data["name"]
    ]
    failures = services.documents.query("failures", where=[("event_id", "==", bad_id)])
    dead = [
        d
        for d in list_dead_letters(build_subscriber(services), FUNCTIONS)
        if json.loads(d.data or b"{}").get("run") == run
    ]

    table = Table(title="What happened")
    table.add_column("what")
    table.add_column("count", justify="right")
    table.add_column("where")
    table.add_row("events delivered and acknowledged", str(stats.total_handled), "runtime")
    table.add_row("failed attempts (retried)", str(stats.total_failed), "runtime")
    table.add_row("objects recorded", str(len(objects)), f"documents: {OBJECTS}/")
    table.add_row("ping documents (one per message id)", str(len(pings)), f"documents: {PINGS}/")
    table.add_row("distinct ping bodies", str(len(unique_bodies)), "= messages published")
    table.add_row("rejected events (bad input)", str(len(failures)), "documents: failures/")
    table.add_row("dead letters of this run", str(len(dead)), "vidcurate dlq list")
    console.print(table)
    for letter in dead:
        console.print(f"  dead letter {letter.message_id}: {letter.error}")
    console.print(
        "Next: [bold]vidcurate status[/], [bold]vidcurate dlq list[/], "
        "[bold]vidcurate serve[/] (then drop files into the bucket folders)."
    )

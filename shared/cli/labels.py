"""``vidcurate labels invite|queue|status|export`` and ``vidcurate web``: frame labelling."""

from __future__ import annotations

import sys
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from shared.cli.session import JsonOption, console, echo_json, fail_usage, session
from shared.cli.tables import table
from shared.core.files import writing_text
from shared.learning import Labelling, LabelStatus, check_name, invite, write_export

labels_app = typer.Typer(
    help="Frame labelling: annotators, their queues, progress and agreement, exports.",
    no_args_is_help=True,
)

NameArgument = Annotated[str, typer.Argument(metavar="NAME", help="The annotator's name.")]


class ExportFormat(StrEnum):
    """What ``labels export`` writes."""

    CSV = "csv"
    JSONL = "jsonl"


def _name(name: str) -> str:
    try:
        return check_name(name)
    except ValueError as exc:
        fail_usage(str(exc))


@labels_app.command("invite")
def labels_invite(
    name: NameArgument,
    email: Annotated[
        str | None,
        typer.Option(help="The annotator's Google identity, for the app behind IAP."),
    ] = None,
    admin: Annotated[
        bool | None,
        typer.Option(
            "--admin/--no-admin", help="May open the admin pages (default: as before; no)."
        ),
    ] = None,
    url: Annotated[
        str, typer.Option(help="Where the web app is reached (`vidcurate web`'s address).")
    ] = "http://127.0.0.1:8080",
) -> None:
    """Register an annotator (or renew their link) and print their personal sign-in link.

    The link holds a secret: send it to that annotator only. Inviting the same name again
    makes a new link and ends the old one."""
    _name(name)
    with session() as services:
        try:
            token = invite(services.documents, name, email=email, admin=admin)
        except ValueError as exc:
            fail_usage(str(exc))
    typer.echo(f"{url.rstrip('/')}/signin#{token}")


@labels_app.command("queue")
def labels_queue(
    name: NameArgument,
    limit: Annotated[
        int | None, typer.Option("--limit", "-n", min=1, help="Only the first N positions.")
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Print an annotator's queue: frame ids in order, labelled or not."""
    _name(name)
    with session(create_home=False) as services:
        labelling = Labelling(services)
        labelling.annotator(name)
        queue = labelling.queue(name)
        labels = labelling.labels(name)
    frame_ids = queue.frame_ids[:limit] if limit else queue.frame_ids
    if as_json:
        echo_json(
            {
                "annotator": name,
                "queue_version": queue.version,
                "total": len(queue),
                "frames": [
                    {"position": p, "frame": f, "labelled": f in labels}
                    for p, f in enumerate(frame_ids)
                ],
            }
        )
        return
    out = sys.stdout
    for position, frame_id in enumerate(frame_ids):
        out.write(f"{position}\t{frame_id}\t{'labelled' if frame_id in labels else '-'}\n")
    if not frame_ids:
        console.print("The queue is empty: no sampled frames yet (vidcurate frames extract).")


@labels_app.command("status")
def labels_status(as_json: JsonOption = False) -> None:
    """Every annotator's progress, and Cohen's / Fleiss' kappa per task."""
    with session(create_home=False) as services:
        status = Labelling(services).status()
    if as_json:
        echo_json(status.to_json())
        return
    print_label_status(console, status)


def print_label_status(out: Console, status: LabelStatus) -> None:
    """Progress per annotator, then agreement per task."""
    progress = table(
        f"Labelling: {status.frames} frames from {status.clips} clips",
        ["annotator", "labelled", "of", "done", "unusable", "changed"],
        right={"labelled", "of", "done", "unusable", "changed"},
    )
    for p in status.annotators:
        progress.add_row(
            p.annotator,
            str(p.labelled),
            str(p.total),
            f"{p.share:.0%}",
            str(p.unusable),
            str(p.changed),
        )
    out.print(progress)
    for task, item in status.agreement.items():
        kappas = table(
            f"Agreement: {task}",
            ["annotators", "kappa", "observed", "frames", "note"],
            right={"kappa", "observed", "frames"},
        )
        rows = [(f"{a} & {b}", k) for (a, b), k in item.pairwise.items()]
        rows.append(("all (Fleiss)", item.fleiss))
        for who, k in rows:
            kappas.add_row(
                who,
                "-" if k.kappa is None else f"{k.kappa:.3f}",
                "-" if k.observed is None else f"{k.observed:.3f}",
                str(k.frames),
                k.reason or "",
            )
        out.print(kappas)


@labels_app.command("export")
def labels_export(
    fmt: Annotated[
        ExportFormat, typer.Option("--format", "-f", help="csv (a column per task) or jsonl.")
    ] = ExportFormat.CSV,
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Write to this file (default: stdout).")
    ] = None,
) -> None:
    """Write every label for training: annotator, frame, clip key, time, a class per task."""
    if out is not None and out.is_dir():
        fail_usage(f"--out {out}: is a folder; name a file")
    with session(create_home=False) as services:
        labelling = Labelling(services)
        if out is None:
            write_export(labelling, sys.stdout, fmt.value)
            return
        with writing_text(out) as handle:
            count = write_export(labelling, handle, fmt.value)
    typer.echo(f"{count} label(s) written to {out}", err=True)


def web(
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8080,
) -> None:
    """Serve the web app (labelling page, admin pages) on this home's data."""
    from shared.web import serve  # noqa: PLC0415 (uvicorn and FastAPI load only for this)

    with session() as services:
        typer.echo(f"vidcurate web: http://{host}:{port}/ (Ctrl-C stops)", err=True)
        serve(services, host=host, port=port)

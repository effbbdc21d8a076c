"""``vidcurate``: run the pipeline locally, look at its state, handle dead letters.

The commands live with what they drive: ``ops`` (serve, status, dlq, publish, provision,
costs), ``captions`` (ingest, export), ``critiques``, ``videos``, ``frames`` and ``demo``.
"""

from __future__ import annotations

import sys
from importlib.metadata import version
from pathlib import Path
from typing import Annotated

import typer

from shared.cli import (
    captions,
    critiques,
    demo,
    discover,
    features,
    frames,
    labels,
    learn,
    ops,
    sets,
    videos,
)
from shared.cli.helptext import ConventionalGroup
from shared.cli.session import set_global_options

app = typer.Typer(
    cls=ConventionalGroup,
    help="vidcurate: event-driven video-dataset pipeline (local stand-ins or Google Cloud).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"vidcurate {version('vidcurate')}")
        raise typer.Exit


@app.callback()
def main(
    home: Annotated[
        Path | None, typer.Option(help="Local data folder (VIDCURATE_HOME, default .vidcurate).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="'local' (default) or 'gcp' (VIDCURATE_BACKEND).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """Global options apply to every command."""
    del show_version
    set_global_options(home=home, backend=backend, verbose=verbose)


# In the order of the work: try it, bring captions in and out, critique them, add and
# describe clips, curate image sets, then look at the state and operate.
START, CAPTIONS, CLIPS, IMAGES, LABELS, OPERATE = (
    "Start",
    "Captions and critiques",
    "Clips",
    "Image sets",
    "Labelling",
    "Operate",
)
app.command(rich_help_panel=START)(demo.demo)
app.command(rich_help_panel=CAPTIONS)(captions.ingest)
app.command("export", rich_help_panel=CAPTIONS)(captions.export_)
app.command(rich_help_panel=CAPTIONS)(captions.quarantine)
app.command(rich_help_panel=CAPTIONS)(captions.recount)
app.add_typer(critiques.critiques_app, name="critiques", rich_help_panel=CAPTIONS)
app.add_typer(videos.videos_app, name="videos", rich_help_panel=CLIPS)
app.add_typer(frames.frames_app, name="frames", rich_help_panel=CLIPS)
app.add_typer(features.features_app, name="features", rich_help_panel=CLIPS)
app.add_typer(discover.discover_app, name="discover", rich_help_panel=CLIPS)
app.add_typer(sets.sets_app, name="sets", rich_help_panel=IMAGES)
app.add_typer(labels.labels_app, name="labels", rich_help_panel=LABELS)
app.command(rich_help_panel=LABELS)(labels.web)
app.add_typer(learn.learn_app, name="learn", rich_help_panel=LABELS)
app.command(rich_help_panel=OPERATE)(ops.status)
app.command(rich_help_panel=OPERATE)(ops.costs)
app.command(rich_help_panel=OPERATE)(ops.serve)
app.command(rich_help_panel=OPERATE)(ops.publish)
app.add_typer(ops.dlq_app, name="dlq", rich_help_panel=OPERATE)
app.command(rich_help_panel=OPERATE)(ops.provision)


GLOBAL_OPTIONS = ("--home", "--backend")
"""Global options that may also come after the command (``vidcurate status --home h``)."""


def hoist_global_options(args: list[str]) -> list[str]:
    """``args`` with the global options moved before the command, wherever they were
    given (up to a ``--``), so they work in either place."""
    front: list[str] = []
    rest: list[str] = []
    index = 0
    while index < len(args):
        arg = args[index]
        if arg == "--":
            rest += args[index:]
            break
        if arg in GLOBAL_OPTIONS and index + 1 < len(args):
            front += args[index : index + 2]
            index += 2
            continue
        if arg.split("=", 1)[0] in GLOBAL_OPTIONS and "=" in arg:
            front.append(arg)
        else:
            rest.append(arg)
        index += 1
    return front + rest


def run() -> None:
    """The ``vidcurate`` command."""
    app(args=hoist_global_options(sys.argv[1:]), prog_name="vidcurate")


if __name__ == "__main__":  # pragma: no cover
    run()

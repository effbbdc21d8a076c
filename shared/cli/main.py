"""``vidcurate``: run the pipeline locally, look at its state, handle dead letters.

The commands live with what they drive: ``ops`` (serve, status, dlq, publish, provision,
costs), ``captions`` (ingest, export), ``critiques``, ``videos``, ``frames`` and ``demo``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from shared.cli import captions, critiques, demo, frames, ops, videos
from shared.cli.session import set_global_options

app = typer.Typer(
    help="vidcurate: event-driven video-dataset pipeline (local stand-ins or Google Cloud).",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)


@app.callback()
def main(
    home: Annotated[
        Path | None, typer.Option(help="Local data folder (VIDCURATE_HOME, default .vidcurate).")
    ] = None,
    backend: Annotated[
        str | None, typer.Option(help="'local' (default) or 'gcp' (VIDCURATE_BACKEND).")
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs.")] = False,
) -> None:
    """Global options apply to every command."""
    set_global_options(home=home, backend=backend, verbose=verbose)


app.command()(ops.serve)
app.command()(ops.status)
app.command()(ops.publish)
app.command()(ops.provision)
app.command()(captions.ingest)
app.command("export")(captions.export_)
app.command()(ops.costs)
app.command()(demo.demo)
app.add_typer(ops.dlq_app, name="dlq")
app.add_typer(critiques.critiques_app, name="critiques")
app.add_typer(videos.videos_app, name="videos")
app.add_typer(frames.frames_app, name="frames")


if __name__ == "__main__":  # pragma: no cover
    app()

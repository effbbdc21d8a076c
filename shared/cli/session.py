"""What every command shares: the consoles, the global options, and ``session()``: the stores
of one command, closed afterwards, with a bad flag or a failed step reported in one line."""

from __future__ import annotations

import contextlib
import io
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from pydantic import ValidationError
from pydantic_settings import SettingsError
from rich.console import Console
from rich.markup import escape

from shared.bootstrap import build_context, use_context
from shared.config import Settings
from shared.core.errors import VidcurateError, storage_problem
from shared.platform.context import Context
from shared.platform.logging import configure_logging

console = Console(soft_wrap=True)  # a printed path is never broken: it can be copied
err_console = Console(stderr=True, soft_wrap=True)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]


class Where(StrEnum):
    """Where a job's work runs: processes on this machine, or a Cloud Run job execution."""

    LOCAL = "local"
    CLOUD = "cloud"


def output_console(as_json: bool) -> Console:
    """Where a command reports as it goes: the terminal, or nowhere when it answers in JSON
    (errors still go to stderr)."""
    return Console(file=io.StringIO()) if as_json else console


def echo_json(data: Any) -> None:
    """A command's JSON answer on stdout: numbers as numbers, paths and times as text."""
    typer.echo(json.dumps(data, indent=2, default=str, ensure_ascii=False))


class _State:
    overrides: dict[str, Any] = {}
    verbose = False


def set_global_options(*, home: Path | None, backend: str | None, verbose: bool) -> None:
    """Remember the global options (``--home``, ``--backend``, ``-v``) for the command."""
    overrides: dict[str, Any] = {}
    if home is not None:
        overrides["home"] = home
    if backend is not None:
        overrides["backend"] = backend
    _State.overrides = overrides
    _State.verbose = verbose


def _settings(log_level: str = "WARNING", **extra: Any) -> Settings:
    level = "DEBUG" if _State.verbose else log_level
    return Settings(**{**_State.overrides, "log_level": level, **extra})


def _services(settings: Settings) -> Context[Settings]:
    # At a terminal, log lines read as lines between the tables; piped, JSON for collectors.
    configure_logging(settings.log_level, human=err_console.is_terminal)
    services = build_context(settings)
    use_context(services)  # entry points served in this process share these stores
    return services


@contextmanager
def session(
    log_level: str = "WARNING", *, create_home: bool = True, **extra: Any
) -> Iterator[Context[Settings]]:
    """The stores of one command, closed afterwards; a bad flag or a failed step ends the
    command with its one-line reason (exit 2 or 1), never a traceback. A command that only
    reads (``create_home=False``) says so when the local home is not there, rather than
    making an empty one."""
    try:
        settings = _settings(log_level, **extra)
    except ValidationError as exc:  # a bad global option or environment variable
        fail(exc)
    except SettingsError as exc:  # an environment variable that is not valid JSON
        fail_usage(_settings_error(exc))
    if not create_home and settings.backend == "local" and not settings.home.exists():
        err_console.print(
            f"[red]error:[/] no vidcurate home at {settings.home.resolve()} (--home or "
            "VIDCURATE_HOME names one; `vidcurate demo` or `vidcurate ingest` makes one)"
        )
        raise typer.Exit(1)
    try:
        services = _services(settings)
    except VidcurateError as exc:
        fail(exc)
    except OSError as exc:  # the home is a file, or cannot be written
        problem = storage_problem(settings.home, exc)
        if problem is not None:
            fail(problem)
        fail_usage(f"{settings.home}: cannot be the vidcurate home ({exc.strerror or exc})")
    try:
        yield services
    except (ValidationError, VidcurateError) as exc:
        fail(exc)
    except OSError as exc:  # a full or read-only disk under the home, mid-command
        problem = storage_problem(settings.home, exc)
        if problem is None:
            raise
        fail(problem)
    finally:
        with contextlib.suppress(VidcurateError, OSError):  # already reported above
            services.close()


def _settings_error(exc: SettingsError) -> str:
    """A settings source error in the user's words: which variable, and why."""
    found = re.search(r'field "(\w+)"', str(exc))
    variable = f"VIDCURATE_{found.group(1).upper()}" if found else "a VIDCURATE_* variable"
    cause = exc.__cause__
    why = f" ({cause})" if cause is not None else ""
    return f"{variable}: not valid JSON{why}"


def fail_usage(message: str) -> NoReturn:
    """Report a bad option or environment in one line (exit 2)."""
    err_console.print(f"[red]error:[/] {escape(message)}")
    raise typer.Exit(2)


def fail(exc: ValidationError | VidcurateError) -> NoReturn:
    """Report a bad flag (exit 2) or a failed command (exit 1) in one line, no traceback."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        where = f"{first['loc'][0]}: " if first["loc"] else ""  # model checks have no field
        message = first["msg"].removeprefix("Value error, ")  # a validator's own words
        err_console.print(f"[red]error:[/] {where}{escape(message)}")
        raise typer.Exit(2) from exc
    err_console.print(f"[red]error:[/] {escape(str(exc))}")
    raise typer.Exit(1) from exc


def exit_if(failed: bool | int) -> None:
    """End the command with exit 1 when something failed (a count or a flag)."""
    if failed:
        raise typer.Exit(1)

"""Checks, at image build time (infra/web/Dockerfile), that the installed vidcurate package is
the whole of the sources it was built from and that the web app's dependencies import.

A wheel carries the ``.py`` files of ``shared`` but leaves other files (templates, static
assets) out unless pyproject.toml declares them as package data; the app would then fail on
its first page, in the cloud only. Run with ``python -I`` so that ``import shared`` finds the
installed package, never the sources:

    python -I check_image.py <sources>/shared
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

# What the web, media and cli extras provide (pyproject.toml), by import name.
REQUIRED_MODULES = ("fastapi", "jinja2", "uvicorn", "jwt", "av", "PIL", "typer")


def missing_files(sources: Path, installed: Path) -> list[str]:
    """Files under ``sources`` (bytecode aside) that ``installed`` lacks, relative paths."""
    return sorted(
        path.relative_to(sources).as_posix()
        for path in sources.rglob("*")
        if path.is_file()
        and "__pycache__" not in path.parts
        and path.suffix not in {".pyc", ".pyo"}
        and not (installed / path.relative_to(sources)).is_file()
    )


def missing_modules(names: tuple[str, ...] = REQUIRED_MODULES) -> list[str]:
    found = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            found.append(name)
    return found


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: {argv[0]} <sources>/shared", file=sys.stderr)
        return 2
    sources = Path(argv[1]).resolve()
    import shared  # noqa: PLC0415 (the installed package, found at run time)

    installed = Path(shared.__file__).resolve().parent
    if installed == sources:
        print(f"{installed} is the sources, not an installed package: run with python -I")
        return 2
    problems = [
        f"not installed (declare it as package data in pyproject.toml): shared/{name}"
        for name in missing_files(sources, installed)
    ]
    problems += [
        f"cannot import {name} (the web, media and cli extras)" for name in missing_modules()
    ]
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

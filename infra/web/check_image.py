"""Checks, at image build time, that the installed vidcurate package is the whole of the
sources it was built from and that the modules the image's entry point imports are there.
Both images run it: the web app's (infra/web/Dockerfile) and the active-learning job's
(infra/learn/Dockerfile), each naming the modules of the extras it installs.

A wheel carries the ``.py`` files of ``shared`` but leaves other files (templates, static
assets) out unless pyproject.toml declares them as package data; the app would then fail on
its first page, in the cloud only. Run with ``python -I`` so that ``import shared`` finds the
installed package, never the sources:

    python -I check_image.py <sources>/shared [--torch-cuda-major N] MODULE [MODULE ...]

``--torch-cuda-major N``: torch must also be a CUDA build whose CUDA major version is N. The
GPU job's image needs a CUDA runtime that the GPU machine's NVIDIA driver runs; a CPU build,
or one made for a newer CUDA than that driver, imports fine and then trains on the CPU.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Iterable
from pathlib import Path


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


def missing_modules(names: Iterable[str]) -> list[str]:
    found = []
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError:
            found.append(name)
    return found


def cuda_problem(cuda_version: str | None, major: int) -> str | None:
    """Why torch's CUDA runtime (``torch.version.cuda``: ``"12.8"``, or None for a CPU
    build) is not of CUDA major version ``major``; None when it is."""
    if not cuda_version:
        return f"torch is a CPU build: the image needs a CUDA {major}.x build"
    found = cuda_version.split(".", 1)[0]
    if found != str(major):
        return (
            f"torch is built for CUDA {cuda_version}: the image needs a CUDA {major}.x build "
            "(the GPU's driver runs no other)"
        )
    return None


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog=Path(argv[0]).name, description=__doc__.split("\n")[0])
    parser.add_argument("sources", type=Path, help="<sources>/shared, the package's sources")
    parser.add_argument("modules", nargs="+", metavar="MODULE", help="modules that must import")
    parser.add_argument(
        "--torch-cuda-major",
        type=int,
        default=None,
        metavar="N",
        help="torch must be a CUDA N.x build",
    )
    return parser.parse_args(argv[1:])


def main(argv: list[str]) -> int:
    try:
        arguments = parse_arguments(argv)
    except SystemExit as exit_:  # usage errors: argparse has printed why
        return exit_.code if isinstance(exit_.code, int) else 2
    sources = arguments.sources.resolve()
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
        f"cannot import {name} (an extra the image installs)"
        for name in missing_modules(arguments.modules)
    ]
    if arguments.torch_cuda_major is not None:
        problems += torch_problems(arguments.torch_cuda_major)
    for problem in problems:
        print(problem, file=sys.stderr)
    return 1 if problems else 0


def torch_problems(major: int) -> list[str]:
    """What keeps torch from running on a CUDA ``major``.x GPU."""
    try:
        torch = importlib.import_module("torch")
    except ImportError:
        return ["cannot import torch (--torch-cuda-major)"]
    problem = cuda_problem(torch.version.cuda, major)
    return [problem] if problem else []


if __name__ == "__main__":
    sys.exit(main(sys.argv))

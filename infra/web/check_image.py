"""Checks, at image build time, that the installed vidcurate package is the whole of the
sources it was built from and that the modules the image's entry point imports are there.
Both images run it: the web app's (infra/web/Dockerfile) and the GPU jobs' (infra/learn/Dockerfile:
active learning and feature extraction), each naming the modules of the extras it installs.

A wheel carries the ``.py`` files of ``shared`` but leaves other files (templates, static
assets) out unless pyproject.toml declares them as package data; the app would then fail on
its first page, in the cloud only. Run with ``python -I`` so that ``import shared`` finds the
installed package, never the sources:

    python -I check_image.py <sources>/shared [--torch-cuda-major N] [--onnxruntime-cuda-major N]
        MODULE [MODULE ...]

``--torch-cuda-major N``: torch must also be a CUDA build whose CUDA major version is N. The
GPU job's image needs a CUDA runtime that the GPU machine's NVIDIA driver runs; a CPU build,
or one made for a newer CUDA than that driver, imports fine and then trains on the CPU.

``--onnxruntime-cuda-major N``: the same for onnxruntime (the feature-extraction job's OCR):
it must be onnxruntime-gpu built for CUDA N.x, and its CUDA provider's libraries (CUDA,
cuBLAS, cuFFT, cuRAND, cuDNN, from the nvidia-* wheels torch brings) must load the way the
job loads them, through ``onnxruntime.preload_dlls()``. Otherwise onnxruntime falls back to
its CPU provider at run time, with a warning in a log nobody reads, on a paid GPU. Loading a
library needs no GPU: the check runs on the build machine.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import importlib
import io
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


def cuda_problem(cuda_version: str | None, major: int, package: str = "torch") -> str | None:
    """Why ``package``'s CUDA runtime (``torch.version.cuda``, onnxruntime's
    ``build_and_package_info.cuda_version``: ``"12.8"``, or None for a CPU build) is not of
    CUDA major version ``major``; None when it is."""
    if not cuda_version:
        return f"{package} is a CPU build: the image needs a CUDA {major}.x build"
    found = cuda_version.split(".", 1)[0]
    if found != str(major):
        return (
            f"{package} is built for CUDA {cuda_version}: the image needs a CUDA {major}.x build "
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
    parser.add_argument(
        "--onnxruntime-cuda-major",
        type=int,
        default=None,
        metavar="N",
        help="onnxruntime must be a CUDA N.x build whose CUDA provider loads",
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
    # Before the modules are imported: importing torch loads the same CUDA libraries through
    # torch's own paths, which would hide a provider that cannot load them by itself.
    if arguments.onnxruntime_cuda_major is not None:
        problems += onnxruntime_problems(arguments.onnxruntime_cuda_major)
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


def onnxruntime_problems(major: int) -> list[str]:
    """What keeps onnxruntime from running on a CUDA ``major``.x GPU: a CPU build (the
    ``onnxruntime`` distribution rather than ``onnxruntime-gpu``), a build for another CUDA, or
    a CUDA provider whose libraries do not load after ``onnxruntime.preload_dlls()``."""
    try:
        ort = importlib.import_module("onnxruntime")
    except ImportError:
        return ["cannot import onnxruntime (--onnxruntime-cuda-major)"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        return [
            f"onnxruntime is a CPU build: the image needs onnxruntime-gpu, a CUDA {major}.x build"
        ]
    info = importlib.import_module("onnxruntime.capi.build_and_package_info")
    problem = cuda_problem(getattr(info, "cuda_version", None), major, "onnxruntime")
    if problem:
        return [problem]
    if not hasattr(ort, "preload_dlls"):
        return [f"onnxruntime {ort.__version__} has no preload_dlls (1.21 or later has)"]
    library = Path(ort.__file__).parent / "capi" / "libonnxruntime_providers_cuda.so"
    # preload_dlls prints what it could not load (and returns nothing): kept for the message.
    with contextlib.redirect_stdout(io.StringIO()) as printed:
        ort.preload_dlls()
    try:
        ctypes.CDLL(str(library))
    except OSError as error:
        said = " ".join(printed.getvalue().split())
        return [
            f"onnxruntime's CUDA provider does not load after preload_dlls(): {error}"
            + (f" (preload_dlls: {said})" if said else "")
        ]
    return []


if __name__ == "__main__":
    sys.exit(main(sys.argv))

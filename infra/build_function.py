"""Build the source archive of one Cloud Function, deterministically.

The archive is what Cloud Functions (2nd gen) builds from:

- ``main.py`` (and any other ``.py`` file of ``functions/<name>/``) at the archive root;
- the modules of the ``shared`` package that the entry point can import: the closure of its
  imports (top-level and deferred ones alike) over ``shared/``, with every package
  ``__init__`` on the way and ``py.typed``, nothing else (no caches). Adapters for an optional
  dependency group the function does not declare are left out (the OpenAI and Gemini
  providers without ``models``, ``shared/adapters/hf/`` without ``hub``): the composition
  root imports them only when asked for that gateway;
- ``requirements.txt``: the core dependencies of ``pyproject.toml`` and those of the extras
  that the function's catalogue entry declares (``FunctionSpec.extras``), each pinned ``==``
  to the version installed in the environment that runs this script, so the cloud installs
  what the tests ran against. ``ping`` carries no model SDK, no Hub client and no PyAV.

Entries are sorted and carry a fixed timestamp and mode, so the archive (and its MD5, which
terraform puts in the object name) only changes when its content does.

Usage::

    python infra/build_function.py NAME [NAME ...] --out DIR   # prints each archive's path
    python infra/build_function.py --all --out DIR
    echo '{"name": "ping", "out_dir": "build/functions"}' | \\
        python infra/build_function.py --terraform              # terraform `data "external"`

It runs in the project's environment (it pins the installed versions and reads the function
catalogue, ``shared/catalog.py``); ``packaging`` is used when present, to check that the
installed versions satisfy the ranges in ``pyproject.toml``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import os
import re
import sys
import tempfile
import tomllib
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent

# 1980-01-01 is the earliest time a zip entry can carry.
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
COMPRESS_LEVEL = 9
REQUIREMENTS = "requirements.txt"
SHARED_PACKAGE = "shared"
_SHARED_FILE_NAMES = frozenset({"py.typed"})
# Adapter packages that need an optional dependency group, and that group.
ADAPTER_EXTRAS = {
    "shared.adapters.models.openai_provider": "models",
    "shared.adapters.models.gemini_provider": "models",
    "shared.adapters.models.openai_images": "models",
    "shared.adapters.models.gemini_images": "models",
    "shared.adapters.models.openai_speech": "models",
    # The clip sources speak HTTP with httpx2 (the folder source reads ClipCafe's shape).
    "shared.adapters.clipcafe": "models",
    "shared.adapters.local.clipfolder": "models",
    # Draws its placeholders with Pillow.
    "shared.adapters.models.offline_images": "media",
    "shared.adapters.hf": "hub",
}
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_REQUIREMENT = re.compile(
    r"^\s*(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)\s*(?P<extras>\[[^\]]*\])?"
    r"\s*(?P<spec>[^;]*?)\s*(?:;\s*(?P<marker>.+?))?\s*$"
)


class BuildError(Exception):
    """The archive cannot be built (unknown function, missing dependency, bad pyproject)."""


@dataclass(frozen=True)
class Archive:
    """A built archive: where it lies and the MD5 of its bytes (hex)."""

    path: Path
    md5: str


def function_names(root: Path = REPO_ROOT) -> list[str]:
    """Every function folder (``functions/<name>/main.py``), sorted."""
    return sorted(p.parent.name for p in (root / "functions").glob("*/main.py"))


def _is_cache(path: Path) -> bool:
    return "__pycache__" in path.parts or any(part.startswith(".") for part in path.parts)


def _function_files(root: Path, name: str) -> Iterator[tuple[str, Path]]:
    folder = root / "functions" / name
    if not _NAME.fullmatch(name) or not (folder / "main.py").is_file():
        known = ", ".join(function_names(root)) or "none"
        raise BuildError(f"unknown function {name!r}: no functions/{name}/main.py (known: {known})")
    for path in folder.rglob("*.py"):
        relative = path.relative_to(folder)
        if path.is_file() and not _is_cache(relative):
            yield relative.as_posix(), path


def function_extras(name: str) -> tuple[str, ...]:
    """The optional dependency groups that the catalogue gives function ``name``."""
    if str(REPO_ROOT) not in sys.path:
        sys.path.insert(0, str(REPO_ROOT))
    from shared.catalog import FUNCTIONS  # noqa: PLC0415 (the project's own catalogue)

    for spec in FUNCTIONS:
        if spec.name == name:
            return tuple(spec.extras)
    raise BuildError(f"function {name!r} is not in the catalogue (shared/catalog.py)")


def _module_file(root: Path, module: str) -> Path | None:
    base = root.joinpath(*module.split("."))
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _imported_modules(path: Path) -> Iterator[str]:
    """Every ``shared...`` module a file imports, wherever the import statement is."""
    tree = ast.parse(path.read_text("utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.module
            # ``from shared.x import y`` may import the submodule shared.x.y
            yield from (f"{node.module}.{alias.name}" for alias in node.names)


def _shared_files(
    root: Path, entry_points: Sequence[Path], extras: Sequence[str]
) -> Iterator[tuple[str, Path]]:
    package = root / SHARED_PACKAGE
    if not (package / "__init__.py").is_file():
        raise BuildError(f"{package} is not a Python package")
    left_out = tuple(prefix for prefix, extra in ADAPTER_EXTRAS.items() if extra not in extras)
    seen: set[str] = set()
    pending = [module for path in entry_points for module in _imported_modules(path)]
    while pending:
        module = pending.pop()
        parts = module.split(".")
        if parts[0] != SHARED_PACKAGE or module in seen:
            continue
        if any(module == prefix or module.startswith(prefix + ".") for prefix in left_out):
            continue
        seen.add(module)
        # Importing a.b.c runs the __init__ of a and a.b first.
        pending.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        path = _module_file(root, module)
        if path is not None:
            pending.extend(_imported_modules(path))
    files = {_module_file(root, module) for module in seen} - {None}
    files |= {path for path in package.glob("*") if path.name in _SHARED_FILE_NAMES}
    for path in sorted(p for p in files if p is not None):
        relative = path.relative_to(root)
        if not _is_cache(relative):
            yield relative.as_posix(), path


def _installed_version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError as exc:
        raise BuildError(
            f"dependency {name!r} is not installed in {sys.prefix}: run the build from the "
            "project's environment (pip install -e .) so that versions can be pinned"
        ) from exc


def _check_range(requirement: str, version: str) -> None:
    try:
        from packaging.requirements import Requirement  # noqa: PLC0415 (optional)
    except ImportError:  # pragma: no cover - packaging ships with pip-based environments
        return
    parsed = Requirement(requirement)
    if not parsed.specifier.contains(version, prereleases=True):
        raise BuildError(
            f"installed {parsed.name}=={version} does not satisfy {requirement!r} in "
            "pyproject.toml: reinstall the project (pip install -e .)"
        )


def pinned_requirements(root: Path = REPO_ROOT, extras: Sequence[str] = ()) -> str:
    """``requirements.txt`` text: each ``[project.dependencies]`` entry, and each entry of the
    ``extras`` groups of ``[project.optional-dependencies]``, pinned ``==``."""
    pyproject = root / "pyproject.toml"
    try:
        project = tomllib.loads(pyproject.read_text("utf-8"))["project"]
        dependencies = list(project["dependencies"])
        groups = project.get("optional-dependencies", {})
        for extra in extras:
            dependencies.extend(groups[extra])
    except (OSError, KeyError, tomllib.TOMLDecodeError) as exc:
        raise BuildError(f"cannot read the dependencies from {pyproject}: {exc}") from exc
    lines = set()
    for requirement in dependencies:
        match = _REQUIREMENT.match(requirement)
        if match is None:
            raise BuildError(f"cannot parse dependency {requirement!r} in {pyproject}")
        name = match["name"]
        version = _installed_version(name)
        _check_range(requirement, version)
        line = f"{name}{match['extras'] or ''}=={version}"
        if match["marker"]:
            line += f"; {match['marker']}"
        lines.add(line)
    header = "# Generated by infra/build_function.py from pyproject.toml; do not edit.\n"
    return header + "\n".join(sorted(lines, key=str.lower)) + "\n"


def _entry(arcname: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.create_system = 3  # unix, so that the mode below is honoured everywhere
    info.external_attr = (0o100000 | FILE_MODE) << 16
    return info


def archive_entries(name: str, root: Path = REPO_ROOT) -> dict[str, bytes]:
    """The archive's content: arcname -> bytes."""
    entries: dict[str, bytes] = {}
    function_files = list(_function_files(root, name))
    extras = function_extras(name)
    shared_files = _shared_files(root, [path for _, path in function_files], extras)
    for arcname, path in (*function_files, *shared_files):
        entries[arcname] = path.read_bytes()
    if REQUIREMENTS in entries:
        raise BuildError(f"functions/{name}/ must not ship its own {REQUIREMENTS}")
    entries[REQUIREMENTS] = pinned_requirements(root, extras).encode("utf-8")
    return entries


def build_archive(name: str, out_dir: Path, root: Path = REPO_ROOT) -> Archive:
    """Write ``<out_dir>/<name>.zip`` (atomically) and return it with its MD5."""
    entries = archive_entries(name, root)
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.zip"
    fd, tmp_name = tempfile.mkstemp(prefix=f".{name}.", suffix=".zip", dir=out_dir)
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as raw, zipfile.ZipFile(raw, "w") as archive:
            for arcname in sorted(entries):
                archive.writestr(_entry(arcname), entries[arcname], compresslevel=COMPRESS_LEVEL)
        tmp.replace(target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return Archive(path=target, md5=hashlib.md5(target.read_bytes()).hexdigest())  # noqa: S324 (content id, not security)


def _terraform(stdin_text: str) -> dict[str, str]:
    try:
        query = json.loads(stdin_text or "{}")
        name, out_dir = str(query["name"]), str(query["out_dir"])
    except (ValueError, KeyError, TypeError) as exc:
        raise BuildError(f'expected a JSON query {{"name": ..., "out_dir": ...}}: {exc}') from exc
    built = build_archive(name, Path(out_dir).resolve())
    return {"path": str(built.path), "md5": built.md5}


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(description="Build Cloud Function source archives.")
    parser.add_argument("names", nargs="*", metavar="NAME", help="function(s) to build")
    parser.add_argument("--all", action="store_true", help="build every function")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "build" / "functions")
    parser.add_argument(
        "--terraform",
        action="store_true",
        help='read {"name", "out_dir"} as JSON on stdin, print {"path", "md5"} (data "external")',
    )
    args = parser.parse_args(argv)
    try:
        if args.terraform:
            print(json.dumps(_terraform(sys.stdin.read()), sort_keys=True))
            return 0
        names = function_names() if args.all else list(args.names)
        if not names:
            parser.error("give at least one NAME, or --all")
        for name in names:
            print(build_archive(name, args.out.resolve()).path)
    except BuildError as exc:
        print(f"build_function: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

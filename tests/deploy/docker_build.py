"""Reading the images' build files without docker (which does not run here): the
Dockerfiles' instructions, .dockerignore's rule for what enters the build context, and the
check every image build runs (infra/web/check_image.py), loaded as a module.

- ``dockerfile_instructions``: (INSTRUCTION, arguments) of a Dockerfile, continuation lines
  joined, comments dropped.
- ``build_arguments``: a Dockerfile's ``ARG`` defaults.
- ``dockerignore_includes``: whether a path of the repository enters the build context.
- ``load_check_image`` and ``check_image_arguments``: the check script, and the arguments a
  Dockerfile runs it with, read by the script's own parser.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import re
import shlex
import sys
from pathlib import Path, PurePosixPath
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
DOCKERIGNORE = REPO / ".dockerignore"
CHECK_IMAGE = REPO / "infra" / "web" / "check_image.py"


def dockerfile_instructions(dockerfile: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of ``dockerfile``, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def build_arguments(dockerfile: Path) -> dict[str, str | None]:
    """``ARG NAME=default`` -> {NAME: default} (None without a default)."""
    found: dict[str, str | None] = {}
    for kind, rest in dockerfile_instructions(dockerfile):
        if kind == "ARG":
            name, sep, default = rest.partition("=")
            found[name] = default if sep else None
    return found


def ignore_patterns() -> list[tuple[bool, list[str]]]:
    """(is an exception, pattern segments) of .dockerignore, in order."""
    patterns = []
    for line in DOCKERIGNORE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        exception = stripped.startswith("!")
        pattern = stripped.removeprefix("!").strip("/")
        patterns.append((exception, pattern.split("/")))
    return patterns


def segments_match(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**":
        return any(segments_match(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return (
        bool(path)
        and fnmatch.fnmatchcase(path[0], pattern[0])
        and (segments_match(pattern[1:], path[1:]))
    )


def dockerignore_includes(path: str) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = list(PurePosixPath(path).parts)
    included = True
    for exception, pattern in ignore_patterns():
        prefixes = [parts[:i] for i in range(1, len(parts) + 1)]
        if any(segments_match(pattern, prefix) for prefix in prefixes):
            included = exception
    return included


def load_check_image() -> ModuleType:
    name = "vidcurate_check_image"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, CHECK_IMAGE)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def check_image_arguments(dockerfile: Path) -> argparse.Namespace:
    """The arguments ``dockerfile`` runs check_image.py with (its one ``python -I
    .../check_image.py ...`` command), ``${ARG}`` references replaced by their defaults, as
    the script itself parses them."""
    runs = " && ".join(rest for kind, rest in dockerfile_instructions(dockerfile) if kind == "RUN")
    commands = [
        command.strip()
        for command in runs.split("&&")
        if re.match(r"python -I \S*check_image\.py\b", command.strip())
    ]
    assert len(commands) == 1, f"{dockerfile} runs check_image.py {len(commands)} times"
    defaults = build_arguments(dockerfile)

    def substitute(match: re.Match[str]) -> str:
        value = defaults.get(match[1])
        assert value is not None, f"{match[0]} has no default in {dockerfile}"
        return value

    words = shlex.split(re.sub(r"\$\{(\w+)\}", substitute, commands[0]))
    return load_check_image().parse_arguments(words[2:])

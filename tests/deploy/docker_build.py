"""Reading the images' build files without docker (which does not run here): the
Dockerfiles' instructions, .dockerignore's rule for what enters the build context, and the
check every image build runs (infra/web/check_image.py), loaded as a module.

- ``dockerfile_instructions``: (INSTRUCTION, arguments) of a Dockerfile, continuation lines
  joined, comments dropped.
- ``build_arguments``: a Dockerfile's ``ARG`` defaults.
- ``dockerignore_includes``: whether a path of the repository enters the build context.
- ``arguments_of``, ``run_script``, ``copied_sources``: the parts of a Dockerfile the tests
  read; ``assert_runs_as_a_user``, ``assert_installs_the_package_only``,
  ``assert_build_context``: the checks every image passes.
- ``optional_dependencies`` and ``distributions``: what pyproject.toml's extras install.
- ``load_script``: a script of the repository (not part of the ``shared`` package) as a
  module; ``load_check_image`` and ``check_image_arguments``: the check script, and the
  arguments a Dockerfile runs it with, read by the script's own parser;
  ``load_torch_requirements``: the learning image's requirements script.
"""

from __future__ import annotations

import argparse
import fnmatch
import importlib.util
import re
import shlex
import sys
import tomllib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from types import ModuleType
from typing import Any

REPO = Path(__file__).resolve().parents[2]
PYPROJECT = REPO / "pyproject.toml"
DOCKERIGNORE = REPO / ".dockerignore"
CHECK_IMAGE = REPO / "infra" / "web" / "check_image.py"
TORCH_REQUIREMENTS = REPO / "infra" / "learn" / "torch_requirements.py"

Instructions = list[tuple[str, str]]


def dockerfile_instructions(dockerfile: Path) -> Instructions:
    """(INSTRUCTION, arguments) of ``dockerfile``, continuation lines joined."""
    text = re.sub(r"\\\n", " ", dockerfile.read_text())
    found = []
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), " ".join(rest.split())))
    return found


def arguments_of(instructions: Instructions, kind: str) -> list[str]:
    """The arguments of each ``kind`` instruction (``RUN``, ``COPY``), in order."""
    return [rest for found, rest in instructions if found == kind]


def run_script(instructions: Instructions) -> str:
    """Every ``RUN``, joined with ``&&`` in order."""
    return " && ".join(arguments_of(instructions, "RUN"))


def copied_sources(dockerfile: Path) -> set[str]:
    """What the ``COPY`` instructions of ``dockerfile`` copy (their sources)."""
    return {
        source
        for rest in arguments_of(dockerfile_instructions(dockerfile), "COPY")
        for source in rest.split()[:-1]
    }


def build_arguments(dockerfile: Path) -> dict[str, str | None]:
    """``ARG NAME=default`` -> {NAME: default} (None without a default)."""
    found: dict[str, str | None] = {}
    for rest in arguments_of(dockerfile_instructions(dockerfile), "ARG"):
        name, sep, default = rest.partition("=")
        found[name] = default if sep else None
    return found


def assert_runs_as_a_user(instructions: Instructions, start: str) -> None:
    """One ``USER``, not root, before ``start`` (the ENTRYPOINT or CMD that starts the app)."""
    kinds = [kind for kind, _ in instructions]
    (user,) = arguments_of(instructions, "USER")

    assert user not in {"root", "0"}
    assert kinds.index("USER") < kinds.index(start)


def assert_installs_the_package_only(runs: str) -> None:
    """No dev extra, and from site-packages, not the sources (no editable install)."""
    assert "dev" not in runs
    assert "-e " not in runs


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


def assert_build_context(kept: Iterable[str], left_out: Iterable[str] = ()) -> None:
    """Each of ``kept`` enters the build context, none of ``left_out`` does."""
    for path in kept:
        assert dockerignore_includes(path), f"{path} is left out of the build context"
    for path in left_out:
        assert not dockerignore_includes(path), f"{path} enters the build context"


# --- what the extras install ----------------------------------------------------------------


def project() -> dict[str, Any]:
    """pyproject.toml's ``[project]`` table."""
    return tomllib.loads(PYPROJECT.read_text())["project"]


def optional_dependencies() -> dict[str, list[str]]:
    """The extras, by name (none when pyproject.toml declares none)."""
    return project().get("optional-dependencies", {})


def distributions(requirements: Iterable[str]) -> set[str]:
    """The distributions ``requirements`` name, lower-cased (``Pillow>=10`` -> ``pillow``)."""
    return {
        re.split(r"[<>=!~\[; ]", requirement, maxsplit=1)[0].lower() for requirement in requirements
    }


# --- the builds' scripts --------------------------------------------------------------------


def load_script(name: str, path: Path) -> ModuleType:
    """Import the script ``path`` as the module ``name``, once."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while being defined
        spec.loader.exec_module(module)
    return module


def load_check_image() -> ModuleType:
    return load_script("vidcurate_check_image", CHECK_IMAGE)


def load_torch_requirements() -> ModuleType:
    return load_script("vidcurate_torch_requirements", TORCH_REQUIREMENTS)


def check_image_arguments(dockerfile: Path) -> argparse.Namespace:
    """The arguments ``dockerfile`` runs check_image.py with (its one ``python -I
    .../check_image.py ...`` command), ``${ARG}`` references replaced by their defaults, as
    the script itself parses them."""
    runs = run_script(dockerfile_instructions(dockerfile))
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

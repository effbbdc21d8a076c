"""infra/build_function.py: what goes into a function's archive, and that it is deterministic."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from importlib import metadata
from pathlib import Path
from types import ModuleType

import pytest

from shared.catalog import FUNCTIONS

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "build_function.py"


def names_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_dependencies() -> list[str]:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    return [
        re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)
        for requirement in pyproject["project"]["dependencies"]
    ]


@pytest.mark.parametrize("name", [spec.name for spec in FUNCTIONS])
def test_the_archive_holds_the_entry_point_the_shared_package_and_requirements(
    build_function: ModuleType, tmp_path: Path, name: str
) -> None:
    # WHEN
    built = build_function.build_archive(name, tmp_path)

    # THEN
    entries = names_in(built.path)
    assert {"main.py", "shared/__init__.py", "requirements.txt"} <= set(entries)
    with zipfile.ZipFile(built.path) as archive:
        assert archive.read("main.py") == (REPO / "functions" / name / "main.py").read_bytes()
    shared_sources = {
        path.relative_to(REPO).as_posix()
        for path in (REPO / "shared").rglob("*.py")
        if "__pycache__" not in path.parts
    }
    assert shared_sources <= set(entries)
    assert not [entry for entry in entries if "__pycache__" in entry or entry.endswith(".pyc")]
    assert all(
        entry in {"requirements.txt"} or entry.endswith((".py", "py.typed")) for entry in entries
    )
    assert entries == sorted(entries)


def test_requirements_pin_every_direct_dependency_to_the_installed_version(
    build_function: ModuleType, tmp_path: Path
) -> None:
    built = build_function.build_archive(FUNCTIONS[0].name, tmp_path)

    with zipfile.ZipFile(built.path) as archive:
        lines = archive.read("requirements.txt").decode().splitlines()
    pins = {}
    for line in lines:
        if line and not line.startswith("#"):
            requirement, _, version = line.partition("==")
            pins[normalize(requirement.split("[")[0])] = version.split(";")[0].strip()

    for dependency in direct_dependencies():
        assert pins.get(normalize(dependency)) == metadata.version(dependency), dependency


def test_the_same_content_builds_the_same_bytes(build_function: ModuleType, tmp_path: Path) -> None:
    for spec in FUNCTIONS:
        first = build_function.build_archive(spec.name, tmp_path / "first")
        second = build_function.build_archive(spec.name, tmp_path / "second")

        assert first.path.read_bytes() == second.path.read_bytes()
        assert first.md5 == second.md5 == hashlib.md5(first.path.read_bytes()).hexdigest()
        with zipfile.ZipFile(first.path) as archive:
            assert {info.date_time for info in archive.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def copy_project(destination: Path) -> Path:
    """The parts of the repository an archive is built from."""
    destination.mkdir()
    shutil.copy2(REPO / "pyproject.toml", destination / "pyproject.toml")
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    shutil.copytree(REPO / "shared", destination / "shared", ignore=ignore)
    shutil.copytree(REPO / "functions", destination / "functions", ignore=ignore)
    return destination


def test_only_a_change_of_content_changes_the_hash(
    build_function: ModuleType, tmp_path: Path
) -> None:
    # GIVEN a copy of the project and its archive
    root = copy_project(tmp_path / "project")
    name = FUNCTIONS[0].name
    before = build_function.build_archive(name, tmp_path / "out", root).md5

    # WHEN caches appear and files are touched, THEN nothing changes
    cache = root / "shared" / "__pycache__"
    cache.mkdir(exist_ok=True)
    (cache / "config.cpython-311.pyc").write_bytes(b"\x00compiled")
    (root / "shared" / "notes.txt").write_text("not a source file")
    main = root / "functions" / name / "main.py"
    main.touch()
    assert build_function.build_archive(name, tmp_path / "out", root).md5 == before

    # WHEN the entry point changes, THEN the hash does
    main.write_text(main.read_text() + "\n# changed\n")
    assert build_function.build_archive(name, tmp_path / "out", root).md5 != before


def test_the_cli_prints_the_archive_path(tmp_path: Path) -> None:
    names = [spec.name for spec in FUNCTIONS]

    result = subprocess.run(
        [sys.executable, str(SCRIPT), *names, "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )

    printed = [Path(line) for line in result.stdout.splitlines()]
    assert printed == [tmp_path / f"{name}.zip" for name in names]
    assert all(path.is_file() for path in printed)


def test_terraform_mode_answers_path_and_md5(tmp_path: Path) -> None:
    name = FUNCTIONS[0].name
    query = json.dumps({"name": name, "out_dir": str(tmp_path)})

    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--terraform"],
        input=query,
        capture_output=True,
        text=True,
        check=True,
    )

    answer = json.loads(result.stdout)
    assert set(answer) == {"path", "md5"}
    assert all(isinstance(value, str) for value in answer.values())  # data "external" needs strings
    path = Path(answer["path"])
    assert path == tmp_path / f"{name}.zip"
    assert answer["md5"] == hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("flag", [[], ["--terraform"]])
def test_an_unknown_function_fails_with_a_message(tmp_path: Path, flag: list[str]) -> None:
    args = flag or ["no_such_function", "--out", str(tmp_path)]
    query = json.dumps({"name": "no_such_function", "out_dir": str(tmp_path)})

    result = subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        input=query,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 1
    assert "unknown function 'no_such_function'" in result.stderr
    assert not list(tmp_path.iterdir())

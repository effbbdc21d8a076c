"""infra/build_function.py: what goes into a function's archive, and that it is deterministic."""

from __future__ import annotations

import ast
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
from shared.platform.runtime.catalog import FunctionSpec

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "infra" / "build_function.py"


def names_in(path: Path) -> list[str]:
    with zipfile.ZipFile(path) as archive:
        return archive.namelist()


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def direct_dependencies(extras: tuple[str, ...] = ()) -> list[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += project["optional-dependencies"][extra]
    return [
        re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement).group(0)
        for requirement in requirements
    ]


def pinned(path: Path) -> dict[str, str]:
    with zipfile.ZipFile(path) as archive:
        lines = archive.read("requirements.txt").decode().splitlines()
    pins = {}
    for line in lines:
        if line and not line.startswith("#"):
            requirement, _, version = line.partition("==")
            pins[normalize(requirement.split("[")[0])] = version.split(";")[0].strip()
    return pins


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
    # what every function imports, and never the CLI or the demo
    assert {
        "shared/bootstrap.py",
        "shared/catalog.py",
        "shared/config.py",
        "shared/platform/runtime/entrypoint.py",
    } <= set(entries)
    assert not [entry for entry in entries if entry.startswith(("shared/cli/", "shared/demo/"))]
    assert not [entry for entry in entries if "__pycache__" in entry or entry.endswith(".pyc")]
    assert all(
        entry in {"requirements.txt"} or entry.endswith((".py", "py.typed")) for entry in entries
    )
    assert entries == sorted(entries)


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_requirements_pin_the_core_and_the_declared_extras_to_the_installed_versions(
    build_function: ModuleType, tmp_path: Path, spec: FunctionSpec
) -> None:
    pins = pinned(build_function.build_archive(spec.name, tmp_path).path)

    wanted = {normalize(name): name for name in direct_dependencies(spec.extras)}
    assert set(pins) == set(wanted)
    for key, dependency in wanted.items():
        assert pins[key] == metadata.version(dependency), dependency


def test_ping_carries_no_model_sdk_hub_client_or_media_library(
    build_function: ModuleType, tmp_path: Path
) -> None:
    # WHEN the health check's archive is built
    built = build_function.build_archive("ping", tmp_path)

    # THEN neither its requirements nor its modules bring a model SDK, the Hub or PyAV
    pins = pinned(built.path)
    for heavy in ("openai", "google-genai", "huggingface-hub", "httpx2", "av", "pillow"):
        assert heavy not in pins, heavy
    entries = names_in(built.path)
    for module in (
        "shared/adapters/models/openai_provider.py",
        "shared/adapters/models/gemini_provider.py",
        "shared/adapters/hf/publisher.py",
        "shared/llm/client.py",
        "shared/media/decode.py",
    ):
        assert module not in entries, module


def test_a_model_function_carries_the_model_sdks_and_their_adapters(
    build_function: ModuleType, tmp_path: Path
) -> None:
    built = build_function.build_archive("critique_worker", tmp_path)

    assert {"openai", "google-genai"} <= set(pinned(built.path))
    assert "av" not in pinned(built.path)
    assert {
        "shared/adapters/models/openai_provider.py",
        "shared/adapters/models/gemini_provider.py",
        "shared/critiques/worker.py",
        "shared/llm/client.py",
    } <= set(names_in(built.path))


# What a module's import names, and the distribution that provides it.
DISTRIBUTIONS = {
    "google.cloud": ("google-cloud-storage", "google-cloud-pubsub", "google-cloud-firestore"),
    "google.api_core": ("google-cloud-storage",),  # the Google clients' own dependencies
    "requests": ("google-cloud-storage",),
    "google.auth": ("google-cloud-storage",),
    "google.protobuf": ("google-cloud-pubsub",),
    "grpc": ("google-cloud-pubsub",),
    "google.genai": ("google-genai",),
    "openai": ("openai",),
    "huggingface_hub": ("huggingface-hub",),
    "httpx2": ("httpx2",),
    "av": ("av",),
    "PIL": ("pillow",),
    "typer": ("typer",),
    "rich": ("rich",),
    "orjson": ("orjson",),
    "tenacity": ("tenacity",),
    "pydantic": ("pydantic",),
    "pydantic_settings": ("pydantic-settings",),
    "cloudevents": ("cloudevents",),
    "functions_framework": ("functions-framework",),
}


def module_level_imports(source: str) -> set[str]:
    """Third-party modules a file imports when it is imported (not in deferred imports)."""
    names = set()
    for node in ast.parse(source).body:
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "google":
            names |= {f"google.{alias.name}" for alias in node.names}  # a namespace package
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return {name for name in names if not name.startswith(("shared", "__future__"))}


@pytest.mark.parametrize("spec", FUNCTIONS, ids=lambda spec: spec.name)
def test_every_module_in_an_archive_imports_only_what_its_requirements_install(
    build_function: ModuleType, tmp_path: Path, spec: FunctionSpec
) -> None:
    built = build_function.build_archive(spec.name, tmp_path)
    pins = pinned(built.path)

    with zipfile.ZipFile(built.path) as archive:
        for entry in archive.namelist():
            if not entry.endswith(".py"):
                continue
            for name in module_level_imports(archive.read(entry).decode()):
                providers = [
                    dists for prefix, dists in DISTRIBUTIONS.items()
                    if name == prefix or name.startswith(prefix + ".")
                ]  # fmt: skip
                if not providers:
                    assert name.split(".")[0] in sys.stdlib_module_names, (entry, name)
                    continue
                assert any(dist in pins for dist in providers[0]), (entry, name)


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

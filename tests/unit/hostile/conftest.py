"""A small disk for the hostile-input tests: a tmpfs mounted in a private mount namespace
(``unshare -rm``: no root needed where user namespaces are allowed), to fill up or remount
read-only without touching the machine's own file systems."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest


def _namespaces_work(point: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    probe = subprocess.run(
        ["unshare", "-rm", "sh", "-c", f"mount -t tmpfs -o size=1m tmpfs {point}"],
        capture_output=True,
        check=False,
    )
    return probe.returncode == 0


@pytest.fixture
def mount(tmp_path: Path) -> Path:
    """An empty folder a script run by :func:`in_namespace` may mount a tmpfs on."""
    point = tmp_path / "mnt"
    point.mkdir()
    if not _namespaces_work(point):
        pytest.skip("needs `unshare -rm` and tmpfs mounts (user namespaces) to make a full disk")
    return point


def _run_in_namespace(script: str) -> None:
    subprocess.run(["unshare", "-rm", "sh", "-c", script], check=True, timeout=300)


@pytest.fixture
def in_namespace() -> Callable[[str], None]:
    """Runs a shell script in a private user and mount namespace."""
    return _run_in_namespace

"""Folders written whole: staged beside their target, renamed into place once complete."""

from __future__ import annotations

import os
import subprocess
import time

import pytest

from shared.core.errors import AlreadyExistsError, PermanentError
from shared.core.files import StagedFolder, partial_folder, remove_abandoned_folders


def test_a_staged_folder_appears_only_once_committed(tmp_path):
    target = tmp_path / "export_1"

    with StagedFolder(target) as staged:
        staged.write("a.json", b"[1]")
        assert not target.exists()
        assert sorted(p.name for p in (staged.staging).iterdir()) == ["a.json"]
        staged.commit()

    assert [p.name for p in tmp_path.iterdir()] == ["export_1"]
    assert (target / "a.json").read_bytes() == b"[1]"


def stage(target, files, *, interrupt=False, commit=True):
    """Stage ``files`` (name, bytes) for ``target``; Ctrl-C half-way if asked."""
    with StagedFolder(target) as staged:
        for name, data in files:
            staged.write(name, data)
            if interrupt:
                raise KeyboardInterrupt
        if commit:
            staged.commit()


def test_a_failure_before_the_commit_leaves_nothing(tmp_path):
    files = [("a.json", b"[1]"), ("a.json", b"[2]")]  # the second is refused: it exists

    with pytest.raises(PermanentError, match=r"export_1: cannot write it .*nothing was left"):
        stage(tmp_path / "export_1", files)

    assert list(tmp_path.iterdir()) == []


def test_an_interrupted_writer_leaves_nothing(tmp_path):
    with pytest.raises(KeyboardInterrupt):
        stage(tmp_path / "export_1", [("a.json", b"[1]")], interrupt=True)

    assert list(tmp_path.iterdir()) == []


def test_a_folder_is_never_renamed_over_an_existing_one(tmp_path):
    target = tmp_path / "export_1"
    target.mkdir()

    with pytest.raises(AlreadyExistsError):
        stage(target, [("a.json", b"[1]")])

    assert [p.name for p in tmp_path.iterdir()] == ["export_1"]
    assert list(target.iterdir()) == []


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid


def test_only_staged_folders_of_gone_or_old_writers_are_removed(tmp_path):
    dead = partial_folder(tmp_path / "export_a", pid=_dead_pid())
    running = partial_folder(tmp_path / "export_b", pid=os.getppid())
    old = partial_folder(tmp_path / "export_c", pid=os.getppid())
    other = partial_folder(tmp_path / "report_d", pid=_dead_pid())
    for folder in (dead, running, old, other, tmp_path / "export_e"):
        folder.mkdir()
    an_hour_ago = time.time() - 3700
    os.utime(old, (an_hour_ago, an_hour_ago))

    removed = remove_abandoned_folders(tmp_path, "export_")

    assert sorted(removed) == sorted([dead, old])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [running.name, other.name, "export_e"]
    )
    assert remove_abandoned_folders(tmp_path / "missing", "export_") == []

"""``kill -9`` and a full disk during ``vidcurate export`` never leave a half-written export
that looks finished, locally or in the bucket, and never one that critiques would pay for.

The kills run in ``export_kill_driver.py`` (a process that imports the CLI once and forks
each ``vidcurate export``, so that the kills land in the export's work, not in Python's
start-up). The disk-full cases put the export folder, or the home, on a small tmpfs mounted
in a private mount namespace (``unshare -rm``), as test_storage_full_or_read_only does.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from captions_support import captured_events, watch

from shared.bootstrap import build_context
from shared.captions.ingest import ingest_event
from shared.captions.messages import export_path
from shared.config import Settings
from shared.demo.campaign import generate_campaign
from shared.llm.ledger import summarize_costs

DRIVER = Path(__file__).with_name("export_kill_driver.py")
VIDCURATE = Path(sys.executable).with_name("vidcurate")
REPO = Path(__file__).resolve().parents[3]

KILLS = 20
LANES = 2  # homes killed in parallel, KILLS / LANES kills each
SEED = 13
ANNOTATIONS = "vidcurate-annotations"
LEASE_SECONDS = "2"  # short, so that claims of killed exports are taken over during the test


def ingested_home(home: Path, campaign: Path, videos: int) -> Path:
    """A home holding a generated campaign of ``videos`` videos, ingested. The files are
    dropped into the bucket folder as another program would (one scan registers and
    announces them: no upload per file), and their events handed to ingest directly."""
    generate_campaign(campaign, videos=videos, seed=3, include_bad_files=False)
    services = build_context(Settings(home=home, log_level="CRITICAL"))
    try:
        watch(services)
        shutil.copytree(campaign, home / "buckets" / ANNOTATIONS / "default")
        services.blobs.scan()
        for event in captured_events(services):
            ingest_event(services, event)
    finally:
        services.close()
    return home


def cli(home: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VIDCURATE), "--home", str(home), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def error_lines(text: str) -> list[str]:
    assert "Traceback" not in text, text[-3000:]
    return [line for line in text.splitlines() if line.strip()]


# Kills land at fractions of an export's time measured at the start: on the worker that runs
# the CPU-bound training tests, never beside one (a core taken midway skews every kill).
pytestmark = pytest.mark.xdist_group("torch")


@pytest.fixture(scope="module")
def killed_runs(tmp_path_factory):
    """Per lane (a copy of one ingested home): its home, and the driver's report: one line
    per kill, then the final state and an incomplete export left by a kill right after its
    all_videos_with_captions file landed."""
    work = tmp_path_factory.mktemp("kills")
    # Big enough that an export takes about half a second here (22 MiB of JSON at 1,000
    # videos), small enough to ingest in a few seconds.
    home = ingested_home(work / "home", work / "campaign", videos=700)
    env = {**os.environ, "VIDCURATE_EXPORT_LEASE_SECONDS": LEASE_SECONDS, "PYTHONPATH": str(REPO)}
    drivers = []
    for lane in range(LANES):
        lane_dir = work / f"lane{lane}"
        shutil.copytree(home, lane_dir / "home")
        argv = [sys.executable, str(DRIVER), str(lane_dir / "home"), str(lane_dir / "out"),
                str(KILLS // LANES), str(SEED + lane), str(lane_dir)]  # fmt: skip
        driver = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=lane_dir
        )
        drivers.append(driver)
    lanes = []
    for lane, driver in enumerate(drivers):
        stdout, stderr = driver.communicate(timeout=240)
        assert driver.returncode == 0, stderr[-3000:]
        lanes.append((work / f"lane{lane}" / "home", [json.loads(x) for x in stdout.splitlines()]))
    yield lanes
    shutil.rmtree(work, ignore_errors=True)  # a gigabyte of homes: not kept to the session's end


def test_every_kill_leaves_no_unfinished_export_in_sight_and_the_next_one_succeeds(killed_runs):
    rounds = []
    for _home, (measured, *killed, final, incomplete) in killed_runs:
        assert measured["exit"] == 0
        assert 0.2 < measured["measured_seconds"] < 5
        rounds += killed
        # Claims of killed exports were taken over while the lane ran.
        assert final["after_final"]["states"].get("abandoned", 0) >= 1
        # Once the leases ran out, the next export left no claim writing, no object outside
        # a finished export and no staged folder.
        assert final["final_exit"] == 0
        assert final["after_final"]["problems"] == []
        assert "writing" not in final["after_final"]["states"]
        assert final["after_final"]["unfinished_with_objects"] == []
        assert final["after_final"]["hidden"] == []
        assert incomplete["incomplete"] is not None
    assert len(rounds) == KILLS
    # Most kills land in the middle of the export (the delays span its duration).
    assert sum(r["killed"] == "killed" for r in rounds) >= KILLS // 2
    for line in rounds:
        after_kill, after_next = line["after_kill"], line["after_next"]
        # THEN what a reader sees after the kill: nothing unfinished that it would take
        assert after_kill["problems"] == [], line
        # AND the next export succeeds, is visible, whole, and cleared what was left behind
        assert line["next_exit"] == 0, line
        assert after_next["problems"] == [], line
        assert line["next"]["folder"] in after_next["local"]
        assert after_next["hidden"] == [], line  # staged folders of killed writers removed
        # A claim whose lease had run out when the next export started was taken over.
        assert not set(after_kill["stuck"]) & set(after_next["writing"]), line


def test_critiques_run_refuses_an_incomplete_export_without_a_model_call(killed_runs):
    home, lines = killed_runs[0]
    folder = lines[-1]["incomplete"]
    services = build_context(Settings(home=home, log_level="CRITICAL"))
    try:
        claim = services.documents.get(export_path(folder))
        names = [i.name for i in services.blobs.list(services.settings.exports_bucket, folder)]
    finally:
        services.close()
    # GIVEN an export killed after its all_videos_with_captions file (what critiques read)
    assert claim is not None
    assert claim.data["state"] == "writing"
    assert any("all_videos_with_captions_" in name for name in names)

    # WHEN critiques are asked for it
    done = cli(home, "critiques", "run", "--export-folder", folder)

    # THEN exit 1, one line, and no model call
    assert done.returncode == 1, done.stdout + done.stderr
    (line,) = error_lines(done.stderr)
    assert line.startswith(f"error: {folder} is incomplete (its writer stopped before finishing")
    assert line.endswith("run `vidcurate export` again")
    services = build_context(Settings(home=home, log_level="CRITICAL"))
    try:
        assert summarize_costs(services.documents).calls == 0
        assert services.documents.get(f"critique_runs/{folder}") is None
    finally:
        services.close()


# --- a full disk ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_home(tmp_path_factory):
    """A home with a campaign whose export takes a few MiB."""
    work = tmp_path_factory.mktemp("small")
    return ingested_home(work / "home", work / "campaign", videos=120)


def _exports(home: Path) -> tuple[dict[str, str], list[str]]:
    """``folder -> state`` of every export claim, and every object of the exports bucket."""
    services = build_context(Settings(home=home, log_level="CRITICAL"))
    try:
        states = {d.id: d.data["state"] for d in services.documents.iter_collection("exports")}
        objects = [i.name for i in services.blobs.list(services.settings.exports_bucket)]
    finally:
        services.close()
    return states, objects


def test_a_full_export_dir_leaves_no_folder_and_no_export(
    tmp_path, mount, small_home, in_namespace
):
    # GIVEN an --export-dir on a disk too small for the export
    out, listing = tmp_path / "export.txt", tmp_path / "listing.txt"

    # WHEN the export runs
    in_namespace(
        f"mount -t tmpfs -o size=1m tmpfs {mount} && "
        f"{VIDCURATE} --home {small_home} export --ignore-errors --export-dir {mount}/out "
        f"> {out} 2>&1; echo $? > {out}.rc; ls -A {mount}/out > {listing}"
    )

    # THEN exit 1 with one line naming the folder and the full disk
    assert (tmp_path / "export.txt.rc").read_text().strip() == "1"
    (line,) = error_lines(out.read_text())
    assert line.startswith(f"error: {mount}/out/export_")
    assert "No space left on device" in line or "the disk is full" in line
    # AND nothing is left in the folder (no export, no staged folder) nor in the bucket
    assert listing.read_text() == ""
    states, objects = _exports(small_home)
    assert objects == []
    assert set(states.values()) == {"abandoned"}


def test_a_full_home_leaves_no_half_written_export_in_the_bucket(
    tmp_path, mount, small_home, in_namespace
):
    # GIVEN the home on a disk with 2 MiB left: room for the first file of the export
    # (1.3 MiB), not for the second
    copy, out = tmp_path / "copy", tmp_path / "export.txt"

    # WHEN the export runs (its local folder on a disk with room)
    in_namespace(
        f"mount -t tmpfs -o size=64m tmpfs {mount} && cp -a {small_home} {mount}/home && "
        f"fallocate -l $(( $(df --output=avail -B1 {mount} | tail -1) - (2 << 20) )) "
        f"{mount}/filler && "
        f"{VIDCURATE} --home {mount}/home export --ignore-errors --export-dir {tmp_path}/out "
        f"> {out} 2>&1; echo $? > {out}.rc; rm {mount}/filler; cp -a {mount}/home {copy}"
    )

    # THEN exit 1 with one line, and no half-written export anywhere
    assert (tmp_path / "export.txt.rc").read_text().strip() == "1"
    (line,) = error_lines(out.read_text())
    assert line.startswith("error: ")
    assert "No space left on device" in line or "the disk is full" in line
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []
    states, objects = _exports(copy)
    assert objects == []
    assert "written" not in states.values()

"""Hostile files in local bucket folders and in campaign folders given to ``vidcurate ingest``.

Each case is dropped as another program (or a careless user) would: a link to a file outside
the home, a link to /etc/passwd, a link to a folder outside, a FIFO, a name that is not
UTF-8, a name with a newline, a name over 1,024 bytes, a 1 GiB sparse file. Every one must be
refused or quarantined with its reason where the user can see it, nothing it points at may
be read or published, ``serve --until-idle`` and ``ingest`` must return within their bound,
and everything else in the drop must be processed as if the hostile files were not there.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hubfake import DEFAULT_TOKEN, FakeHub, hub_server_fixture  # noqa: F401 (fixture hub_server)
from typer.testing import CliRunner

from shared.adapters.local import build_local_services
from shared.bootstrap import use_context
from shared.cli.main import app
from shared.config import Settings
from shared.core.errors import NotFoundError, PermanentError
from shared.demo.campaign import generate_campaign

runner = CliRunner()

SECRET = b"HOSTILE-TEST-SECRET-5b1e0c: HF_TOKEN=hf_never_published"
ANNOTATIONS = "vidcurate-annotations"
EXPORTS = "vidcurate-exports"
TASKS = ("subject", "scene", "motion", "spatial", "camera")
GIB = 1 << 30
BOUND_S = 120  # what a run may take here; a wedged one runs until its own timeout


@pytest.fixture(autouse=True)
def _forget_services():
    yield
    use_context(None)


def cli(home: Path, *args: str, env: dict[str, str] | None = None) -> str:
    result = runner.invoke(app, ["--home", str(home), *args], env={"COLUMNS": "250", **(env or {})})
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    return result.output


def ingest_bounded(home: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    """``vidcurate ingest`` as a user runs it, killed (and failed) past the bound: its own
    timeout is an hour, which a wedged run would wait out."""
    vidcurate = str(Path(sys.executable).with_name("vidcurate"))
    result = subprocess.run(
        [vidcurate, "--home", str(home), "ingest", str(folder)],
        capture_output=True,
        text=True,
        timeout=BOUND_S,
        env={**os.environ, "COLUMNS": "250"},
        check=False,
    )
    assert "Traceback" not in result.stdout + result.stderr
    return result


# --- the drop -------------------------------------------------------------------------------


def outside_files(tmp_path: Path) -> tuple[Path, Path]:
    """A secret file and a folder holding another, both outside any home or campaign."""
    secrets = tmp_path / "outside"
    (secrets / "folder").mkdir(parents=True)
    (secrets / ".env").write_bytes(SECRET)
    (secrets / "folder" / "v1_feedback.json").write_bytes(SECRET)
    return secrets / ".env", secrets / "folder"


def open_slot(campaign: Path) -> tuple[str, str]:
    """A registered video and a task of it with no file at all (a not-completed slot)."""
    listed = [
        json.loads(line)["video_id"]
        for path in sorted((campaign / "videos").glob("*.jsonl"))
        for line in path.read_text().splitlines()
        if line.strip()
    ]
    for video_id in listed:
        for task in TASKS:
            if not list((campaign / task).glob(f"{video_id}_*.json")):
                return video_id, task
    raise AssertionError("the generated campaign has no open slot")


def drop_hostile_files(folder: Path, secret: Path, secret_folder: Path, sparse: str) -> dict:
    """Every hostile case under ``folder`` (a campaign's root, or its place in the bucket);
    returns each case's name fragment and the reason the user must be shown."""
    (folder / "subject" / "vlink_feedback.json").symlink_to(secret)
    (folder / "scene" / "vpasswd_review.json").symlink_to("/etc/passwd")
    (folder / "linked").symlink_to(secret_folder, target_is_directory=True)
    os.mkfifo(folder / "motion" / "vfifo_feedback.json")
    not_utf8 = os.fsencode(folder / "videos") + b"/bad\xff.jsonl"
    with open(not_utf8, "wb") as handle:
        handle.write(b'{"video_id": "vid_bad", "video_url": "https://example.com/bad.mp4"}\n')
    (folder / "camera" / "new\nline_feedback.json").write_text("{}")
    deep = folder.joinpath(*["d" * 240] * 5)  # each part fits a file system, the whole not
    deep.mkdir(parents=True)
    (deep / "vlong_feedback.json").write_text("{}")
    with open(folder / sparse, "wb") as handle:
        handle.truncate(GIB)  # sparse: nothing written
    return {
        "vlink_feedback.json": "symbolic link",
        "vpasswd_review.json": "symbolic link",
        "linked": "symbolic link",
        "vfifo_feedback.json": "named pipe",
        "bad\\xff.jsonl": "not valid UTF-8",
        "new\\nline_feedback.json": "control character",
        "ddd": "1,024",
    }


def campaign_with_slot(tmp_path: Path) -> tuple[Path, str]:
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=20, seed=11, include_bad_files=False)
    video_id, task = open_slot(campaign)
    return campaign, f"{task}/{video_id}_feedback.json"


def captions_of(home: Path) -> dict:
    status = json.loads(cli(home, "status", "--json"))
    (default,) = [c for c in status["captions"] if c["config_type"] == "default"]
    return default


def leaked_bytes(*folders: Path) -> list[str]:
    """Files under ``folders`` (regular ones only, links never followed) that hold the secret
    or /etc/passwd's first line: the SQLite stores, bucket objects and exports included."""
    passwd = Path("/etc/passwd").read_bytes().splitlines()[0]
    leaks = []
    for folder in folders:
        for root, _dirs, files in os.walk(folder):
            for name in files:
                path = Path(root) / name
                if not stat.S_ISREG(path.lstat().st_mode):
                    continue
                with path.open("rb") as handle:
                    if SECRET in (data := handle.read(64 << 20)) or passwd in data:
                        leaks.append(str(path))
    return leaks


def refused_rows(home: Path) -> list[dict]:
    return [row for row in json.loads(cli(home, "quarantine", "--json")) if row["refused"]]


def assert_each_case_refused_with_why(rows: list[dict], cases: dict, where: str) -> None:
    for fragment, why in cases.items():
        matching = [row for row in rows if fragment in row["name"]]
        assert matching, f"{fragment} is not listed as refused in {where}: {rows}"
        assert all(why in row["error"] for row in matching), matching


# --- bucket folders -------------------------------------------------------------------------


def test_hostile_files_in_a_bucket_folder_are_refused_and_the_rest_is_ingested(tmp_path):
    # GIVEN a campaign ingested into a clean home, for comparison
    campaign, sparse = campaign_with_slot(tmp_path)
    clean = tmp_path / "clean"
    cli(clean, "ingest", str(campaign))
    expected = captions_of(clean)
    # AND the same campaign dropped by hand into another home's bucket folder, with every
    # hostile case beside it
    secret, secret_folder = outside_files(tmp_path)
    home = tmp_path / "home"
    folder = home / "buckets" / ANNOTATIONS / "default"
    shutil.copytree(campaign, folder)
    cases = drop_hostile_files(folder, secret, secret_folder, sparse)

    # WHEN the runtime serves until idle (bounded: a wedged run fails at its timeout)
    served = cli(home, "serve", "--until-idle", "--timeout", str(BOUND_S))

    # THEN everything else is ingested as in the clean home; the sparse file, a valid name
    # and a regular file, is hashed in streaming and quarantined as too large
    assert "handled" in served
    got = captions_of(home)
    assert got["tasks"] == expected["tasks"]
    assert got["registered_videos"] == expected["registered_videos"]
    assert got["quarantined_files"] == expected["quarantined_files"] + 1
    listed = json.loads(cli(home, "quarantine", "--json"))
    (oversized,) = [row for row in listed if not row["refused"]]
    assert oversized["name"] == f"default/{sparse}"
    assert "larger than" in oversized["error"]
    # AND each other case is refused with its reason, where the user looks
    assert_each_case_refused_with_why(refused_rows(home), cases, "the bucket folder")
    assert json.loads(cli(home, "status", "--json"))["refused_files"] == len(refused_rows(home))
    assert "refused in bucket folders" in cli(home, "status")
    shown = cli(home, "quarantine")
    assert "refused in bucket folders" in shown
    assert "bad\\xff.jsonl" in shown
    # AND status and ingest still run, and the export and the stores hold nothing linked
    exported = tmp_path / "exported"
    cli(home, "export", "--ignore-errors", "--export-dir", str(exported))
    again = ingest_bounded(home, campaign)
    assert again.returncode == 0, again.stderr
    assert leaked_bytes(home, exported) == []


def test_a_link_in_a_bucket_folder_never_keeps_a_run_from_going_idle(tmp_path):
    # GIVEN a link and a FIFO in a bucket folder
    secret, _folder = outside_files(tmp_path)
    blobs, _documents, _bus = build_local_services(Settings(home=tmp_path / "home"))
    bucket = blobs.root / ANNOTATIONS
    bucket.mkdir(parents=True)
    (bucket / "link.json").symlink_to(secret)
    os.mkfifo(bucket / "pipe.json")

    # WHEN the folders are scanned again and again (as serve does every half second)
    scans = [blobs.scan(settle_seconds=0.5) for _ in range(3)]

    # THEN nothing is found and nothing deferred: idle can be reached
    assert scans == [[], [], []]
    assert blobs.deferred_files == 0
    assert list(blobs.list(ANNOTATIONS)) == []


def test_each_refused_file_is_logged_once(tmp_path, caplog):
    secret, _folder = outside_files(tmp_path)
    blobs, _documents, _bus = build_local_services(Settings(home=tmp_path / "home"))
    (blobs.root / "bk").mkdir()
    (blobs.root / "bk" / "link.json").symlink_to(secret)

    with caplog.at_level("WARNING", logger="vidcurate.blobstore"):
        for _ in range(3):
            blobs.scan()
            list(blobs.list("bk"))

    refused = [r for r in caplog.records if "refused gs://bk/link.json" in r.getMessage()]
    assert len(refused) == 1
    assert [(f.bucket, f.name) for f in blobs.refused_files()] == [("bk", "link.json")]
    # AND the record goes once the file does
    (blobs.root / "bk" / "link.json").unlink()
    assert blobs.refused_files() == []


@pytest.mark.parametrize("swap", ["link", "fifo"])
def test_a_link_or_fifo_swapped_in_for_a_registered_object_is_refused_without_blocking(
    tmp_path, swap
):
    # GIVEN a registered object whose file is then replaced by a link or a FIFO
    secret, _folder = outside_files(tmp_path)
    blobs, _documents, _bus = build_local_services(Settings(home=tmp_path / "home"))
    info = blobs.write("bk", "a/b.json", b"{}")
    path = blobs.root / "bk" / "a" / "b.json"
    path.unlink()
    if swap == "link":
        path.symlink_to(secret)
    else:
        os.mkfifo(path)
    outcomes: list[object] = []

    def read_all() -> None:
        for read in (
            lambda: blobs.read("bk", "a/b.json"),
            lambda: blobs.read("bk", "a/b.json", generation=info.generation),
            lambda: blobs.open_read("bk", "a/b.json").__enter__().read(),
            lambda: blobs.stat("bk", "a/b.json"),
        ):
            try:
                outcomes.append(read())
            except NotFoundError as exc:
                outcomes.append(exc)

    # WHEN it is read every way the port allows (in a thread: a FIFO must never block)
    reader = threading.Thread(target=read_all, daemon=True)
    reader.start()
    reader.join(timeout=30)

    # THEN every read is refused, none blocked, and the next scan announces the deletion
    assert not reader.is_alive(), "a read blocked on the file"
    assert len(outcomes) == 4
    assert all(isinstance(outcome, NotFoundError) for outcome in outcomes), outcomes
    assert not blobs.exists("bk", "a/b.json")
    blobs.scan()
    assert [f.name for f in blobs.refused_files("bk")] == ["a/b.json"]
    assert list(blobs.list("bk")) == []


def test_a_linked_folder_in_a_bucket_is_never_read_nor_written_through(tmp_path):
    secret, secret_folder = outside_files(tmp_path)
    blobs, _documents, _bus = build_local_services(Settings(home=tmp_path / "home"))
    (blobs.root / "bk").mkdir()
    (blobs.root / "bk" / "linked").symlink_to(secret_folder, target_is_directory=True)

    with pytest.raises(NotFoundError, match="symbolic link"):
        blobs.read("bk", "linked/v1_feedback.json")
    with pytest.raises(NotFoundError):
        blobs.stat("bk", "linked/v1_feedback.json")
    with pytest.raises(PermanentError, match="symbolic link"):
        blobs.write("bk", "linked/new.json", b"{}")

    assert sorted(p.name for p in secret_folder.iterdir()) == ["v1_feedback.json"]
    assert list(blobs.list("bk")) == []
    assert secret.read_bytes() == SECRET


def test_a_link_in_an_export_folder_is_never_published_to_the_hub(tmp_path, hub_server):
    # GIVEN an export in the exports bucket, and links to a key file, to /etc/passwd and to
    # a folder outside placed inside its folder, beside a FIFO
    hub: FakeHub = hub_server
    secret, secret_folder = outside_files(tmp_path)
    home = tmp_path / "home"
    campaign, _sparse = campaign_with_slot(tmp_path)
    cli(home, "ingest", str(campaign))
    export = json.loads(cli(home, "export", "--ignore-errors", "--export-dir",
                            str(tmp_path / "out"), "--json"))  # fmt: skip
    folder = home / "buckets" / EXPORTS / export["folder"]
    (folder / ".env").symlink_to(secret)
    (folder / "passwd.json").symlink_to("/etc/passwd")
    (folder / "extra").symlink_to(secret_folder, target_is_directory=True)
    os.mkfifo(folder / "pipe.json")
    env = {"VIDCURATE_HF_ENDPOINT": hub.endpoint, "HF_TOKEN": DEFAULT_TOKEN}
    request = json.dumps({"folder": export["folder"], "repo_id": "acme/clips"})

    # WHEN the folder is published through the runtime
    cli(home, "publish", "hub-uploads", request)
    cli(home, "serve", "--until-idle", "--timeout", str(BOUND_S), env=env)

    # THEN the one commit holds the export's files and the card, nothing linked
    repo = hub.repo("acme/clips")
    (commit,) = repo.commits
    assert sorted(commit.paths) == sorted(
        [*(f"{export['folder']}/{name}" for name in export["files"]), "README.md"]
    )
    passwd = Path("/etc/passwd").read_bytes().splitlines()[0]
    assert not any(SECRET in data or passwd in data for data in repo.files.values())
    refused = {row["name"] for row in refused_rows(home) if row["bucket"] == EXPORTS}
    assert {f"{export['folder']}/{n}" for n in (".env", "passwd.json", "extra", "pipe.json")} <= (
        refused
    )


# --- campaign folders -----------------------------------------------------------------------


def test_hostile_files_in_a_campaign_folder_are_refused_and_the_rest_is_uploaded(tmp_path):
    # GIVEN a campaign ingested into a clean home, for comparison
    campaign, sparse = campaign_with_slot(tmp_path)
    clean = tmp_path / "clean"
    cli(clean, "ingest", str(campaign))
    expected = captions_of(clean)
    # AND the same campaign with every hostile case in it
    secret, secret_folder = outside_files(tmp_path)
    cases = drop_hostile_files(campaign, secret, secret_folder, sparse)
    cases[sparse.rpartition("/")[2]] = "over the 262,144-byte limit"

    # WHEN it is ingested into a new home (bounded: a wedged run is killed and fails)
    home = tmp_path / "home"
    result = ingest_bounded(home, campaign)

    # THEN the run succeeds and says why each hostile file was refused, in one line each
    assert result.returncode == 0, result.stderr
    output = result.stdout
    assert f"{len(cases)} file(s) refused (never uploaded)" in output
    lines = output.splitlines()
    for fragment, why in cases.items():
        (line,) = [line for line in lines if fragment in line and "•" in line]
        assert why in line, line
    # AND everything else is ingested as in the clean home; nothing hostile reached the bucket
    got = captions_of(home)
    assert got["tasks"] == expected["tasks"]
    assert got["registered_videos"] == expected["registered_videos"]
    assert got["quarantined_files"] == expected["quarantined_files"]
    bucket = home / "buckets" / ANNOTATIONS
    assert not (bucket / "default" / sparse).exists()
    assert all(
        stat.S_ISREG(path.lstat().st_mode) and path.lstat().st_size < (1 << 20)
        for path in bucket.rglob("*")
        if not path.is_dir()
    )
    assert refused_rows(home) == []
    assert leaked_bytes(home) == []

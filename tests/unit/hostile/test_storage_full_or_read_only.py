"""A full disk and a read-only home end a command in one line saying so, never a traceback.

The home lives on a small tmpfs mounted in a private mount namespace (``unshare -rm``: no
root needed where user namespaces are allowed), filled up or remounted read-only there.
"""

from __future__ import annotations

import sys
from pathlib import Path

from shared.demo.campaign import generate_campaign

VIDCURATE = Path(sys.executable).with_name("vidcurate")


def _one_clear_line(path: Path) -> str:
    text = path.read_text()
    assert "Traceback" not in text, text[-3000:]
    errors = [line for line in text.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, text[-3000:]
    return errors[0]


def test_a_full_disk_ends_ingest_in_one_line(tmp_path, mount, in_namespace):
    # GIVEN a campaign several times bigger than the disk under the home
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=200, seed=3)
    out = tmp_path / "ingest.txt"

    # WHEN it is ingested there
    in_namespace(
        f"mount -t tmpfs -o size=1m tmpfs {mount} && "
        f"{VIDCURATE} --home {mount}/home ingest {campaign} > {out} 2>&1; echo $? > {out}.rc"
    )

    # THEN the command fails (exit 1) saying the disk is full
    assert (tmp_path / "ingest.txt.rc").read_text().strip() == "1"
    assert "the disk is full" in _one_clear_line(out)


def test_a_read_only_home_is_one_line(tmp_path, mount, in_namespace):
    # GIVEN a home that was written, then remounted read-only
    status, publish = tmp_path / "status.txt", tmp_path / "publish.txt"
    home = mount / "home"

    # WHEN status is asked and a message published there
    in_namespace(
        f"mount -t tmpfs -o size=20m tmpfs {mount} && "
        f"{VIDCURATE} --home {home} publish ping first > /dev/null 2>&1 && "
        f"mount -o remount,ro {mount} && "
        f"{VIDCURATE} --home {home} status > {status} 2>&1; echo $? > {status}.rc; "
        f"{VIDCURATE} --home {home} publish ping second > {publish} 2>&1; echo $? > {publish}.rc"
    )

    # THEN each says the home cannot be written, in one line (exit 1)
    for output in (status, publish):
        assert Path(f"{output}.rc").read_text().strip() == "1", output.read_text()
        assert "read-only" in _one_clear_line(output)

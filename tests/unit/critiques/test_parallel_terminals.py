"""Seven ``vidcurate critiques run --critique-type T`` commands started at once on one home,
as users start them in seven terminals: the export is consolidated once, with all seven
types, by whichever finishes last, and the Hub gets exactly one commit of that file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hubfake import DEFAULT_TOKEN, hub_server_fixture  # noqa: F401 (fixture hub_server)

from shared.captions.export import run_export
from shared.captions.messages import ExportRequest
from shared.critiques.status import status_report
from shared.critiques.types import CRITIQUE_TYPES

VIDCURATE = str(Path(sys.executable).with_name("vidcurate"))


def test_seven_commands_in_parallel_consolidate_and_commit_once(services, hub_server):
    folder = run_export(services, ExportRequest(ignore_errors=True), request_id="x").folder
    home = str(services.settings.home)
    env = {
        **os.environ,
        "HF_ENDPOINT": hub_server.endpoint,
        "HF_TOKEN": DEFAULT_TOKEN,
        "VIDCURATE_HF_DATASET": "team/captions",
        "VIDCURATE_MIN_BACKOFF_SECONDS": "0.01",
        "VIDCURATE_MAX_BACKOFF_SECONDS": "0.2",
        "COLUMNS": "200",
    }

    # WHEN the seven types are started at the same moment, one process each
    command = [VIDCURATE, "--home", home, "critiques", "run", "--export-folder", folder]
    procs = {
        name: subprocess.Popen(
            [*command, "--critique-type", name],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for name in CRITIQUE_TYPES
    }
    outputs = {name: proc.communicate(timeout=600)[0] for name, proc in procs.items()}

    # THEN each succeeded; exactly one consolidated file, holding all seven types
    for name, proc in procs.items():
        assert proc.returncode == 0, outputs[name]
        assert "Traceback" not in outputs[name]
    bucket = services.settings.exports_bucket
    files = [i.name for i in services.blobs.list(bucket, f"{folder}/")
             if "all_videos_with_captions_and_critiques_" in i.name]  # fmt: skip
    assert len(files) == 1
    entries = json.loads(services.blobs.read(bucket, files[0]))
    reviewed = [c for e in entries for c in e["captions"].values()
                if c["status"] in ("approved", "rejected")]  # fmt: skip
    assert reviewed
    assert all(set(CRITIQUE_TYPES) <= set(caption) for caption in reviewed)
    assert status_report(services, folder)["waiting_for"] == {}
    # ... one Hub commit with that file, and no other commit of a consolidated file
    repo = hub_server.repo("team/captions")
    consolidated = [c for c in repo.commits
                    if any("_and_critiques_" in p for p in c.paths)]  # fmt: skip
    assert len(consolidated) == 1
    committed = {p.rsplit("/", 1)[-1] for p in consolidated[0].paths}
    assert files[0].rsplit("/", 1)[-1] in committed  # (with the dataset card)
    # the runs that finished while others were missing said what they waited for
    said_waiting = [name for name, out in outputs.items() if "waiting for:" in out]
    said_done = [name for name, out in outputs.items() if "consolidated:" in out]
    assert said_done
    assert len(said_waiting) + len(said_done) >= len(CRITIQUE_TYPES)

"""``vidcurate labels``: invitations, queues, status and exports on a home with sampled
clips; mistakes are one line."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from labelling_support import add_sampled_clips, label_first
from typer.testing import CliRunner

from shared.bootstrap import build_context
from shared.cli.main import app
from shared.config import Settings
from shared.learning import Labelling, annotator_by_token

runner = CliRunner()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    """A home with 3 clips of 3 sampled frames."""
    home = tmp_path / "home"
    services = build_context(Settings(_env_file=None, home=home, log_level="CRITICAL"))
    try:
        add_sampled_clips(services, 3, 3, images=False)
    finally:
        services.close()
    return home


def invoke(home: Path, *args: str):
    return runner.invoke(app, ["--home", str(home), *args])


def _context(home: Path):
    return build_context(Settings(_env_file=None, home=home, log_level="CRITICAL"))


def test_invite_prints_a_personal_link_whose_token_signs_in(home):
    result = invoke(home, "labels", "invite", "ana", "--url", "http://lab.example:9000/")
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert link.startswith("http://lab.example:9000/signin#")
    services = _context(home)
    try:
        found = annotator_by_token(services.documents, link.split("#", 1)[1])
    finally:
        services.close()
    assert found is not None
    assert found.name == "ana"
    assert not found.admin


def test_queue_lists_the_frames_in_order_labelled_or_not(home):
    assert invoke(home, "labels", "invite", "ana").exit_code == 0
    services = _context(home)
    try:
        labelling = Labelling(services)
        queue = labelling.queue("ana")
        labelling.answer("ana", position=1, frame_id=queue.frame_ids[1],
                         queue_version=queue.version, revision=0,
                         classes={"perspective": "overhead", "distance": "far"})  # fmt: skip
    finally:
        services.close()
    text = invoke(home, "labels", "queue", "ana", "--limit", "3")
    assert text.exit_code == 0, text.output
    rows = [line.split("\t") for line in text.stdout.splitlines()]
    assert [r[1] for r in rows] == queue.frame_ids[:3]
    assert [r[2] for r in rows] == ["-", "labelled", "-"]
    data = json.loads(invoke(home, "labels", "queue", "ana", "--json").stdout)
    assert data["total"] == 9
    assert data["queue_version"] == queue.version
    assert [f["frame"] for f in data["frames"]] == queue.frame_ids
    assert [f["position"] for f in data["frames"]] == list(range(9))


def test_status_and_export_after_two_annotators(home):
    for name in ("ana", "ben"):
        assert invoke(home, "labels", "invite", name).exit_code == 0
    services = _context(home)
    try:
        labelling = Labelling(services)
        for name, far in (("ana", "far"), ("ben", "close")):
            label_first(labelling, name, 5, {"perspective": "overhead", "distance": far})
    finally:
        services.close()
    status = json.loads(invoke(home, "labels", "status", "--json").stdout)
    assert [(a["annotator"], a["labelled"], a["total"]) for a in status["annotators"]] == [
        ("ana", 5, 9),
        ("ben", 5, 9),
    ]
    assert "ana|ben" in status["agreement"]["distance"]["pairwise"]
    table = invoke(home, "labels", "status")
    assert table.exit_code == 0
    assert "Agreement: distance" in table.stdout
    out = home.parent / "labels.csv"
    written = invoke(home, "labels", "export", "--out", str(out))
    assert written.exit_code == 0, written.output
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert len(rows) == 10
    assert {r["distance"] for r in rows} == {"far", "close"}
    lines = invoke(home, "labels", "export", "--format", "jsonl").stdout.splitlines()
    assert len(lines) == 10
    assert json.loads(lines[0])["perspective"] == "overhead"


@pytest.mark.parametrize(
    ("args", "code", "words"),
    [
        (("labels", "invite", "bad name"), 2, "annotator name 'bad name'"),
        (("labels", "invite", "ana", "--email", "nope"), 2, "not an e-mail"),
        (("labels", "queue", "zed"), 1, "unknown annotator 'zed'"),
        (("labels", "queue", "ana", "--limit", "0"), 2, "--limit"),
        (("labels", "export", "--format", "xml"), 2, "--format"),
    ],
)
def test_mistakes_are_one_line(home, args, code, words):
    result = invoke(home, *args)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert "Traceback" not in result.output


def test_export_to_a_folder_is_refused(home, tmp_path):
    result = invoke(home, "labels", "export", "--out", str(tmp_path))
    assert result.exit_code == 2
    assert "is a folder" in result.output


def test_a_bad_label_schema_is_one_line(home, monkeypatch):
    monkeypatch.setenv("VIDCURATE_LABEL_SCHEMA", '{"tasks": {"perspective": ["only"]}}')
    result = invoke(home, "labels", "status")
    assert result.exit_code == 2
    assert "at least 2 classes" in result.output

"""The `vidcurate` CLI, driven as a user would, through typer's runner."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from shared.bootstrap import use_services
from shared.cli.main import app

runner = CliRunner()


@pytest.fixture(autouse=True)
def _forget_services():
    yield
    use_services(None)


def run(home, *args):
    result = runner.invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command",
    [[], ["serve"], ["status"], ["demo"], ["publish"], ["dlq"], ["dlq", "list"], ["dlq", "replay"]],
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_demo_runs_end_to_end_and_reports_what_happened(tmp_path):
    output = run(tmp_path, "demo", "--messages", "10")

    assert "objects recorded" in output
    assert "distinct ping bodies" in output
    status = json.loads(run(tmp_path, "status", "--json"))
    assert status["documents"]["objects"] == 4  # 3 uploads + 1 file dropped by hand
    assert status["documents"]["pings"] == 20  # 10 messages, each published twice
    assert status["documents"]["failures"] == 1
    ping_row = next(row for row in status["bus"] if row["function"] == "ping")
    assert ping_row["dead_lettered"] == 1
    assert ping_row["pending"] == 0


def test_dead_letters_can_be_listed_and_replayed(tmp_path):
    run(tmp_path, "demo", "--messages", "1")
    letters = json.loads(run(tmp_path, "dlq", "list", "--json"))
    assert len(letters) == 1
    assert "asked to fail transiently" in letters[0]["error"]

    output = run(tmp_path, "dlq", "replay", "--message-id", letters[0]["message_id"])

    assert "Replayed 1" in output
    assert json.loads(run(tmp_path, "dlq", "list", "--json")) == []
    status = json.loads(run(tmp_path, "status", "--json"))
    assert next(r for r in status["bus"] if r["function"] == "ping")["pending"] == 1


def test_replay_of_an_unknown_id_fails_clearly(tmp_path):
    result = runner.invoke(app, ["--home", str(tmp_path), "dlq", "replay", "-m", "nope"])
    assert result.exit_code == 1
    assert "not found: nope" in result.output


def test_publish_then_serve_until_idle_records_the_ping(tmp_path):
    run(tmp_path, "publish", "ping", '{"n": 1}', "--attribute", "source=cli")
    output = run(tmp_path, "serve", "--until-idle")

    assert "handled 1 events" in output
    status = json.loads(run(tmp_path, "status", "--json"))
    assert status["documents"]["pings"] == 1


def test_publish_rejects_a_malformed_attribute(tmp_path):
    result = runner.invoke(app, ["--home", str(tmp_path), "publish", "ping", "x", "-a", "novalue"])
    assert result.exit_code != 0
    assert "key=value" in result.output

"""The `vidcurate` CLI, driven as a user would, through typer's runner."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace

import pytest
from rich.console import Console
from typer.testing import CliRunner

from shared.bootstrap import use_context
from shared.cli.main import app
from shared.cli.running import run_locally
from shared.demo.campaign import generate_campaign

runner = CliRunner()


@pytest.fixture(autouse=True)
def _forget_services():
    yield
    use_context(None)


def run(home, *args):
    result = runner.invoke(app, ["--home", str(home), *args])
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize(
    "command",
    [
        *([c] for c in ("serve", "status", "demo", "publish", "dlq", "ingest", "export")),
        *([c] for c in ("provision", "costs", "critiques", "videos", "frames", "labels", "web")),
        ["labels", "invite"],
        ["labels", "queue"],
        ["labels", "status"],
        ["labels", "export"],
        ["learn"],
        ["learn", "round"],
        ["learn", "status"],
        [],
        ["dlq", "list"],
        ["dlq", "replay"],
        ["critiques", "run"],
        ["critiques", "status"],
        ["videos", "add"],
        ["videos", "pull"],
        ["frames", "extract"],
        ["frames", "analyze"],
        ["frames", "grid"],
    ],
)
def test_every_command_has_help(command):
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0
    assert "Usage" in result.output


def test_demo_runs_end_to_end_and_reports_what_happened(tmp_path):
    output = run(tmp_path / "home", "demo", "--videos", "40", "--export-dir", str(tmp_path / "x"))

    assert "export of config 'default' stopped" in output  # the strict export first
    (folder,) = (tmp_path / "x").iterdir()
    stamp = folder.name.removeprefix("export_")
    stats = json.loads((folder / f"comprehensive_statistics_{stamp}.json").read_text())
    assert stats["totals"]["videos"] == 40
    assert {"alice", "bob"} <= set(stats["annotators"])
    assert set(stats["reviewers"]) == {"rita"}
    assert stats["totals"]["quarantined_files"] == 4
    assert "Hub publishing skipped" in output
    status = json.loads(run(tmp_path / "home", "status", "--json"))
    (default,) = [c for c in status["captions"] if c["config_type"] == "default"]
    assert default["registered_videos"] == 40
    assert default["quarantined_files"] == 4
    assert sum(default["tasks"]["subject"].values()) == 40
    assert status["exports"][0]["folder"] == folder.name
    assert "demo_ana & demo_ben" in output  # the scripted annotators' agreement
    assert "active-learning round 1" in output
    learn = json.loads(run(tmp_path / "home", "learn", "status", "--json"))
    assert [r["status"] for r in learn["rounds"]] == ["done", "done"]
    labels = json.loads(run(tmp_path / "home", "labels", "status", "--json"))
    by_name = {a["annotator"]: a for a in labels["annotators"]}
    assert by_name["demo_ana"]["labelled"] > 0
    assert by_name["demo_ben"]["labelled"] > 0
    pair = labels["agreement"]["perspective"]["pairwise"]["demo_ana|demo_ben"]
    assert pair["frames"] > 0
    assert pair["observed"] < 1


@pytest.mark.parametrize("handler_dead_letters", ["false", "true"])
def test_dead_letters_can_be_listed_and_replayed(tmp_path, handler_dead_letters):
    """Dead-lettered by the bus after its attempts, or (as deployed) by the entry point after
    the handler's failures: either way one dead letter, with its error and failure count."""
    env = {
        "VIDCURATE_MIN_BACKOFF_SECONDS": "0.01",
        "VIDCURATE_MAX_BACKOFF_SECONDS": "0.02",
        "VIDCURATE_HANDLER_DEAD_LETTERS": handler_dead_letters,
    }
    run(tmp_path, "publish", "ping", '{"fail": "transient"}')
    result = runner.invoke(app, ["--home", str(tmp_path), "serve", "--until-idle"], env=env)
    assert result.exit_code == 0, result.output
    letters = json.loads(run(tmp_path, "dlq", "list", "--json"))
    assert len(letters) == 1
    assert "asked to fail transiently" in letters[0]["error"]
    assert letters[0]["failures"] == 5  # the handler's, counted by the entry point
    if handler_dead_letters == "false":
        assert isinstance(letters[0]["attempts"], int)  # a number, not text

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


def _status_of(home):
    status = json.loads(run(home, "status", "--json"))
    (default,) = [c for c in status["captions"] if c["config_type"] == "default"]
    return default


def test_ingest_is_idempotent_and_a_subset_in_any_order_converges(tmp_path):
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=30, seed=3)

    # GIVEN the whole campaign ingested once, then again
    first = run(tmp_path / "a", "ingest", str(campaign), "--config-type", "default")
    once = _status_of(tmp_path / "a")
    second = run(tmp_path / "a", "ingest", str(campaign), "--config-type", "default")

    assert "0 unchanged" in " ".join(first.split())  # rich wraps lines at 80 columns
    assert "uploaded 0 new or changed files" in " ".join(second.split())
    assert _status_of(tmp_path / "a") == once
    forced = run(tmp_path / "a", "ingest", str(campaign), "--force")
    assert "uploaded 241 new or changed files" in " ".join(forced.split())
    assert _status_of(tmp_path / "a") == once

    # WHEN another home gets the campaign in two halves, the second half first
    tasks = sorted(p for p in campaign.iterdir() if p.is_dir())
    halves = (tasks[len(tasks) // 2 :], tasks[: len(tasks) // 2])
    for n, half in enumerate(halves):
        part = tmp_path / f"part{n}"
        for folder in half:
            (part / folder.name).mkdir(parents=True)
            for file in folder.iterdir():
                (part / folder.name / file.name).write_bytes(file.read_bytes())
        run(tmp_path / "b", "ingest", str(part), "--config-type", "default")

    # THEN it ends in the same state
    assert _status_of(tmp_path / "b") == once
    assert once["quarantined_files"] == 4
    assert once["registered_videos"] == 30


def test_export_flags_behave_as_the_original_script(tmp_path):
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=25, seed=5)
    run(tmp_path / "home", "ingest", str(campaign))

    strict = runner.invoke(app, ["--home", str(tmp_path / "home"), "export", "--export-dir",
                                 str(tmp_path / "out")])  # fmt: skip
    assert strict.exit_code == 1
    assert "stopped" in strict.output
    assert "--ignore-errors" in strict.output
    assert not (tmp_path / "out").exists()

    run(tmp_path / "home", "export", "--export-dir", str(tmp_path / "out"), "--only-reviewed",
        "--ignore-errors")  # fmt: skip
    (folder,) = (tmp_path / "out").iterdir()
    assert sorted(p.name.rsplit("_", 2)[0] for p in folder.iterdir()) == [
        "comprehensive_statistics",
        "reviewed_videos",
    ]

    first_files = sorted(p.name for p in folder.iterdir())
    run(tmp_path / "home", "export", "--export-dir", str(tmp_path / "out"), "--ignore-errors")
    folders = sorted(p.name for p in (tmp_path / "out").iterdir())
    # a second folder (export_..._2 in the same minute), the first one intact
    assert len(folders) == 2
    assert folder.name in folders
    assert sorted(p.name for p in folder.iterdir()) == first_files

    bad = runner.invoke(app, ["--home", str(tmp_path / "home"), "export", "--hf-dataset", "nope"])
    assert bad.exit_code == 2
    assert "hf_dataset" in bad.output


def test_export_writes_to_caption_export_by_default(tmp_path, monkeypatch):
    # GIVEN an ingested campaign and a working directory
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=20, seed=3)
    run(tmp_path / "home", "ingest", str(campaign))
    monkeypatch.chdir(tmp_path)

    # WHEN the export is asked for without --export-dir
    run(tmp_path / "home", "export", "--ignore-errors")

    # THEN the folder lies in ./caption_export
    (folder,) = (tmp_path / "caption_export").iterdir()
    assert folder.name.startswith("export_")
    assert any(p.name.startswith("all_videos_with_captions_") for p in folder.iterdir())


def test_a_bad_global_option_fails_in_one_line(tmp_path):
    result = runner.invoke(app, ["--home", str(tmp_path), "--backend", "bogus", "status"])

    assert result.exit_code == 2
    assert "error: backend:" in result.output
    assert "Traceback" not in result.output


def test_run_locally_leaves_delivery_to_the_cloud_off_the_local_backend():
    out = io.StringIO()
    services = SimpleNamespace(settings=SimpleNamespace(backend="gcp"))

    stats = run_locally(Console(file=out), services, 60, elsewhere="published 3 jobs")

    assert stats is None
    assert out.getvalue() == "published 3 jobs\n"


def test_without_a_terminal_progress_is_a_line_every_500_deliveries_and_a_summary():
    import io  # noqa: PLC0415
    from collections import Counter  # noqa: PLC0415

    from rich.console import Console  # noqa: PLC0415

    from shared.cli.running import line_progress  # noqa: PLC0415
    from shared.platform.runtime.local import RuntimeStats  # noqa: PLC0415

    # GIVEN a console that is not a terminal (a log file, CI)
    out = io.StringIO()
    console = Console(file=out, force_terminal=False, width=200)

    # WHEN 1,234 deliveries of a backlog of 1,200 are reported one by one
    with line_progress(console, backlog=1200) as update:
        for done in range(1, 1235):
            update(RuntimeStats(handled=Counter({"critique_worker": done}), failed=Counter()))

    # THEN the backlog, a line at 500 and 1,000, and a summary by function: nothing per item
    lines = out.getvalue().splitlines()
    assert lines[0] == "delivering 1200 queued event(s)"
    assert lines[1] == "delivered 500/1200 event(s) (41%), 0 failed attempt(s)"
    assert lines[2] == "delivered 1000/1200 event(s) (83%), 0 failed attempt(s)"
    assert lines[3].startswith("delivered 1234 event(s) in ")
    assert lines[3].endswith("(critique_worker 1234), 0 failed attempt(s)")
    assert len(lines) == 4


def test_a_command_run_without_a_terminal_prints_progress_lines_not_a_bar(tmp_path):
    output = run(tmp_path, "publish", "ping", '{"n": 1}')
    served = run(tmp_path, "serve", "--until-idle")

    assert "Published" in output
    assert "delivered 1 event(s) in " in served
    assert "━" not in served


def test_status_counts_a_large_bucket_up_to_a_cap_and_says_so(tmp_path, monkeypatch):
    from shared.bootstrap import build_context  # noqa: PLC0415
    from shared.config import Settings  # noqa: PLC0415
    from shared.ops import status as ops  # noqa: PLC0415

    monkeypatch.setattr(ops, "STATUS_MAX_OBJECTS", 3)  # 10,000 in use: the same code path
    home = tmp_path / "home"
    services = build_context(Settings(home=home))
    try:
        for index in range(5):
            services.blobs.write(services.settings.frames_bucket, f"f/{index}.jpg", b"x" * 10)
        services.blobs.write(services.settings.videos_bucket, "one.mp4", b"y" * 7)
    finally:
        services.close()
    runner = CliRunner()

    as_json = runner.invoke(app, ["--home", str(home), "status", "--json"])
    shown = runner.invoke(app, ["--home", str(home), "status"], env={"COLUMNS": "200"})

    assert as_json.exit_code == 0, as_json.output
    rows = {row["role"]: row for row in json.loads(as_json.output)["buckets"]}
    assert (rows["frames"]["objects"], rows["frames"]["more"]) == (3, True)
    assert (rows["videos"]["objects"], rows["videos"]["bytes"], rows["videos"]["more"]) == (
        1, 7, False)  # fmt: skip
    assert "3+" in shown.output


@pytest.mark.parametrize(
    ("args", "env", "said"),
    [
        (["status"], {"VIDCURATE_TASK_SETS": "{bad"}, "VIDCURATE_TASK_SETS: not valid JSON"),
        (["status"], {"VIDCURATE_WORKERS": "abc"}, "workers: Input should be a valid integer"),
        (["--backend", "gpc", "status"], {}, "backend: Input should be 'local' or 'gcp'"),
        (["serve", "--workers", "-3"], {}, "workers"),
        (
            ["status"],
            {"VIDCURATE_CRITIQUE_MODELS": '{"caption_critique": "gpt-4o-mni"}'},
            "VIDCURATE_CRITIQUE_MODELS: no price for model 'gpt-4o-mni'",
        ),
        (["status"], {"VIDCURATE_VISION_MODEL": "gpt4o"}, "VIDCURATE_VISION_MODEL: no price"),
        (["frames", "analyze", "--model", "gpt-5-nano"], {}, "--model: no price for model"),
    ],
)
def test_bad_settings_and_options_are_one_line(tmp_path, args, env, said):
    result = CliRunner().invoke(app, ["--home", str(tmp_path / "home"), *args], env=env)

    assert result.exit_code == 2, result.output
    assert said in " ".join(result.output.split())
    assert "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) <= 3


def test_a_new_model_runs_once_its_price_is_given(tmp_path):
    prices = '{"gpt-5-nano": {"input_per_million": 0.05, "output_per_million": 0.4}}'
    env = {"VIDCURATE_MODEL_PRICES": prices, "OPENAI_API_KEY": ""}
    args = ["--home", str(tmp_path / "home"), "frames", "analyze", "--model", "gpt-5-nano"]

    result = CliRunner().invoke(app, [*args, "--dry-run"], env=env)

    assert result.exit_code == 0, result.output
    assert "gpt-5-nano" in result.output


def test_a_home_that_is_a_file_is_one_line(tmp_path):
    home = tmp_path / "home"
    home.write_text("not a folder")

    result = CliRunner().invoke(app, ["--home", str(home), "status"])

    assert result.exit_code == 2
    assert f"{home}: cannot be the vidcurate home" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_an_empty_api_key_in_the_environment_means_no_key(monkeypatch):
    from shared.config import Settings  # noqa: PLC0415

    monkeypatch.setenv("OPENAI_API_KEY", "")
    monkeypatch.setenv("GEMINI_API_KEY", "  ")

    settings = Settings()

    assert settings.openai_api_key is None
    assert settings.gemini_api_key is None


def test_export_refuses_an_empty_home_and_an_export_dir_that_is_a_file(tmp_path):
    home = str(tmp_path / "home")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    runner = CliRunner()

    empty = runner.invoke(app, ["--home", home, "export"], env={"COLUMNS": "200"})
    generate_campaign(tmp_path / "c", videos=20, seed=1, include_bad_files=False)
    assert runner.invoke(app, ["--home", home, "ingest", str(tmp_path / "c")]).exit_code == 0
    into_file = runner.invoke(app, ["--home", home, "export", "--export-dir", str(blocker)],
                              env={"COLUMNS": "200"})  # fmt: skip

    assert empty.exit_code == 1
    assert "nothing to export" in empty.output
    assert into_file.exit_code == 1
    assert f"{blocker}: not a folder (--export-dir)" in into_file.output
    assert not list((tmp_path / "home" / "buckets").glob("*/export_*"))  # nothing written


def test_status_says_which_home_it_reads_and_makes_none(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    missing = runner.invoke(app, ["status"])
    made = runner.invoke(app, ["--home", str(tmp_path / "h"), "publish", "ping", "hi"])
    found = runner.invoke(app, ["--home", str(tmp_path / "h"), "status"])

    assert missing.exit_code == 1
    assert f"no vidcurate home at {tmp_path / '.vidcurate'}" in " ".join(missing.output.split())
    assert not (tmp_path / ".vidcurate").exists()  # status made no empty home
    assert made.exit_code == 0, made.output
    assert f"vidcurate status of {tmp_path / 'h'} (local backend)" in found.output


def test_operating_mistakes_are_refused_not_ignored(tmp_path):
    home = ["--home", str(tmp_path / "h")]
    runner = CliRunner()

    lost = runner.invoke(app, [*home, "publish", "nobody-listens", "x"])
    timeout = runner.invoke(app, [*home, "serve", "--timeout", "5"])
    zero = runner.invoke(app, [*home, "serve", "--workers", "0", "--until-idle"])

    assert lost.exit_code == 2
    assert "no function listens to 'nobody-listens'" in " ".join(lost.output.split())
    assert timeout.exit_code == 2
    assert "only with --until-idle" in " ".join(timeout.output.split())
    assert zero.exit_code == 2
    assert "workers" in zero.output


def test_help_shows_arguments_in_capitals_and_flags_without_a_type():
    runner = CliRunner()

    extract = runner.invoke(app, ["frames", "extract", "-h"], env={"COLUMNS": "120"})
    missing = runner.invoke(app, ["frames", "extract"], env={"COLUMNS": "120"})
    root = runner.invoke(app, ["-h"], env={"COLUMNS": "120"})

    assert "frames extract [OPTIONS] VIDEOS..." in extract.output
    assert "<bool>" not in extract.output + root.output
    assert "{" not in extract.output
    assert "<float>" in extract.output  # options that take a value still say what kind
    assert "Missing argument 'VIDEOS'" in missing.output


def test_short_help_and_version():
    runner = CliRunner()

    short = runner.invoke(app, ["-h"])
    version = runner.invoke(app, ["--version"])

    assert short.exit_code == 0
    assert "Captions and critiques" in short.output
    assert version.exit_code == 0
    assert version.output.startswith("vidcurate ")


def test_ingest_refuses_what_is_not_a_campaign_and_leaves_strays_out(tmp_path):
    home = ["--home", str(tmp_path / "h")]
    runner = CliRunner()
    clips = tmp_path / "clips"
    clips.mkdir()
    (clips / "a.mp4").write_bytes(b"\x00" * 64)
    (clips / "notes.txt").write_text("hello")
    empty = tmp_path / "empty"
    empty.mkdir()
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=20, seed=3, include_bad_files=False)
    (campaign / "subject" / "holiday.mp4").write_bytes(b"\x00" * 64)

    not_campaign = runner.invoke(app, [*home, "ingest", str(clips)], env={"COLUMNS": "200"})
    nothing = runner.invoke(app, [*home, "ingest", str(empty)], env={"COLUMNS": "200"})
    mixed = runner.invoke(app, [*home, "ingest", str(campaign)], env={"COLUMNS": "200"})

    assert not_campaign.exit_code == 1
    assert f"{clips}: not a campaign folder: none of its 2 file(s)" in not_campaign.output
    assert nothing.exit_code == 1
    assert "none of its 0 file(s)" in nothing.output
    assert mixed.exit_code == 0, mixed.output
    assert "1 file(s) not uploaded" in mixed.output
    assert str(campaign / "subject" / "holiday.mp4") in mixed.output
    bucket = tmp_path / "h" / "buckets" / "vidcurate-annotations"
    assert not list(bucket.rglob("*.mp4"))
    assert not list(bucket.rglob("*.txt"))


def test_the_working_commands_answer_in_json_for_scripts(tmp_path):
    from clips import make_clip  # noqa: PLC0415

    home = ["--home", str(tmp_path / "h")]
    runner = CliRunner()
    generate_campaign(tmp_path / "c", videos=20, seed=5, include_bad_files=False)
    clip = tmp_path / "walk.mp4"
    make_clip(clip, seconds=12, fps=5, size=(96, 64))

    def answer(*args):
        result = runner.invoke(app, [*home, *args, "--json"])
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    ingested = answer("ingest", str(tmp_path / "c"))
    exported = answer("export", "--export-dir", str(tmp_path / "x"), "--ignore-errors")
    planned = answer("critiques", "run", "--export-folder", exported["folder"],
                     "--critique-type", "blind_model_critique", "--dry-run")  # fmt: skip
    ran = answer("critiques", "run", "--export-folder", exported["folder"],
                 "--critique-type", "blind_model_critique")  # fmt: skip
    added = answer("videos", "add", str(clip))
    extracted = answer("frames", "extract", str(clip), "--out", str(tmp_path / "f"))
    published = answer("publish", "ping", "hi")

    assert ingested["config_type"] == "default"
    assert ingested["uploaded"] > 0
    assert ingested["failed_events"] == 0
    assert exported["folder"].startswith("export_")
    assert exported["totals"]["videos"] == 20
    assert planned["status"] is None
    assert planned["plan"]["by_type"]["blind_model_critique"]["generate"] > 0
    assert ran["status"]["by_type"]["blind_model_critique"]["success"] > 0
    assert ran["status"]["waiting_for"]  # six types not run
    assert added == [{"clip": "local/walk.mp4", "written": True, "status": "done",
                      "frames": [pytest.approx(5.0, abs=0.2)], "error": None,
                      "metadata": {}}]  # fmt: skip
    assert [len(i["frames"]) for i in extracted] == [2]  # 0 and 10 s
    assert published["topic"] == "ping"
    assert published["function"] == "ping"


def test_quarantined_files_can_be_listed_with_why(tmp_path):
    home = ["--home", str(tmp_path / "h")]
    runner = CliRunner()
    summary = generate_campaign(tmp_path / "c", videos=20, seed=9, include_bad_files=True)
    assert runner.invoke(app, [*home, "ingest", str(tmp_path / "c")]).exit_code == 0

    listed = runner.invoke(app, [*home, "quarantine", "--json"])
    shown = runner.invoke(app, [*home, "quarantine"], env={"COLUMNS": "200"})
    other = runner.invoke(app, [*home, "quarantine", "--config-type", "lighting", "--json"])

    rows = json.loads(listed.output)
    assert {row["name"].removeprefix("default/") for row in rows} == {
        path for path, _why in summary.bad_files
    }
    assert all(row["error"] and row["config_type"] == "default" for row in rows)
    assert f"{len(rows)} quarantined file(s)" in shown.output
    assert json.loads(other.output) == []


def test_global_options_work_after_the_command_too(tmp_path):
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from shared.cli.main import hoist_global_options  # noqa: PLC0415

    assert hoist_global_options(["status", "--home", "h", "--json"]) == [
        "--home", "h", "status", "--json"]  # fmt: skip
    assert hoist_global_options(["critiques", "run", "--backend=gcp", "--verbose"]) == [
        "--backend=gcp", "critiques", "run", "--verbose"]  # fmt: skip
    assert hoist_global_options(["publish", "ping", "--", "--home"]) == [
        "publish", "ping", "--", "--home"]  # fmt: skip
    home = tmp_path / "h"
    CliRunner().invoke(app, ["--home", str(home), "publish", "ping", "x"])
    vidcurate = str(Path(sys.executable).with_name("vidcurate"))

    result = subprocess.run(
        [vidcurate, "status", "--home", str(home), "--json"],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["home"] == str(home.resolve())


def test_the_gcp_backend_without_credentials_is_one_line(tmp_path):
    env = {
        "GOOGLE_APPLICATION_CREDENTIALS": str(tmp_path / "missing.json"),
        "PUBSUB_EMULATOR_HOST": None,
        "FIRESTORE_EMULATOR_HOST": None,
        "STORAGE_EMULATOR_HOST": None,
    }

    result = CliRunner().invoke(app, ["--backend", "gcp", "status"], env=env)

    assert result.exit_code == 1
    assert "--backend gcp: no Google Cloud credentials" in " ".join(result.output.split())
    assert "Traceback" not in result.output


def test_costs_of_everything_and_of_one_run(tmp_path):
    from shared.bootstrap import build_context  # noqa: PLC0415
    from shared.config import Settings  # noqa: PLC0415
    from shared.llm.ledger import record_call  # noqa: PLC0415

    home = tmp_path / "home"
    services = build_context(Settings(home=home))
    try:
        for n, run_id in enumerate(["r1", "r1", "r2"]):
            record_call(services.documents, f"c{n}", {
                "outcome": "success", "model": "gpt-4.1", "prompt_name": "p",
                "input_tokens": 100, "output_tokens": 10, "cost_usd": 0.25,
                "labels": {"kind": "vision", "run": run_id},
            })  # fmt: skip
    finally:
        services.close()

    everything = json.loads(run(home, "costs", "--json"))
    one = json.loads(run(home, "costs", "--json", "--run", "r1"))

    assert (everything["calls"], everything["cost_usd"]) == (3, 0.75)
    assert (one["calls"], one["cost_usd"], one["by_kind"]["vision"]["calls"]) == (2, 0.5, 2)
    assert "--run r9: no model call is labelled with this run" in run(home, "costs", "--run", "r9")


def test_recount_keeps_the_counts_status_shows(tmp_path):
    from shared.bootstrap import build_context  # noqa: PLC0415
    from shared.captions.counts import CAPTION_COUNTS, counted_tasks  # noqa: PLC0415
    from shared.config import Settings  # noqa: PLC0415

    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=30, seed=5, include_bad_files=False)
    home = tmp_path / "home"
    run(home, "ingest", str(campaign), "--config-type", "default")
    kept_while_ingesting = json.loads(run(home, "status", "--json"))["captions"]
    # as a campaign ingested by a version before the counts: none kept
    services = build_context(Settings(home=home))
    try:
        for doc in list(services.documents.iter_collection(CAPTION_COUNTS)):
            services.documents.delete(doc.path)
    finally:
        services.close()
    by_queries = json.loads(run(home, "status", "--json"))["captions"]

    said = run(home, "recount")

    assert "default: counted" in said
    assert by_queries == kept_while_ingesting
    assert json.loads(run(home, "status", "--json"))["captions"] == by_queries
    assert sum(by_queries[0]["tasks"]["subject"].values()) == 30
    services = build_context(Settings(home=home))
    try:
        kept, _ = counted_tasks(services.documents, "default", ["subject"])  # read again
    finally:
        services.close()
    subject = by_queries[0]["tasks"]["subject"]
    assert {s: n for s, n in kept["subject"].items() if s != "not_completed"} == {
        s: n for s, n in subject.items() if s != "not_completed"
    }
    wrong = runner.invoke(app, ["--home", str(home), "recount", "--config-type", "nope"])
    assert wrong.exit_code == 2
    assert "--config-type nope: no such task set" in wrong.output

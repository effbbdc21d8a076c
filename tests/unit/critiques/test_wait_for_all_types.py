"""An export consolidates once, when all seven critique types are done for every reviewed
caption, whatever runs planned them: users launch one type per command, often in parallel
terminals, and only the last run to finish may write the consolidated file and publish it."""

from __future__ import annotations

import json
import random

import pytest
from llmfake import (  # noqa: F401 (fixture llm_server)
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    llm_server_fixture,
)
from typer.testing import CliRunner

from shared.bootstrap import FUNCTIONS_DIR, build_context, build_runtime, use_context
from shared.captions.export import run_export
from shared.captions.messages import ExportRequest
from shared.cli.main import app
from shared.config import Settings
from shared.critiques.messages import REQUESTS, CritiqueRequest
from shared.critiques.plan import plan_run
from shared.critiques.status import status_report
from shared.critiques.store import RUNS, items_collection
from shared.critiques.types import CRITIQUE_TYPES
from shared.platform.runtime.dispatch import load_entry_point

TYPES = tuple(CRITIQUE_TYPES)


def export(services):
    return run_export(services, ExportRequest(ignore_errors=True), request_id="x").folder


def runtime(services, *names):
    names = names or ("critique_worker", "critique_consolidate")
    handlers = {name: load_entry_point(FUNCTIONS_DIR, name) for name in names}
    return build_runtime(services, handlers=handlers)


def run_type(services, folder, name, **flags):
    plan_run(services, CritiqueRequest(export_folder=folder, critique_types=[name], **flags))
    runtime(services).run_until_idle(timeout=300)


def hub_uploads(services):
    return [json.loads(m.data) for m in services.bus.pull("probe-hub", max_messages=100)]


def attempts_of_failed(services, folder):
    """The attempts recorded on the failed items (--max-retries N: at most N attempts)."""
    return {
        doc.data["record"]["attempts"]
        for doc in services.documents.iter_collection(items_collection(folder))
        if doc.data["status"] == "failed"
    }


def consolidated_types(services, folder):
    """The critique types in the consolidated file, per reviewed caption (None: no file)."""
    bucket = services.settings.exports_bucket
    names = [i.name for i in services.blobs.list(bucket, f"{folder}/")]
    files = [n for n in names if "all_videos_with_captions_and_critiques_" in n]
    if not files:
        return None
    (name,) = files
    entries = json.loads(services.blobs.read(bucket, name))
    return {
        frozenset(set(caption) & set(TYPES))
        for entry in entries
        for caption in entry["captions"].values()
        if caption["status"] in ("approved", "rejected")
    }


def test_seven_parallel_single_type_runs_consolidate_once_with_all_seven(services):
    # GIVEN an export, and one critique-requests message per type, all queued at once
    folder = export(services)
    for name in TYPES:
        REQUESTS.publish(services.bus, CritiqueRequest(export_folder=folder, critique_types=[name]))

    # WHEN the functions handle them concurrently (plans of one run take turns: a request
    # that finds another plan being written is retried with the platform's backoff, here
    # with room for seven plans in a row, as the default 1-60 s backoff gives)
    patient = build_context(Settings(**{
        **services.settings.model_dump(),
        "max_delivery_attempts": 30,
        "min_backoff_seconds": 0.1,
        "max_backoff_seconds": 1.0,
    }))  # fmt: skip
    use_context(patient)
    try:
        names = ("critique_fanout", "critique_worker", "critique_consolidate")
        stats = runtime(patient, *names).run_until_idle(timeout=600)
    finally:
        use_context(services)
        patient.close()

    # THEN one consolidated file holds all seven types for every reviewed caption, once
    assert stats.handled["critique_fanout"] == len(TYPES)
    assert consolidated_types(services, folder) == {frozenset(TYPES)}
    assert services.documents.count(f"{RUNS}/{folder}/consolidations") == 1
    uploads = hub_uploads(services)
    assert len(uploads) == 1
    assert uploads[0]["folder"] == folder
    assert status_report(services, folder)["waiting_for"] == {}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_one_type_at_a_time_consolidates_only_after_the_last(services, seed):
    folder = export(services)
    order = list(TYPES)
    random.Random(seed).shuffle(order)

    for done, name in enumerate(order, 1):
        run_type(services, folder, name)

        report = status_report(services, folder)
        if done < len(order):
            # a run that leaves types missing never consolidates, and says what it waits for
            assert consolidated_types(services, folder) is None
            assert hub_uploads(services) == []
            assert set(report["waiting_for"]) == set(order[done:])
            assert set(report["waiting_for"].values()) == {"not started"}
    # the last run consolidates, once, with every type
    assert consolidated_types(services, folder) == {frozenset(TYPES)}
    assert len(hub_uploads(services)) == 1


def test_a_failed_type_blocks_the_export_until_its_rerun(services, llm_server):
    # GIVEN six types done offline
    folder = export(services)
    failing = "blind_model_critique"
    for name in TYPES:
        if name != failing:
            run_type(services, folder, name)
    # ... and the seventh run live against a model server that refuses every call
    services.settings = Settings(**{
        **services.settings.model_dump(),
        "openai_api_key": DEFAULT_OPENAI_KEY,
        "openai_base_url": llm_server.openai_base_url,
        "gemini_api_key": DEFAULT_GEMINI_KEY,
        "gemini_base_url": llm_server.gemini_base_url,
    })  # fmt: skip
    llm_server.fail_fraction(r".", 500, 1.0)
    run_type(services, folder, failing, max_retries=1)

    # THEN nothing is consolidated, and the report says which type failed, how often
    report = status_report(services, folder)
    assert consolidated_types(services, folder) is None
    assert list(report["waiting_for"]) == [failing]
    assert report["waiting_for"][failing].endswith(" failed")
    assert hub_uploads(services) == []
    assert attempts_of_failed(services, folder) == {1}

    # WHEN it is re-run with --max-retries 2 and the models still refuse, THEN two attempts
    run_type(services, folder, failing, max_retries=2)
    assert attempts_of_failed(services, folder) == {2}

    # WHEN the failed type is run again and the models answer
    llm_server.fail_fraction(r".", 500, 0)
    llm_server.responder = lambda provider, model, body: (
        {"revised_caption": "r"} if "revised_caption" in json.dumps(body) else {"critique": "c"}
    )
    run_type(services, folder, failing)

    # THEN the export is consolidated once, with all seven types
    assert status_report(services, folder)["waiting_for"] == {}
    assert consolidated_types(services, folder) == {frozenset(TYPES)}
    assert len(hub_uploads(services)) == 1


def test_the_cli_says_what_a_one_type_run_waits_for(services):
    folder = export(services)
    runner = CliRunner()
    home = str(services.settings.home)

    args = ["--home", home, "critiques", "run", "--export-folder", folder]
    result = runner.invoke(
        app, [*args, "--critique-type", "blind_model_critique"], env={"COLUMNS": "250"}
    )

    assert result.exit_code == 0, result.output
    assert "waiting for:" in result.output
    assert "video_model_critique (not started)" in result.output
    status = runner.invoke(app, ["--home", home, "critiques", "status", "--export-folder", folder,
                                 "--json"])  # fmt: skip
    assert status.exit_code == 0, status.output
    report = json.loads(status.output)
    assert set(report["waiting_for"]) == set(TYPES) - {"blind_model_critique"}


def test_critiques_run_takes_a_config_type_for_the_long_task_names(services):
    folder = export(services)
    runner = CliRunner()
    home = str(services.settings.home)
    args = ["--home", home, "critiques", "run", "--export-folder", folder,
            "--critique-type", "worst_caption_generation"]  # fmt: skip

    unknown = runner.invoke(app, [*args, "--config-type", "lighting"])
    known = runner.invoke(app, [*args, "--config-type", "default"])

    # an unknown task set is one clear line; a known one names the output folders
    assert unknown.exit_code != 0
    assert "config type 'lighting' is not configured" in unknown.output
    assert "Traceback" not in unknown.output
    assert known.exit_code == 0, known.output
    bucket = services.settings.exports_bucket
    outputs = [i.name for i in services.blobs.list(bucket, f"{folder}/output_critiques/")]
    long_names = set(services.settings.task_sets["default"].values())
    assert outputs
    assert {name.split("/")[3] for name in outputs} <= long_names


def bucket_outputs(services, folder):
    """The run's outputs in the bucket, relative to the export folder, with their bytes."""
    bucket = services.settings.exports_bucket
    return {
        info.name.removeprefix(f"{folder}/"): services.blobs.read(bucket, info.name)
        for info in services.blobs.list(bucket, f"{folder}/")
        if "/output_critiques/" in info.name or "_and_critiques_" in info.name
    }


def local_outputs(local):
    return {
        str(path.relative_to(local)): path.read_bytes()
        for path in local.rglob("*")
        if path.is_file() and ("output_critiques" in path.parts or "_and_critiques_" in path.name)
    }


def test_a_local_export_folder_gets_the_outputs_and_the_consolidated_file(services, tmp_path):
    # GIVEN an export written into a local folder, as `vidcurate export` prints it
    exports = tmp_path / "caption_export"
    result = run_export(services, ExportRequest(ignore_errors=True), request_id="x",
                        export_dir=exports)  # fmt: skip
    local = exports / result.folder
    exported = {p.name for p in local.iterdir()}
    runner = CliRunner()
    home = str(services.settings.home)
    args = ["--home", home, "critiques", "run", "--export-folder", str(local)]

    # WHEN the seven types run one command each, naming the local folder
    outputs_after_first = None
    for name in TYPES:
        ran = runner.invoke(app, [*args, "--critique-type", name], env={"COLUMNS": "250"})
        assert ran.exit_code == 0, ran.output
        if outputs_after_first is None:
            outputs_after_first = local_outputs(local)

    # THEN the first run copied its own outputs and no consolidated file; after the last,
    # the local folder holds exactly the bucket's outputs and the one consolidated file
    assert outputs_after_first
    assert not any("_and_critiques_" in name for name in outputs_after_first)
    assert {n.split("/")[1] for n in outputs_after_first} == {TYPES[0]}
    assert local_outputs(local) == bucket_outputs(services, result.folder)
    consolidated = [p for p in local.iterdir() if "_and_critiques_" in p.name]
    assert len(consolidated) == 1
    assert "output file(s) copied" in ran.output
    # the export's own files are untouched, and no temporary file is left behind
    assert exported <= {p.name for p in local.iterdir()}
    assert not list(local.rglob("*.part"))


def test_status_brings_a_local_export_folder_up_to_date(services, tmp_path):
    exports = tmp_path / "caption_export"
    result = run_export(services, ExportRequest(ignore_errors=True), request_id="x",
                        export_dir=exports)  # fmt: skip
    local = exports / result.folder
    run_type(services, result.folder, "blind_model_critique")  # made elsewhere (no local copy)
    runner = CliRunner()
    home = str(services.settings.home)

    first = runner.invoke(app, ["--home", home, "critiques", "status", "--export-folder",
                                str(local), "--json"])  # fmt: skip
    again = runner.invoke(app, ["--home", home, "critiques", "status", "--export-folder",
                                str(local), "--json"])  # fmt: skip

    assert first.exit_code == 0, first.output
    copied = json.loads(first.output)["local_copy"]
    assert copied["copied"] == len(bucket_outputs(services, result.folder)) > 0
    assert json.loads(again.output)["local_copy"] == {**copied, "copied": 0,
                                                      "unchanged": copied["copied"]}  # fmt: skip
    assert local_outputs(local) == bucket_outputs(services, result.folder)


def test_an_export_folder_path_that_does_not_exist_is_one_clear_line(services, tmp_path):
    runner = CliRunner()
    missing = tmp_path / "caption_export" / "export_20260101_0000"

    result = runner.invoke(app, ["--home", str(services.settings.home), "critiques", "run",
                                 "--export-folder", str(missing)])  # fmt: skip

    assert result.exit_code == 2
    assert "no such local export folder" in result.output
    assert "Traceback" not in result.output

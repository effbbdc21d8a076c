"""Critique runs on the local runtime with the offline provider: shapes, incrementality,
failures blocking consolidation, and exactly one consolidation under duplicates."""

from __future__ import annotations

import json

import pytest
from captions_support import captured_events
from llmfake import llm_server_fixture  # noqa: F401 (fixture llm_server)

from shared.bootstrap import FUNCTIONS_DIR, build_runtime
from shared.captions.export import run_export
from shared.captions.ingest import ingest_event
from shared.captions.messages import ExportRequest
from shared.captions.upload import upload_folder
from shared.catalog import function_spec
from shared.config import Settings
from shared.critiques.messages import JOBS, CritiqueRequest
from shared.critiques.plan import plan_run
from shared.critiques.status import status_report
from shared.critiques.store import RUNS, items_collection
from shared.critiques.types import CRITIQUE_TYPES
from shared.llm.ledger import MODEL_CALLS
from shared.platform.runtime.dispatch import load_entry_point
from shared.ports import OutgoingMessage


def export(services):
    return run_export(services, ExportRequest(ignore_errors=True), request_id="x").folder


def consolidated(services, folder):
    bucket = services.settings.exports_bucket
    names = [i.name for i in services.blobs.list(bucket, f"{folder}/")]
    (name,) = [n for n in names if "all_videos_with_captions_and_critiques_" in n]
    return json.loads(services.blobs.read(bucket, name)), names


def consolidated_name(folder):
    return f"all_videos_with_captions_and_critiques_{folder.removeprefix('export_')}.json"


def hub_messages(services, *, versions=None):
    """The hub-uploads messages queued (their plan ids appended to ``versions``)."""
    bodies = [json.loads(m.data) for m in services.bus.pull("probe-hub", max_messages=100)]
    for body in bodies:
        version = body.pop("version")
        assert version
        if versions is not None:
            versions.append(version)
    return bodies


def workers(services):
    """The runtime serving the critique functions only (hub-uploads stay queued, to count)."""
    names = ("critique_worker", "critique_consolidate")
    handlers = {name: load_entry_point(FUNCTIONS_DIR, name) for name in names}
    return build_runtime(services, handlers=handlers)


def go_live(services, llm_server, **overrides):
    """Answer with the real SDKs against the local fake server (keys and base URLs set)."""
    from llmfake import DEFAULT_GEMINI_KEY, DEFAULT_OPENAI_KEY  # noqa: PLC0415

    services.settings = Settings(**{
        **services.settings.model_dump(),
        "openai_api_key": DEFAULT_OPENAI_KEY,
        "openai_base_url": llm_server.openai_base_url,
        "gemini_api_key": DEFAULT_GEMINI_KEY,
        "gemini_base_url": llm_server.gemini_base_url,
        "model_limits": {m: {"requests_per_minute": 100_000, "tokens_per_minute": 10**9}
                         for m in ("gpt-4.1", "gpt-4o", "gemini-2.5-pro")},
        **overrides,
    })  # fmt: skip


def answers(provider, model, body):
    """The fake server's answers: valid JSON for each schema."""
    text = json.dumps(body)
    return (
        {"bad_caption": "x"} if "bad_caption" in text else
        {"revised_caption": "r"} if "revised_caption" in text else {"critique": "c"}
    )  # fmt: skip


def run_all(services, folder, **flags):
    plan = plan_run(services, CritiqueRequest(export_folder=folder, **flags))
    workers(services).run_until_idle(timeout=300)
    return plan


def others_done(services, folder, types):
    """Every critique type but ``types`` done (offline) for the export, so that a run of
    ``types`` is the one that completes it: an export consolidates when all seven are."""
    rest = tuple(t for t in CRITIQUE_TYPES if t not in types)
    run_all(services, folder, critique_types=rest)
    assert status_report(services, folder)["consolidated_file"] is None
    return services.documents.count(MODEL_CALLS)


def test_a_run_generates_every_type_and_consolidates_once(services):
    folder = export(services)

    plan = run_all(services, folder)

    report = status_report(services, folder)
    assert report["totals"].get("pending", 0) == 0
    assert report["totals"].get("failed", 0) == 0
    assert set(report["by_type"]) == set(CRITIQUE_TYPES)
    entries, names = consolidated(services, folder)
    assert any("/output_critiques/deletion_error_critique/" in n for n in names)
    original = json.loads(services.blobs.read(
        services.settings.exports_bucket,
        next(n for n in names if "/all_videos_with_captions_2" in n),
    ))  # fmt: skip
    reviewed = 0
    for before, after in zip(original, entries, strict=True):
        for task, caption in before["captions"].items():
            merged = after["captions"][task]
            assert {k: merged[k] for k in caption} == caption  # original fields untouched
            if caption["status"] not in ("approved", "rejected"):
                assert set(merged) == set(caption)
                continue
            reviewed += 1
            assert set(merged) - set(caption) == set(CRITIQUE_TYPES)
            for name in CRITIQUE_TYPES:
                record = merged[name]
                timestamp = record["timestamp"]
                assert timestamp.endswith("Z")
                if record["status"] == "skipped":
                    assert CRITIQUE_TYPES[name].skips_perfect
                    assert record == {
                        "status": "skipped",
                        "skip_reason": "Perfect score (5/5) - this critique type skips perfect "
                        "scores",
                        "timestamp": timestamp,
                    }
                    continue
                mode = "Video" if name == "video_model_critique" else "Text Only"
                if name == "worst_caption_generation":
                    assert record == {
                        "status": "success",
                        "model": "offline-gpt-4.1",
                        "prompt_name": name,
                        "mode": mode,
                        "bad_caption": record["bad_caption"],
                        "timestamp": timestamp,
                    }
                    assert record["bad_caption"]
                    continue
                critique_model = CRITIQUE_TYPES[name].default_model
                assert record == {
                    "status": "success",
                    "model": f"offline-{critique_model}",
                    "prompt_name": name,
                    "mode": mode,
                    "generated_critique": record["generated_critique"],
                    "revised_caption_by_generated_critique": record[
                        "revised_caption_by_generated_critique"
                    ],
                    # the revision's model, recorded because it differs from the critique's
                    "revision_model": "offline-gpt-4o",
                    "timestamp": timestamp,
                }
                assert record["generated_critique"]
                assert record["revised_caption_by_generated_critique"]
    assert reviewed * len(CRITIQUE_TYPES) == plan.items
    assert hub_messages(services) == [{"folder": folder, "files": [consolidated_name(folder)]}]


def test_a_rerun_of_an_unchanged_export_calls_no_model(services):
    folder = export(services)
    run_all(services, folder)
    calls = services.documents.count(MODEL_CALLS)
    records = {d.id: d.data["record"] for d in services.documents.iter_collection(
        items_collection(folder))}  # fmt: skip
    hub_messages(services)

    plan = run_all(services, folder)

    assert services.documents.count(MODEL_CALLS) == calls
    assert sum(c.generate for c in plan.by_type.values()) == 0
    after = {d.id: d.data["record"] for d in services.documents.iter_collection(
        items_collection(folder))}  # fmt: skip
    assert after == records
    assert hub_messages(services) == []  # consolidated once for this plan


def test_a_changed_model_regenerates_only_its_items(services, tmp_path):
    folder = export(services)
    run_all(services, folder)
    calls = services.documents.count(MODEL_CALLS)
    changed = Settings(**{**services.settings.model_dump(), "critique_models":
                          {"blind_model_critique": "gemini-2.5-flash"}})  # fmt: skip
    services.settings = changed

    plan = run_all(services, folder)

    generated = {name: counts.generate for name, counts in plan.by_type.items()}
    assert generated["blind_model_critique"] > 0
    assert sum(generated.values()) == generated["blind_model_critique"]
    # critique + revision per regenerated item
    assert services.documents.count(MODEL_CALLS) == calls + 2 * generated["blind_model_critique"]
    entries, _names = consolidated(services, folder)
    models = {
        c["blind_model_critique"]["model"]
        for e in entries
        for c in e["captions"].values()
        if "blind_model_critique" in c
    }
    assert models == {"offline-gemini-2.5-flash"}


def test_every_job_delivered_twice_to_16_workers_consolidates_exactly_once(services):
    folder = export(services)
    plan = plan_run(services, CritiqueRequest(export_folder=folder))
    # Every job published a second time: at-least-once delivery, concurrent duplicates.
    jobs = [
        OutgoingMessage(json.dumps({"run": folder, "item": d.id, "key": d.data["key"]}).encode())
        for d in services.documents.iter_collection(items_collection(folder))
        if d.data["status"] == "pending"
    ]
    assert len(jobs) == plan.published
    # A duplicate meeting its twin's lease is retried until the twin is done (BusyError):
    # as deployed, the subscription's attempts are sized for that wait, not the handler's
    # failure budget (README "Back-pressure"); here, with 10-50 ms backoff, 100 of them.
    spec = function_spec("critique_worker")
    services.bus.create_subscription(
        spec.subscription,
        JOBS.name,
        dead_letter_topic=spec.dead_letter_topic,
        max_delivery_attempts=100,
    )
    services.bus.publish_many(JOBS.name, jobs)

    stats = workers(services).run_until_idle(timeout=300)

    assert stats.handled["critique_worker"] == 2 * len(jobs)
    assert services.documents.count(f"{RUNS}/{folder}/consolidations") == 1
    assert hub_messages(services) == [{"folder": folder, "files": [consolidated_name(folder)]}]
    # each item was paid for at most once per successful generation (critique + revision)
    per_item = {}
    for doc in services.documents.iter_collection(MODEL_CALLS):
        item = doc.data["labels"]["item"]
        per_item[item] = per_item.get(item, 0) + 1
    assert max(per_item.values()) <= 2


def test_dry_run_counts_and_estimates_without_calling_or_writing(services):
    folder = export(services)

    plan = plan_run(services, CritiqueRequest(export_folder=folder, dry_run=True))

    assert services.documents.count(MODEL_CALLS) == 0
    assert services.documents.get(f"{RUNS}/{folder}") is None
    deletion = plan.by_type["deletion_error_critique"]
    insertion = plan.by_type["insertion_error_critique"]
    assert deletion.skipped > 0  # perfect pre-captions
    assert insertion.skipped == 0
    assert deletion.generate + deletion.skipped == insertion.generate
    # the offline provider answers here: free, with the list price said for comparison
    assert insertion.estimated_cost_usd == 0
    assert insertion.list_price_usd > 0


def test_dry_run_estimates_with_keys_include_the_video(services, llm_server):
    go_live(services, llm_server)
    folder = export(services)

    plan = plan_run(services, CritiqueRequest(export_folder=folder, dry_run=True))

    blind, video = plan.by_type["blind_model_critique"], plan.by_type["video_model_critique"]
    assert blind.estimated_cost_usd == pytest.approx(blind.list_price_usd)
    assert blind.generate == video.generate
    # the same model and caption, plus ~18k tokens of video per item at $1.25/M
    extra = video.estimated_cost_usd - blind.estimated_cost_usd
    assert extra > 0.9 * video.generate * services.settings.video_tokens_estimate * 1.25e-6
    assert llm_server.calls() == []


def test_a_budget_defers_items_and_a_rerun_continues(services, llm_server):
    folder = export(services)
    types = tuple(t for t in CRITIQUE_TYPES if t != "video_model_critique")
    others_done(services, folder, types)
    go_live(services, llm_server)
    llm_server.responder = answers
    full = plan_run(services, CritiqueRequest(export_folder=folder, dry_run=True,
                                              critique_types=types))  # fmt: skip
    cost = sum(c.estimated_cost_usd for c in full.by_type.values())

    first = run_all(services, folder, max_cost_usd=cost / 3, critique_types=types)

    deferred = sum(c.deferred for c in first.by_type.values())
    assert deferred > 0
    assert status_report(services, folder).get("consolidated_file") is None
    second = run_all(services, folder, critique_types=types)
    assert sum(c.generate for c in second.by_type.values()) == deferred
    assert status_report(services, folder)["consolidated_file"]


def test_failed_items_block_consolidation_until_a_rerun_fixes_only_them(services, llm_server):
    folder = export(services)
    # (the video critique fetches its clip, which is covered by its own test below)
    text_types = tuple(t for t in CRITIQUE_TYPES if t != "video_model_critique")
    offline_calls = others_done(services, folder, text_types)
    go_live(services, llm_server)
    llm_server.responder = lambda provider, model, body: (
        {"bad_caption": "x"} if "bad_caption" in json.dumps(body) else
        {"revised_caption": "r"} if "revised_caption" in json.dumps(body) else {"critique": "c"}
    )  # fmt: skip
    llm_server.fail_next(r"chat/completions", 500, times=12)
    llm_server.fail_next(r"generateContent", 503, times=8)

    first = run_all(services, folder, max_retries=1, critique_types=text_types)

    failed = status_report(services, folder)["totals"]["failed"]
    assert 0 < failed <= 20
    assert status_report(services, folder)["consolidated_file"] is None
    served = sum(1 for r in llm_server.calls() if r.status == 200)
    assert services.documents.count(MODEL_CALLS) - offline_calls == served  # each paid once
    failed_record = next(
        d.data["record"] for d in services.documents.iter_collection(items_collection(folder))
        if d.data["status"] == "failed"
    )  # fmt: skip
    assert failed_record["attempts"] == 1
    assert "after 1 attempt" in failed_record["error"]

    second = run_all(services, folder, critique_types=text_types)

    assert sum(c.failed_before for c in second.by_type.values()) == failed
    assert sum(c.generate for c in second.by_type.values()) == failed
    assert status_report(services, folder)["consolidated_file"]
    assert hub_messages(services) == [{"folder": folder, "files": [consolidated_name(folder)]}]
    assert first.plan_id.split("-")[0] == second.plan_id.split("-")[0]  # same items and keys


def test_a_critique_requests_message_runs_the_whole_pipeline(services):
    folder = export(services)
    handlers = {
        name: load_entry_point(FUNCTIONS_DIR, name)
        for name in ("critique_fanout", "critique_worker", "critique_consolidate")
    }
    services.bus.publish(
        "critique-requests",
        json.dumps({"export_folder": folder, "critique_types": ["blind_model_critique"]}).encode(),
    )

    stats = build_runtime(services, handlers=handlers).run_until_idle(timeout=300)

    # THEN the one type is generated; the export waits for the other six
    assert stats.handled["critique_fanout"] == 1
    report = status_report(services, folder)
    assert set(report["by_type"]) == {"blind_model_critique"}
    assert not report["consolidated_file"]
    assert set(report["waiting_for"]) == set(CRITIQUE_TYPES) - {"blind_model_critique"}
    assert set(report["waiting_for"].values()) == {"not started"}

    # WHEN a message asks for every type, THEN the export is consolidated
    services.bus.publish("critique-requests", json.dumps({"export_folder": folder}).encode())
    build_runtime(services, handlers=handlers).run_until_idle(timeout=300)
    report = status_report(services, folder)
    assert report["consolidated_file"]
    assert report["waiting_for"] == {}


# The model server does not decode it: an MP4 header and padding stand for a clip.
CLIP = b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isom" + bytes(4096)


def test_the_video_critique_watches_the_clip_or_fails_saying_why(services, llm_server):
    from llmfake import DEFAULT_GEMINI_KEY  # noqa: PLC0415

    services.settings = Settings(**{**services.settings.model_dump(),
                                    "gemini_api_key": DEFAULT_GEMINI_KEY,
                                    "gemini_base_url": llm_server.gemini_base_url})  # fmt: skip
    folder = export(services)
    # GIVEN an export whose first video lives in the videos bucket; the others cannot be
    # fetched from here (no network)
    bucket = services.settings.exports_bucket
    name = next(i.name for i in services.blobs.list(bucket, f"{folder}/all_videos_with_captions_"))
    entries = json.loads(services.blobs.read(bucket, name))
    services.blobs.write(services.settings.videos_bucket, "clips/first.mp4", CLIP,
                         content_type="video/mp4")  # fmt: skip
    first = next(e for e in entries if any(
        c.get("status") in ("approved", "rejected") for c in e["captions"].values()))  # fmt: skip
    first["video_url"] = f"gs://{services.settings.videos_bucket}/clips/first.mp4"
    services.blobs.write(bucket, name, json.dumps(entries).encode())
    llm_server.responder = lambda provider, model, body: {"critique": "the bottle is green"}

    run_all(services, folder, critique_types=("video_model_critique",))

    items = {d.data["video_id"]: d.data for d in services.documents.iter_collection(
        items_collection(folder))}  # fmt: skip
    watched = [d for v, d in items.items() if v == first["video_id"]]
    assert watched
    assert all(d["status"] == "success" for d in watched)
    others = [d for v, d in items.items() if v != first["video_id"]]
    assert others
    assert all(d["status"] == "failed" for d in others)
    assert "could not be fetched" in others[0]["record"]["error"]
    bodies = [json.dumps(r.body) for r in llm_server.calls(provider="gemini")]
    assert any("inline_data" in b or "inlineData" in b for b in bodies)
    assert status_report(services, folder)["consolidated_file"] is None


def test_a_consolidation_whose_function_died_is_finished_by_a_redelivery(services):
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    from shared.core.errors import TransientError  # noqa: PLC0415
    from shared.critiques.consolidate import consolidate_run  # noqa: PLC0415
    from shared.critiques.messages import ConsolidationRequest, CritiqueJob  # noqa: PLC0415
    from shared.critiques.store import runs_path  # noqa: PLC0415
    from shared.critiques.worker import process_job  # noqa: PLC0415

    folder = export(services)
    others_done(services, folder, ("blind_model_critique",))
    run_all(services, folder, critique_types=("blind_model_critique",))
    hub_messages(services)
    # GIVEN the consolidating function died after its claim, before writing the file
    (claim,) = services.documents.iter_collection(f"{RUNS}/{folder}/consolidations")
    plan_id = claim.data["plan_id"]
    soon = datetime.now(UTC) + timedelta(minutes=5)
    services.documents.update(claim.path, {"done_at": None, "holder": "m1"})
    services.documents.update(runs_path(folder), {
        "consolidated_plan": None,
        "consolidating": {"holder": "m1", "plan_id": plan_id, "until": soon},
    })  # fmt: skip
    bucket = services.settings.exports_bucket
    services.blobs.delete(bucket, f"{folder}/{consolidated_name(folder)}")

    # WHEN another message asks while the lease is live THEN it is sent back to retry later
    request = ConsolidationRequest(run=folder, plan_id=plan_id)
    with pytest.raises(TransientError, match="another delivery is consolidating"):
        consolidate_run(services, request, delivery="m2")
    assert consolidate_run(services, ConsolidationRequest(run=folder, plan_id="old")) == "stale"

    # WHEN the lease has run out and a job of the run is delivered again
    past = datetime.now(UTC) - timedelta(hours=1)
    services.documents.update(runs_path(folder), {"consolidating.until": past})
    item = next(
        d for d in services.documents.iter_collection(items_collection(folder))
        if d.data["status"] == "success"
    )  # fmt: skip
    job = CritiqueJob(run=folder, item=item.id, key=item.data["key"])
    assert process_job(services, job, delivery="again") == "success"
    workers(services).run_until_idle(timeout=300)

    # THEN the item is left as it was and the consolidation is completed, once
    assert services.documents.get(item.path).data == item.data
    assert services.blobs.exists(bucket, f"{folder}/{consolidated_name(folder)}")
    assert len(hub_messages(services)) == 1
    assert process_job(services, job, delivery="third") == "success"
    workers(services).run_until_idle(timeout=300)
    assert hub_messages(services) == []
    assert consolidate_run(services, request, delivery="m3") == "done"


def test_a_consolidation_overtaken_by_a_newer_plan_is_not_marked_and_hands_over(services):
    from shared.critiques.consolidate import (  # noqa: PLC0415
        _begin_consolidation,
        _end_consolidation,
        consolidate,
        request_consolidation,
    )
    from shared.critiques.messages import CONSOLIDATIONS, ConsolidationRequest  # noqa: PLC0415
    from shared.critiques.store import runs_path  # noqa: PLC0415

    folder = export(services)
    others_done(services, folder, ("blind_model_critique",))
    run_all(services, folder, critique_types=("blind_model_critique",))
    hub_messages(services)
    services.bus.create_subscription("probe-consolidations", CONSOLIDATIONS.name)
    run = services.documents.get(runs_path(folder)).data
    # GIVEN a consolidation of plan p1 under way (the run marked unconsolidated again)
    services.documents.update(runs_path(folder), {"plan_id": "p1", "consolidated_plan": None})
    p1 = ConsolidationRequest(run=folder, plan_id="p1")
    claim = f"{RUNS}/{folder}/consolidations/p1"
    timestamp = _begin_consolidation(services, p1, "d1")
    assert timestamp == run["timestamp"]
    # ... and another plan's consolidation is kept waiting meanwhile
    assert _begin_consolidation(services, p1, "d2") == "held"

    # WHEN the run is planned again (p2) before p1's file is written
    services.documents.update(runs_path(folder), {"plan_id": "p2"})
    name = consolidate(services, folder, timestamp)

    # THEN p1 is not marked consolidated, the lease is free for p2's consolidation
    assert _end_consolidation(services, p1, "d1", name=name) is False
    after = services.documents.get(runs_path(folder)).data
    assert (after["consolidated_plan"], after["consolidating"]) == (None, None)
    assert services.documents.get(claim).data["done_at"] is None
    assert request_consolidation(services, folder)
    asks = [json.loads(m.data) for m in services.bus.pull("probe-consolidations", 10)]
    assert asks == [{"run": folder, "plan_id": "p2"}]
    assert hub_messages(services) == []


def test_force_regenerate_consolidates_again_and_a_replan_in_flight_pays_once(services):
    folder = export(services)
    types = ("blind_model_critique",)
    calls = others_done(services, folder, types)
    # GIVEN a plan made twice before any worker ran (a redelivered fan-out)
    first = plan_run(services, CritiqueRequest(export_folder=folder, critique_types=types))
    second = plan_run(services, CritiqueRequest(export_folder=folder, critique_types=types))
    assert second.by_type["blind_model_critique"].in_progress == first.published
    workers(services).run_until_idle(timeout=300)

    # THEN each item was generated once (critique + revision) and consolidated once
    assert services.documents.count(MODEL_CALLS) == calls + 2 * first.published
    assert services.documents.count(f"{RUNS}/{folder}/consolidations") == 1
    earlier: list[str] = []
    assert len(hub_messages(services, versions=earlier)) == 1

    # WHEN everything is regenerated THEN it is consolidated once more, with the new records,
    # and published again as a new version of the file
    run_all(services, folder, critique_types=types, force_regenerate=True)
    assert services.documents.count(MODEL_CALLS) == calls + 4 * first.published
    assert services.documents.count(f"{RUNS}/{folder}/consolidations") == 2
    versions: list[str] = []
    assert len(hub_messages(services, versions=versions)) == 1
    assert versions == [services.documents.get(f"{RUNS}/{folder}").data["plan_id"]]
    assert versions != earlier


def calls_by_run(services):
    runs = {}
    for doc in services.documents.iter_collection(MODEL_CALLS):
        labels = doc.data["labels"]
        runs.setdefault(labels["run"], []).append(labels["item"])
    return runs


def test_a_new_export_regenerates_only_the_caption_that_changed(services, campaign, tmp_path):
    import shutil  # noqa: PLC0415

    # GIVEN a finished run over an export
    first = export(services)
    run_all(services, first)
    entries, _names = consolidated(services, first)
    video_id, task = next(
        (e["video_id"], t) for e in entries for t, c in e["captions"].items()
        if c.get("status") == "approved"
        and c["caption_data"].get("initial_caption_rating_score") != 5
    )  # fmt: skip
    # WHEN the annotator rewrites that caption, and a new export is critiqued
    edited = tmp_path / "campaign"
    shutil.copytree(campaign, edited)
    feedback = edited / task / f"{video_id}_feedback.json"
    data = json.loads(feedback.read_text())
    data["final_caption"] = "A rewritten caption: the subject now waves at the camera."
    feedback.write_text(json.dumps(data, indent=2))
    upload_folder(services, edited, "default")
    for event in captured_events(services):
        ingest_event(services, event)
    second = run_export(services, ExportRequest(ignore_errors=True), request_id="y").folder
    assert second != first
    hub_messages(services)
    plan = run_all(services, second)

    # THEN only the changed caption's items called a model; everything else was reused
    changed = {
        f"{video_id}~{task}~{name}": 2 if critique.revised else 1
        for name, critique in CRITIQUE_TYPES.items()
        if not critique.skips_perfect or data["initial_caption_rating_score"] != 5
    }
    called = calls_by_run(services)[second]
    assert sorted(called) == sorted(i for i, n in changed.items() for _ in range(n))
    assert sum(c.generate for c in plan.by_type.values()) == len(changed)
    assert sum(c.reused for c in plan.by_type.values()) > 10 * len(changed)
    report = status_report(services, second)
    assert {status for status, n in report["totals"].items() if n} <= {"success", "skipped"}
    # the new consolidated file carries the reused records unchanged, and the new one
    new_entries, names = consolidated(services, second)
    before = {e["video_id"]: e for e in entries}
    for entry in new_entries:
        for name, caption in entry["captions"].items():
            old = before[entry["video_id"]]["captions"][name]
            for critique in CRITIQUE_TYPES:
                if critique not in caption:
                    continue
                if (entry["video_id"], name) == (video_id, task):
                    assert caption["caption_data"]["final_caption"] == data["final_caption"]
                elif caption[critique]["status"] == "skipped":  # decided anew, no model
                    assert caption[critique]["skip_reason"] == old[critique]["skip_reason"]
                else:
                    assert caption[critique] == old[critique]  # reused as it was
    assert any("output_critiques/insertion_error_critique/" in n for n in names)
    # AND --force-regenerate does not reuse: it pays again
    run_all(services, second, critique_types=("blind_model_critique",), force_regenerate=True)
    assert len(calls_by_run(services)[second]) > len(called)


def test_a_caption_changed_in_place_regenerates_only_its_items(services):
    folder = export(services)
    run_all(services, folder)
    bucket = services.settings.exports_bucket
    (name,) = [
        i.name for i in services.blobs.list(bucket, f"{folder}/")
        if i.name.rsplit("/", 1)[-1].startswith("all_videos_with_captions_2")
    ]  # fmt: skip
    entries = json.loads(services.blobs.read(bucket, name))
    entry = next(e for e in entries if any(c.get("status") == "rejected"
                                           for c in e["captions"].values()))  # fmt: skip
    task = next(t for t, c in entry["captions"].items() if c.get("status") == "rejected")
    entry["captions"][task]["caption_data"]["final_caption"] = "Edited in the export itself."
    services.blobs.write(bucket, name, json.dumps(entries, indent=2).encode())
    before = {doc.id for doc in services.documents.iter_collection(MODEL_CALLS)}

    plan = run_all(services, folder)

    items = [
        doc.data["labels"]["item"] for doc in services.documents.iter_collection(MODEL_CALLS)
        if doc.id not in before
    ]  # fmt: skip
    assert items
    assert {i.rsplit("~", 1)[0] for i in items} == {f"{entry['video_id']}~{task}"}
    assert sum(c.generate for c in plan.by_type.values()) == len(set(items))
    assert status_report(services, folder)["consolidated_file"]


def test_a_failed_revision_keeps_its_critique_and_the_retry_pays_only_for_the_revision(
    services, llm_server
):
    go_live(services, llm_server)
    folder = export(services)
    types = ("insertion_error_critique",)
    # GIVEN the revision model answers nothing usable (the critique model answers well)
    llm_server.responder = lambda provider, model, body: (
        "{no json" if "revised_caption" in json.dumps(body) else answers(provider, model, body)
    )  # fmt: skip
    run_all(services, folder, critique_types=types, max_retries=1)
    failed = [
        d.data for d in services.documents.iter_collection(items_collection(folder))
        if d.data["status"] == "failed"
    ]  # fmt: skip
    assert failed
    assert all(d["critique_step"]["generated_critique"] == "c" for d in failed)
    assert "revision failed" in failed[0]["record"]["error"]
    critique_calls = sum("revised_caption" not in json.dumps(r.body) for r in llm_server.calls())
    assert critique_calls == len(failed)

    # WHEN the revision model recovers and the run is re-run
    llm_server.responder = answers
    run_all(services, folder, critique_types=types)

    # THEN only revisions were asked again, and every record carries the first critique
    again = llm_server.calls()[critique_calls + len(failed) :]
    assert again
    assert all("revised_caption" in json.dumps(r.body) for r in again)
    records = [
        d.data["record"] for d in services.documents.iter_collection(items_collection(folder))
    ]
    assert {r["status"] for r in records} == {"success"}
    assert {r["generated_critique"] for r in records} == {"c"}
    assert {r["revised_caption_by_generated_critique"] for r in records} == {"r"}


def test_an_unexpected_error_hands_the_item_back_for_the_next_delivery(services):
    from shared.critiques.messages import CritiqueJob  # noqa: PLC0415
    from shared.critiques.worker import process_job  # noqa: PLC0415
    from shared.llm.client import ModelClient  # noqa: PLC0415

    class Exploding:  # a provider whose SDK raises something nobody expected
        name = "offline"

        def generate(self, request):
            raise RuntimeError("boom")

    folder = export(services)
    plan_run(
        services, CritiqueRequest(export_folder=folder, critique_types=("blind_model_critique",))
    )
    item = next(
        d for d in services.documents.iter_collection(items_collection(folder))
        if d.data["status"] == "pending"
    )  # fmt: skip
    job = CritiqueJob(run=folder, item=item.id, key=item.data["key"])
    exploding = ModelClient(services.settings, services.documents, {"offline": Exploding()})
    services.remotes.install(ModelClient, services.settings, exploding)

    with pytest.raises(RuntimeError, match="boom"):
        process_job(services, job, delivery="first")

    after = services.documents.get(item.path).data
    assert (after["status"], after.get("delivery"), after.get("lease_until")) == (
        "pending",
        None,
        None,
    )
    services.remotes.install(ModelClient, services.settings, None)
    assert process_job(services, job, delivery="second") == "success"


def test_an_item_whose_worker_died_and_whose_message_is_gone_is_resent_by_a_rerun(services):
    from datetime import UTC, datetime, timedelta  # noqa: PLC0415

    folder = export(services)
    types = ("blind_model_critique",)
    run_all(services, folder, critique_types=types)
    # GIVEN an item left running by a worker that died, its lease run out, its message
    # dead-lettered (nothing queued for it any more)
    item = next(services.documents.iter_collection(items_collection(folder)))
    past = datetime.now(UTC) - timedelta(minutes=1)
    services.documents.update(item.path, {"status": "running", "delivery": "dead",
                                          "lease_until": past, "record": None})  # fmt: skip
    # and one running under a live lease (its worker is still at it)
    other = list(services.documents.iter_collection(items_collection(folder)))[1]
    soon = datetime.now(UTC) + timedelta(minutes=5)
    services.documents.update(other.path, {"status": "running", "delivery": "alive",
                                           "lease_until": soon})  # fmt: skip

    # WHEN the run is re-run
    plan = run_all(services, folder, critique_types=types)

    # THEN the orphan gets a job and completes; the live one is left to its worker
    assert plan.by_type["blind_model_critique"].in_progress == 2
    assert plan.published == 1
    assert services.documents.get(item.path).data["status"] == "success"
    assert services.documents.get(other.path).data["status"] == "running"


def test_two_plans_of_one_run_are_never_written_at_once(services):
    from shared.core.errors import TransientError  # noqa: PLC0415
    from shared.critiques.plan import _planning  # noqa: PLC0415

    folder = export(services)
    request = CritiqueRequest(export_folder=folder, critique_types=("blind_model_critique",))

    with _planning(services, folder), pytest.raises(TransientError, match="another plan"):
        plan_run(services, request)

    assert services.documents.count(items_collection(folder)) == 0
    assert plan_run(services, request).published > 0  # once the first one is done


def test_each_type_works_on_the_pre_caption_and_worst_caption_on_the_final_one(services):
    import re  # noqa: PLC0415

    from shared.adapters.models.offline import OfflineProvider  # noqa: PLC0415
    from shared.llm.client import ModelClient  # noqa: PLC0415
    from shared.ports.models import TextPart  # noqa: PLC0415

    class Capturing(OfflineProvider):
        """The offline provider, keeping every request it answers."""

        def __init__(self):
            self.requests = []

        def generate(self, request):
            self.requests.append(request)
            return super().generate(request)

    provider = Capturing()
    client = ModelClient(services.settings, services.documents, {"offline": provider})
    services.remotes.install(ModelClient, services.settings, client)
    folder = export(services)
    bucket = services.settings.exports_bucket
    (listing,) = [
        i.name for i in services.blobs.list(bucket, f"{folder}/all_videos_with_captions_")
    ]
    captions = {
        (entry["video_id"], task): caption["caption_data"]
        for entry in json.loads(services.blobs.read(bucket, listing))
        for task, caption in entry["captions"].items()
        if "caption_data" in caption
    }

    run_all(services, folder)

    def block(request, name):
        text = "\n".join(p.text for p in request.parts if isinstance(p, TextPart))
        found = re.search(rf"<<<{name}>>>\n(.*?)\n<<<end {name}>>>", text, re.DOTALL)
        return found.group(1) if found else None

    seen = set()
    for request in provider.requests:
        video_id, task, critique_type = request.labels["item"].split("~")
        data = captions[(video_id, task)]
        prompt = request.labels["prompt_name"]
        seen.add(prompt)
        if prompt == "worst_caption_generation":
            assert block(request, "caption") == data["final_caption"]
            continue
        # the critiques, and the revision of each, work on the model's pre-caption
        assert block(request, "caption") == data["pre_caption"], (prompt, critique_type)
        if prompt in ("insertion_error_critique", "replacement_error_critique",
                      "deletion_error_critique", "nonconstructive_critique"):  # fmt: skip
            feedback = next(
                (data[f] for f in ("final_feedback", "initial_feedback", "gpt_feedback")
                 if isinstance(data.get(f), str) and data[f].strip()),
                "",
            )  # fmt: skip
            assert block(request, "feedback") == feedback
    assert seen == {*CRITIQUE_TYPES, "revise_caption_with_critique"}
    assert any(
        data["pre_caption"] != data["final_caption"] for data in captions.values()
    )  # the check above tells the two apart


def _texts(value):
    """Every string in a request body (OpenAI messages or Gemini contents)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _texts(item)
    elif isinstance(value, list):
        for item in value:
            yield from _texts(item)


def test_the_model_server_gets_the_pre_caption_and_records_name_the_answering_version(
    services, llm_server
):
    import re  # noqa: PLC0415

    from llmfake import ANSWERED_VERSIONS  # noqa: PLC0415

    # GIVEN an export of captions whose pre-caption and final caption differ, live models
    folder = export(services)
    bucket = services.settings.exports_bucket
    (listing,) = [
        i.name for i in services.blobs.list(bucket, f"{folder}/all_videos_with_captions_")
    ]
    reviewed = [
        caption["caption_data"]
        for entry in json.loads(services.blobs.read(bucket, listing))
        for caption in entry["captions"].values()
        if caption["status"] in ("approved", "rejected")
    ]
    feedback_on = {}  # pre-caption -> the annotators' feedback on it (captions may share one)
    for data in reviewed:
        feedback_on.setdefault(data["pre_caption"], set()).add(next(
            (data[f] for f in ("final_feedback", "initial_feedback", "gpt_feedback")
             if isinstance(data.get(f), str) and data[f].strip()), ""))  # fmt: skip
    finals = {data["final_caption"] for data in reviewed}
    # (the clips cannot be fetched from here: the video critique runs offline first)
    others_done(services, folder, tuple(t for t in CRITIQUE_TYPES if t != "video_model_critique"))
    go_live(services, llm_server)
    llm_server.responder = answers

    # WHEN the six other types run live
    run_all(services, folder, critique_types=tuple(
        t for t in CRITIQUE_TYPES if t != "video_model_critique"))  # fmt: skip

    # THEN every request the server received carries the pre-caption (and the annotator's
    # feedback on it), except worst-caption generation, which starts from the final caption
    def block(text, name):
        found = re.search(rf"<<<{name}>>>\n(.*?)\n<<<end {name}>>>", text, re.DOTALL)
        return found.group(1) if found else None

    kinds = set()
    for call in llm_server.calls():
        text = "\n".join(_texts(call.body))
        caption = block(text, "caption")
        if "bad_caption" in json.dumps(call.body):
            kinds.add("worst")
            assert caption in finals
            continue
        kinds.add("revision" if "revised_caption" in json.dumps(call.body) else "critique")
        assert caption in feedback_on, caption
        feedback = block(text, "feedback")
        if feedback is not None:
            assert feedback in feedback_on[caption]
    assert kinds == {"worst", "revision", "critique"}
    assert any(d["pre_caption"] != d["final_caption"] for d in reviewed)

    # ... and each record names the model version that answered (OpenAI's dated snapshot)
    entries, _names = consolidated(services, folder)
    checked = set()
    for entry in entries:
        for caption in entry["captions"].values():
            for name, critique in CRITIQUE_TYPES.items():
                record = caption.get(name)
                if (
                    record is None
                    or name == "video_model_critique"
                    or record["status"] != "success"
                ):
                    continue
                answered = ANSWERED_VERSIONS.get(critique.default_model, critique.default_model)
                assert record["model"] == answered
                checked.add(answered)
                if name != "worst_caption_generation":
                    assert record["revision_model"] == ANSWERED_VERSIONS["gpt-4o"]
    assert ANSWERED_VERSIONS["gpt-4.1"] in checked

"""Critiques under chaos: 16 workers, every job delivered twice, 20% of model requests
failing (500/503), real SDKs against the local model server. Every item ends success or
skipped, one consolidation, one hub-uploads message, and the ledger counts each paid call
once."""

from __future__ import annotations

import json

from captions_support import captured_events, watch
from llmfake import DEFAULT_GEMINI_KEY, DEFAULT_OPENAI_KEY, FakeLLM, llm_server_fixture  # noqa: F401

from shared.bootstrap import FUNCTIONS_DIR, build_context, build_runtime, use_context
from shared.captions.export import run_export
from shared.captions.ingest import ingest_event
from shared.captions.messages import ExportRequest
from shared.captions.upload import upload_folder
from shared.config import Settings
from shared.critiques.messages import JOBS, CritiqueRequest
from shared.critiques.plan import plan_run
from shared.critiques.status import status_report
from shared.critiques.store import RUNS, items_collection
from shared.critiques.types import CRITIQUE_TYPES
from shared.demo.campaign import generate_campaign
from shared.llm.ledger import MODEL_CALLS
from shared.platform.runtime.dispatch import load_entry_point
from shared.ports import OutgoingMessage


def test_duplicates_and_injected_failures_end_in_one_consolidation(tmp_path, llm_server: FakeLLM):
    campaign = tmp_path / "campaign"
    generate_campaign(campaign, videos=20, seed=5, include_bad_files=False)
    settings = Settings(
        home=tmp_path / "home",
        log_level="CRITICAL",
        workers=16,
        hf_dataset="team/captions",
        min_backoff_seconds=0.01,
        max_backoff_seconds=0.05,
        openai_api_key=DEFAULT_OPENAI_KEY,
        openai_base_url=llm_server.openai_base_url,
        gemini_api_key=DEFAULT_GEMINI_KEY,
        gemini_base_url=llm_server.gemini_base_url,
        model_max_retries=8,
        model_limits={m: {"requests_per_minute": 100_000, "tokens_per_minute": 10**9}
                      for m in ("gpt-4.1", "gpt-4o", "gemini-2.5-pro")},
    )  # fmt: skip
    services = build_context(settings)
    use_context(services)
    try:
        watch(services)
        upload_folder(services, campaign, "default")
        for event in captured_events(services):
            ingest_event(services, event)
        folder = run_export(services, ExportRequest(ignore_errors=True), request_id="x").folder
        services.bus.create_subscription("probe-hub", "hub-uploads")
        llm_server.responder = lambda provider, model, body: (
            {"bad_caption": "x"} if "bad_caption" in json.dumps(body) else
            {"revised_caption": "r"} if "revised_caption" in json.dumps(body) else
            {"critique": "c"}
        )  # fmt: skip
        llm_server.fail_fraction(r"chat/completions", 500, 0.2, seed=1)
        llm_server.fail_fraction(r"generateContent", 503, 0.2, seed=2)

        # The video critique fetches clips (no network here): it is generated offline first,
        # so that the run of every other type, under chaos, is the one that completes it.
        offline = build_context(Settings(**{**settings.model_dump(), "llm_provider": "offline"}))
        use_context(offline)  # what the entry points run with
        try:
            video = CritiqueRequest(export_folder=folder, critique_types=["video_model_critique"])
            plan_run(offline, video)
            handlers = {
                name: load_entry_point(FUNCTIONS_DIR, name)
                for name in ("critique_worker", "critique_consolidate")
            }
            build_runtime(offline, handlers=handlers).run_until_idle(timeout=600)
            offline_calls = offline.documents.count(MODEL_CALLS)
            video_items = offline.documents.count(items_collection(folder))
        finally:
            offline.close()
        use_context(services)
        types = tuple(t for t in CRITIQUE_TYPES if t != "video_model_critique")
        request = CritiqueRequest(export_folder=folder, critique_types=types, max_retries=9)
        plan = plan_run(services, request)
        duplicates = [
            OutgoingMessage(
                json.dumps(
                    {
                        "run": folder,
                        "item": d.id,
                        "key": d.data["key"],
                        "max_retries": request.max_retries,
                    }
                ).encode()  # as planned
            )
            for d in services.documents.iter_collection(items_collection(folder))
            if d.data["status"] == "pending"
        ]
        services.bus.publish_many(JOBS.name, duplicates)
        handlers = {
            name: load_entry_point(FUNCTIONS_DIR, name)
            for name in ("critique_worker", "critique_consolidate")
        }
        build_runtime(services, handlers=handlers).run_until_idle(timeout=600)

        report = status_report(services, folder)
        assert set(report["totals"]) <= {"success", "skipped", "pending", "running",
                                         "deferred", "failed"}  # fmt: skip
        assert report["totals"].get("failed", 0) == 0
        done = report["totals"]["success"] + report["totals"].get("skipped", 0)
        assert done == plan.items + video_items
        assert report["consolidated_file"]
        assert services.documents.count(f"{RUNS}/{folder}/consolidations") == 1
        messages = services.bus.pull("probe-hub", max_messages=100)
        assert len(messages) == 1
        failures = sum(1 for r in llm_server.calls() if r.status >= 500)
        assert failures > 0.1 * len(llm_server.calls())  # the chaos really happened
        served = sum(1 for r in llm_server.calls() if r.status == 200)
        assert services.documents.count(MODEL_CALLS) - offline_calls == served  # paid once
    finally:
        use_context(None)
        services.close()

"""What the critique tests share: a reviewed campaign, ingested into a fresh home whose
runtime context the functions use, with a probe on hub-uploads to count what is queued."""

from __future__ import annotations

import pytest
from captions_support import captured_events, watch

from shared.bootstrap import build_context, use_context
from shared.captions.ingest import ingest_event
from shared.captions.upload import upload_folder
from shared.config import Settings
from shared.demo.campaign import generate_campaign


@pytest.fixture(scope="module")
def campaign(tmp_path_factory):
    folder = tmp_path_factory.mktemp("campaign") / "c"
    generate_campaign(folder, videos=20, seed=11, include_bad_files=False)
    return folder


@pytest.fixture
def services(tmp_path, campaign):
    settings = Settings(home=tmp_path / "home", log_level="CRITICAL", workers=16,
                        hf_dataset="team/captions", min_backoff_seconds=0.01,
                        max_backoff_seconds=0.05)  # fmt: skip
    built = build_context(settings)
    use_context(built)
    watch(built)
    upload_folder(built, campaign, "default")
    for event in captured_events(built):
        ingest_event(built, event)
    built.bus.create_subscription("probe-hub", "hub-uploads")
    yield built
    use_context(None)
    built.close()

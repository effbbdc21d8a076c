"""Fixtures for the end-to-end tests on Google's emulators."""

from __future__ import annotations

import pytest
from contexts import make_services_fixture  # noqa: F401 (fixture make_services)
from emulators import start_fake_gcs, stop_emulator, unique

from shared.adapters.gcp.pubsub import PubSubSubscriber
from shared.adapters.gcp.topology import ensure_buckets, ensure_topology
from shared.bootstrap import build_context, use_context
from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.platform.runtime.catalog import storage_topic


@pytest.fixture
def cloud(pubsub_env, firestore_env, gcp_project, emulator_logs, monkeypatch):
    """GCP-backed services on the emulators, with a GCS that notifies the storage topic."""
    settings = Settings(
        backend="gcp",
        project=gcp_project,
        annotations_bucket=unique("annotations"),
        exports_bucket=unique("exports"),
        videos_bucket=unique("videos"),
        frames_bucket=unique("frames"),
        log_level="CRITICAL",
    )
    # The topic must exist before fake-gcs-server publishes to it.
    ensure_topology(settings, specs=FUNCTIONS)
    gcs = start_fake_gcs(
        emulator_logs,
        pubsub=pubsub_env,
        project=settings.project,
        topic=storage_topic(settings.annotations_bucket),
    )
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.url)
    services = build_context(settings)
    ensure_buckets(settings)
    use_context(services)
    subscriber = PubSubSubscriber(settings)
    yield services, subscriber
    use_context(None)
    subscriber.close()
    services.close()
    stop_emulator(gcs)

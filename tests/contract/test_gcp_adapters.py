"""What only the GCP adapters have: vendor errors translated at the boundary, contention
reported as ContentionError, and the topology that ``ensure_topology`` creates.

Error translation uses stub clients passed to the constructors (no emulator needed); the
topology, missing-topic and contention checks run on the emulators.
"""

from __future__ import annotations

import threading

import pytest
from emulators import EMULATOR_MARKS
from google.api_core import exceptions as gexc
from google.cloud import pubsub_v1

from shared.adapters.gcp._errors import translate
from shared.adapters.gcp.firestore import FirestoreDocumentStore
from shared.adapters.gcp.pubsub import PubSubMessageBus, PubSubSubscriber
from shared.adapters.gcp.storage import GcsBlobStore
from shared.adapters.gcp.topology import ensure_topology
from shared.catalog import FUNCTIONS
from shared.config import Settings
from shared.core.errors import (
    AlreadyExistsError,
    ContentionError,
    NotFoundError,
    PreconditionFailedError,
    TransientError,
    VidcurateError,
)


class FailingBlob:
    def __init__(self, error):
        self.error = error

    def download_as_bytes(self):
        raise self.error

    def upload_from_string(self, *args, **kwargs):
        raise self.error


class FailingBucket:
    def __init__(self, error):
        self.error = error

    def blob(self, name, generation=None):
        return FailingBlob(self.error)

    def get_blob(self, name):
        raise self.error


class FailingStorageClient:
    def __init__(self, error):
        self.error = error

    def bucket(self, name):
        return FailingBucket(self.error)


class FailingDocument:
    def __init__(self, error):
        self.error = error

    def get(self):
        raise self.error

    def set(self, data, merge=False):
        raise self.error


class FailingFirestoreClient:
    def __init__(self, error):
        self.error = error

    def document(self, path):
        return FailingDocument(self.error)


@pytest.mark.parametrize(
    ("vendor_error", "ours"),
    [
        (gexc.PreconditionFailed("412"), PreconditionFailedError),
        (gexc.NotFound("404"), NotFoundError),
        (gexc.AlreadyExists("409"), AlreadyExistsError),
        (gexc.Aborted("409 contention"), ContentionError),
        (gexc.TooManyRequests("429"), TransientError),
        (gexc.ResourceExhausted("quota"), TransientError),
        (gexc.ServiceUnavailable("503"), TransientError),
        (gexc.InternalServerError("500"), TransientError),
        (gexc.DeadlineExceeded("504"), TransientError),
        (ConnectionResetError("reset"), TransientError),
        (gexc.Forbidden("403"), VidcurateError),
    ],
)
def test_vendor_errors_map_to_ours(vendor_error, ours):
    translated = translate(vendor_error, "thing")

    assert type(translated) is ours
    assert "thing" in str(translated)


@pytest.mark.parametrize(
    ("vendor_error", "ours"),
    [
        (gexc.ServiceUnavailable("503"), TransientError),
        (gexc.TooManyRequests("429"), TransientError),
        (gexc.NotFound("404"), NotFoundError),
        (gexc.PreconditionFailed("412"), PreconditionFailedError),
    ],
)
def test_blob_store_raises_our_errors_chained_to_the_vendor_error(vendor_error, ours):
    store = GcsBlobStore(Settings(), client=FailingStorageClient(vendor_error))

    with pytest.raises(ours) as read_error:
        store.read("b", "o")
    with pytest.raises(ours) as write_error:
        store.write("b", "o", b"x", if_generation_match=0)

    assert read_error.value.__cause__ is vendor_error
    assert write_error.value.__cause__ is vendor_error


def test_document_store_raises_our_errors_chained_to_the_vendor_error():
    unavailable = gexc.ServiceUnavailable("503")
    store = FirestoreDocumentStore(Settings(), client=FailingFirestoreClient(unavailable))

    with pytest.raises(TransientError) as get_error:
        store.get("videos/v1")
    with pytest.raises(TransientError):
        store.set("videos/v1", {"a": 1})

    assert get_error.value.__cause__ is unavailable


@pytest.mark.usefixtures("pubsub_env")
class TestOnThePubSubEmulator:
    pytestmark = list(EMULATOR_MARKS)

    def test_publishing_to_a_missing_topic_raises_not_found(self, gcp_project):
        bus = PubSubMessageBus(Settings(project=gcp_project))
        try:
            with pytest.raises(NotFoundError):
                bus.publish("no-such-topic", b"x")
        finally:
            bus.close()

    def test_ensure_topology_creates_the_catalogue_idempotently(self, gcp_project):
        settings = Settings(
            project=gcp_project,
            max_delivery_attempts=7,
            min_backoff_seconds=0.5,
            max_backoff_seconds=30,
            ack_deadline_seconds=45,
        )

        ensure_topology(settings, specs=FUNCTIONS)
        ensure_topology(
            settings, specs=FUNCTIONS
        )  # a second run finds everything and changes nothing

        client = pubsub_v1.SubscriberClient()
        try:
            for spec in FUNCTIONS:
                sub = client.get_subscription(
                    request={"subscription": client.subscription_path(gcp_project, spec.name)}
                )
                assert sub.topic == client.topic_path(gcp_project, spec.source_topic(settings))
                assert sub.ack_deadline_seconds == 45
                policy = sub.dead_letter_policy
                assert policy.dead_letter_topic == client.topic_path(
                    gcp_project, spec.dead_letter_topic
                )
                assert policy.max_delivery_attempts == 7
                assert sub.retry_policy.minimum_backoff.total_seconds() == 0.5
                assert sub.retry_policy.maximum_backoff.total_seconds() == 30
                hold = client.get_subscription(
                    request={
                        "subscription": client.subscription_path(
                            gcp_project, spec.hold_subscription
                        )
                    }
                )
                assert hold.topic == policy.dead_letter_topic
        finally:
            client.close()

        subscriber = PubSubSubscriber(settings)
        try:
            assert subscriber.topic_of(FUNCTIONS[0].subscription) == FUNCTIONS[0].source_topic(
                settings
            )
            assert subscriber.pull(FUNCTIONS[0].subscription) == []
        finally:
            subscriber.close()


@pytest.mark.usefixtures("firestore_env")
class TestOnTheFirestoreEmulator:
    pytestmark = list(EMULATOR_MARKS)

    def test_a_transaction_aborted_on_every_attempt_raises_contention(self, gcp_project):
        # GIVEN two transactions that both read the document before either writes it
        store = FirestoreDocumentStore(Settings(project=gcp_project))
        store.set("counters/c", {"n": 0})
        barrier = threading.Barrier(2)
        outcomes = []

        def bump(tx):
            current = tx.get("counters/c")
            barrier.wait(timeout=30)
            tx.set("counters/c", {"n": current.data["n"] + 1})

        def work():
            try:
                store.run_transaction(bump, max_attempts=1)
                outcomes.append("committed")
            except ContentionError as exc:
                outcomes.append(exc)

        # WHEN both commit with a single attempt each
        threads = [threading.Thread(target=work) for _ in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        # THEN Firestore aborts one (ContentionError) and no update is lost
        try:
            failures = [o for o in outcomes if isinstance(o, ContentionError)]
            assert len(outcomes) == 2
            assert len(failures) >= 1
            assert store.get("counters/c").data == {"n": outcomes.count("committed")}
            assert all(isinstance(f.__cause__, ValueError | gexc.Aborted) for f in failures)
        finally:
            store.close()

"""`vidcurate serve` on the gcp backend: the runtime pulls from Pub/Sub subscriptions (the
emulator), fed by GCS notifications from fake-gcs-server, and the deployed entry points write
to the Firestore emulator."""

from __future__ import annotations

from emulators import EMULATOR_MARKS

from shared.bootstrap import build_runtime
from shared.platform.health import OBJECTS, PINGS, object_doc_id

pytestmark = list(EMULATOR_MARKS)


def test_the_runtime_serves_the_functions_from_pubsub_subscriptions(cloud):
    services, _subscriber = cloud
    bucket = services.settings.annotations_bucket
    uploaded = services.blobs.write(bucket, "cfg/subject/v9_review.json", b"{}")
    services.bus.publish("ping", b'{"hello": "emulator"}', {"via": "pubsub"})
    services.bus.publish("ping", b'{"fail": "permanent"}')

    stats = build_runtime(services).run_until_idle(timeout=120)

    assert stats.handled["echo_object"] == 1
    assert stats.handled["ping"] == 2
    assert stats.total_failed == 0
    obj = services.documents.get(f"{OBJECTS}/{object_doc_id(bucket, uploaded.name)}")
    assert obj is not None
    assert obj.data["generation"] == uploaded.generation
    (ping,) = services.documents.query(PINGS)
    assert ping.data["body"] == {"hello": "emulator"}
    assert ping.data["attributes"] == {"via": "pubsub"}
    (failure,) = services.documents.query("failures")
    assert "asked to fail permanently" in failure.data["error"]

"""Cloud Function ``ping``: echo a Pub/Sub message into the document store."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.platform.events import parse_pubsub_event
from shared.platform.health import record_ping
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("ping", get_context)
def ping(cloud_event: CloudEvent) -> None:
    record_ping(get_context().documents, parse_pubsub_event(cloud_event))

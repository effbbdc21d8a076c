"""Cloud Function ``ping``: echo a Pub/Sub message into the document store."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_services
from shared.events import parse_pubsub_event
from shared.runtime.entrypoint import entrypoint
from shared.services.ping import record_ping


@functions_framework.cloud_event
@entrypoint("ping")
def ping(cloud_event: CloudEvent) -> None:
    record_ping(get_services().documents, parse_pubsub_event(cloud_event))

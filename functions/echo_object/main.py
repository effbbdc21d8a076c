"""Cloud Function ``echo_object``: record the newest generation of each finalized object."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.platform.events import parse_storage_event
from shared.platform.health import record_object
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("echo_object", get_context)
def echo_object(cloud_event: CloudEvent) -> None:
    event = parse_storage_event(cloud_event)
    if not event.removed:  # the bucket's topic also carries deletions for other functions
        record_object(get_context().documents, event.object)

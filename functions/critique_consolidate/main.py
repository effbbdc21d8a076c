"""Cloud Function ``critique_consolidate``: a ``critique-consolidations`` message says a
run may be complete; write its consolidated file once and queue the Hub upload."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_services
from shared.events import parse_pubsub_event
from shared.runtime.entrypoint import entrypoint
from shared.services.critiques import ConsolidationRequest, consolidate_run


@functions_framework.cloud_event
@entrypoint("critique_consolidate")
def critique_consolidate(cloud_event: CloudEvent) -> str:
    event = parse_pubsub_event(cloud_event)
    return consolidate_run(
        get_services(),
        event.payload(ConsolidationRequest),
        delivery=event.message.message_id,
    )

"""Cloud Function ``critique_consolidate``: a ``critique-consolidations`` message says a
run may be complete; write its consolidated file once and queue the Hub upload."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.critiques.consolidate import consolidate_run
from shared.critiques.messages import ConsolidationRequest
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("critique_consolidate", get_context)
def critique_consolidate(cloud_event: CloudEvent) -> str:
    event = parse_pubsub_event(cloud_event)
    return consolidate_run(
        get_context(),
        event.payload(ConsolidationRequest),
        delivery=event.message.message_id,
    )

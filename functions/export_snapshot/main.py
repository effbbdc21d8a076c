"""Cloud Function ``export_snapshot``: an ``export-requests`` message (Cloud Scheduler, the
CLI, an operator) asks for an export; write it to the exports bucket and, if asked, queue
its publication on ``hub-uploads``."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.captions.export import ExportResult, run_export
from shared.captions.messages import ExportRequest
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("export_snapshot", get_context)
def export_snapshot(cloud_event: CloudEvent) -> ExportResult:
    event = parse_pubsub_event(cloud_event)
    # The publish time names the folder, so a redelivery completes the same export.
    return run_export(
        get_context(),
        event.payload(ExportRequest),
        request_id=event.message.message_id,
        now=event.message.publish_time,
    )

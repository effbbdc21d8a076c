"""Cloud Function ``critique_worker``: one ``critique-jobs`` message is one (video, task,
critique type); generate it, store it, and consolidate the run if it was the last."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_services
from shared.events import parse_pubsub_event
from shared.runtime.entrypoint import entrypoint
from shared.services.critiques import CritiqueJob, process_job


@functions_framework.cloud_event
@entrypoint("critique_worker")
def critique_worker(cloud_event: CloudEvent) -> str:
    event = parse_pubsub_event(cloud_event)
    return process_job(
        get_services(), event.payload(CritiqueJob), delivery=event.message.message_id
    )

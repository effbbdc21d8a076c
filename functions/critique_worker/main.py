"""Cloud Function ``critique_worker``: one ``critique-jobs`` message is one (video, task,
critique type); generate it, store it, and consolidate the run if it was the last."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.critiques.messages import CritiqueJob
from shared.critiques.worker import process_job
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("critique_worker", get_context)
def critique_worker(cloud_event: CloudEvent) -> str:
    event = parse_pubsub_event(cloud_event)
    return process_job(get_context(), event.payload(CritiqueJob), delivery=event.message.message_id)

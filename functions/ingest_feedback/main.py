"""Cloud Function ``ingest_feedback``: an annotation file was written to or removed from the
annotations bucket; record it on its (video, task) and derive the status."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.captions.ingest import IngestResult, ingest_event
from shared.platform.events import parse_storage_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("ingest_feedback", get_context)
def ingest_feedback(cloud_event: CloudEvent) -> IngestResult:
    return ingest_event(get_context(), parse_storage_event(cloud_event))

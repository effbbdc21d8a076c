"""Cloud Function ``ingest_feedback``: an annotation file was written to or removed from the
annotations bucket; record it on its (video, task) and derive the status."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_services
from shared.events import parse_storage_event
from shared.runtime.entrypoint import entrypoint
from shared.services.captions import IngestResult, ingest_event


@functions_framework.cloud_event
@entrypoint("ingest_feedback")
def ingest_feedback(cloud_event: CloudEvent) -> IngestResult:
    return ingest_event(get_services(), parse_storage_event(cloud_event))

"""Cloud Function ``hub_upload``: publish a finished export folder to a HF dataset repo."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint
from shared.publishing.messages import HubUploadRequest
from shared.publishing.upload import upload_export


@functions_framework.cloud_event
@entrypoint("hub_upload", get_context)
def hub_upload(cloud_event: CloudEvent) -> None:
    event = parse_pubsub_event(cloud_event)
    request = event.payload(HubUploadRequest)
    context = get_context()
    upload_export(context, context.hub(), request, request_id=event.message.message_id)

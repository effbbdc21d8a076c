"""Cloud Function ``hub_upload``: publish a finished export folder to a HF dataset repo."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import build_hub_publisher, get_services
from shared.events import parse_pubsub_event
from shared.runtime.entrypoint import entrypoint
from shared.services.hub import HubUploadRequest, upload_export


@functions_framework.cloud_event
@entrypoint("hub_upload")
def hub_upload(cloud_event: CloudEvent) -> None:
    event = parse_pubsub_event(cloud_event)
    request = event.payload(HubUploadRequest)
    services = get_services()
    upload_export(
        services,
        build_hub_publisher(services.settings),
        request,
        request_id=event.message.message_id,
    )

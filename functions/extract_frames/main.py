"""Cloud Function ``extract_frames``: a clip was finalized in the videos bucket; sample its
frames into the frames bucket and index them (once per clip generation)."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_services
from shared.events import parse_storage_event
from shared.runtime.entrypoint import entrypoint
from shared.services.videos import Outcome, extract_event


@functions_framework.cloud_event
@entrypoint("extract_frames")
def extract_frames(cloud_event: CloudEvent) -> Outcome:
    event = parse_storage_event(cloud_event)
    return extract_event(get_services(), event, delivery=event.context.id)

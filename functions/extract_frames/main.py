"""Cloud Function ``extract_frames``: a clip was finalized in the videos bucket; sample its
frames into the frames bucket and index them (once per clip generation)."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.media.extract import Outcome, extract_event
from shared.platform.events import parse_storage_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("extract_frames", get_context)
def extract_frames(cloud_event: CloudEvent) -> Outcome:
    event = parse_storage_event(cloud_event)
    return extract_event(get_context(), event, delivery=event.context.id)

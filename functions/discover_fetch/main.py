"""Cloud Function ``discover_fetch``: one ``clip-fetches`` message is one scored clip; download
it, transcribe its audio with word timestamps, send it on to review."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.discovery.messages import CandidateClip
from shared.discovery.stages import Outcome, fetch_clip
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("discover_fetch", get_context)
def discover_fetch(cloud_event: CloudEvent) -> Outcome:
    event = parse_pubsub_event(cloud_event)
    return fetch_clip(get_context(), event.payload(CandidateClip))

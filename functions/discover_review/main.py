"""Cloud Function ``discover_review``: one ``clip-reviews`` message is one heard clip; confirm
its words with both transcripts and store the clip with its mappings."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.discovery.messages import CandidateClip
from shared.discovery.stages import Outcome, review_clip
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("discover_review", get_context)
def discover_review(cloud_event: CloudEvent) -> Outcome:
    event = parse_pubsub_event(cloud_event)
    return review_clip(get_context(), event.payload(CandidateClip))

"""Cloud Function ``discover_score``: one ``clip-candidates`` message is one clip of a run; map
it to the vocabulary words it teaches and send it on, or reject it."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.discovery.messages import CandidateClip
from shared.discovery.stages import Outcome, score_clip
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("discover_score", get_context)
def discover_score(cloud_event: CloudEvent) -> Outcome:
    event = parse_pubsub_event(cloud_event)
    return score_clip(get_context(), event.payload(CandidateClip))

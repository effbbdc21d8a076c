"""Cloud Function ``analyze_frames``: one ``frame-analysis`` message is one clip; describe
its frames with the vision model (each frame once) and record what each call cost."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint
from shared.vision.messages import AnalysisJob
from shared.vision.worker import Outcome, analyze_clip


@functions_framework.cloud_event
@entrypoint("analyze_frames", get_context)
def analyze_frames(cloud_event: CloudEvent) -> Outcome:
    event = parse_pubsub_event(cloud_event)
    return analyze_clip(
        get_context(), event.payload(AnalysisJob), delivery=event.message.message_id
    )

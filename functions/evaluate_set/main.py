"""Cloud Function ``evaluate_set``: one ``set-evaluations`` message is one training set;
classify its images on numbered sheets with the vision model, compare the mix with the
target and write the evaluation (sheets, verdicts, plan) to the evaluations bucket."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint
from shared.trainsets.evaluate import Outcome, evaluate
from shared.trainsets.messages import SetEvaluation


@functions_framework.cloud_event
@entrypoint("evaluate_set", get_context)
def evaluate_set(cloud_event: CloudEvent) -> Outcome:
    event = parse_pubsub_event(cloud_event)
    outcome, _evaluation = evaluate(
        get_context(), event.payload(SetEvaluation), delivery=event.message.message_id
    )
    return outcome

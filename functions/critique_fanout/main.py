"""Cloud Function ``critique_fanout``: a ``critique-requests`` message asks for critiques of
an export; plan its items and publish one ``critique-jobs`` message per item to generate."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.critiques.messages import CritiqueRequest
from shared.critiques.plan import Plan, plan_run
from shared.platform.events import parse_pubsub_event
from shared.platform.runtime.entrypoint import entrypoint


@functions_framework.cloud_event
@entrypoint("critique_fanout", get_context)
def critique_fanout(cloud_event: CloudEvent) -> Plan:
    # A redelivery plans again: items already pending keep their key, so their jobs stay
    # valid; a duplicate job finds its item done and returns.
    return plan_run(get_context(), parse_pubsub_event(cloud_event).payload(CritiqueRequest))

"""Cloud Function ``register_set_image``: an image was finalized in a set's folder of the
sets bucket (by ``vidcurate sets add`` or any other tool); list it in the set's manifest."""

import functions_framework
from cloudevents.http import CloudEvent

from shared.bootstrap import get_context
from shared.platform.events import parse_storage_event
from shared.platform.runtime.entrypoint import entrypoint
from shared.trainsets.manifest import Registered, register_image


@functions_framework.cloud_event
@entrypoint("register_set_image", get_context)
def register_set_image(cloud_event: CloudEvent) -> Registered:
    event = parse_storage_event(cloud_event)
    return register_image(get_context(), event.object.name)

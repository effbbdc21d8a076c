"""Turn a delivery into the CloudEvent that Eventarc would send, and load entry points.

Storage triggers receive GCS Pub/Sub notifications (JSON_API_V1) and turn the event types
they asked for into ``google.cloud.storage.object.v1.{finalized,deleted,archived}`` events
(as Eventarc would); topic triggers receive
``google.cloud.pubsub.topic.v1.messagePublished`` events with the base64 message inside.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cloudevents.http import CloudEvent

from shared.core.errors import ConfigError, PermanentError
from shared.platform.events import (
    STORAGE_EVENT_TYPES,
    pubsub_event_attributes,
    pubsub_event_data,
    storage_event_attributes,
)
from shared.platform.runtime.catalog import FunctionSpec, StorageTrigger
from shared.platform.settings import PlatformSettings
from shared.ports.subscriber import ReceivedMessage

Handler = Callable[[CloudEvent], Any]


def to_cloud_event(
    spec: FunctionSpec, message: ReceivedMessage, settings: PlatformSettings
) -> CloudEvent | None:
    """The CloudEvent for ``spec``'s entry point, or None for events it does not take."""
    if isinstance(spec.trigger, StorageTrigger):
        event_type = message.attributes.get("eventType", "")
        if event_type not in spec.trigger.events:
            return None  # e.g. deletes for a finalized-only trigger, metadata updates
        try:
            resource = json.loads(message.data)
            bucket, name = resource["bucket"], resource["name"]
        except (ValueError, KeyError, TypeError) as exc:
            raise PermanentError(
                f"message {message.message_id}: not a GCS JSON_API_V1 notification"
            ) from exc
        attributes = storage_event_attributes(
            bucket, name, message.message_id, message.publish_time, STORAGE_EVENT_TYPES[event_type]
        )
        return CloudEvent(attributes, resource)
    attributes = pubsub_event_attributes(
        settings.project, message.topic, message.message_id, message.publish_time
    )
    data = pubsub_event_data(
        project=settings.project,
        subscription=message.subscription,
        data=message.data,
        attributes=message.attributes,
        message_id=message.message_id,
        publish_time=message.publish_time,
        delivery_attempt=message.delivery_attempt,
    )
    return CloudEvent(attributes, data)


def load_entry_point(functions_dir: Path, name: str) -> Handler:
    """Import ``functions/<name>/main.py`` (the deployed file) and return ``<name>``."""
    source = functions_dir / name / "main.py"
    if not source.is_file():
        raise ConfigError(f"function {name!r}: {source} does not exist")
    module_name = f"vidcurate_function_{name}"
    module = sys.modules.get(module_name)
    if module is None:
        spec = importlib.util.spec_from_file_location(module_name, source)
        if spec is None or spec.loader is None:
            raise ConfigError(f"function {name!r}: cannot import {source}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[module_name] = module
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[module_name]  # the next load reports the real error again
            raise
    handler = getattr(module, name, None)
    if not callable(handler):
        raise ConfigError(f"function {name!r}: {source} defines no callable {name!r}")
    return handler  # type: ignore[no-any-return]

"""Typed CloudEvents: parse at the edge, build them the way GCS/Eventarc and Pub/Sub do.

Domain code never reads ``cloud_event.data[...]``: entry points call :func:`parse_storage_event`
or :func:`parse_pubsub_event` and hand the typed result to a service.
"""

from __future__ import annotations

import base64
import functools
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shared.core.errors import PermanentError
from shared.core.text import utc_iso

STORAGE_FINALIZED = "google.cloud.storage.object.v1.finalized"
STORAGE_DELETED = "google.cloud.storage.object.v1.deleted"
STORAGE_ARCHIVED = "google.cloud.storage.object.v1.archived"
# GCS notification eventType -> the CloudEvent type Eventarc gives the same change.
STORAGE_EVENT_TYPES = {
    "OBJECT_FINALIZE": STORAGE_FINALIZED,
    "OBJECT_DELETE": STORAGE_DELETED,
    "OBJECT_ARCHIVE": STORAGE_ARCHIVED,
}
PUBSUB_PUBLISHED = "google.cloud.pubsub.topic.v1.messagePublished"

P = TypeVar("P", bound=BaseModel)


class CloudEventLike(Protocol):
    """What functions-framework hands a CloudEvent function (``cloudevents`` CloudEvent)."""

    data: Any

    def __getitem__(self, key: str) -> Any: ...

    def get_attributes(self) -> Mapping[str, Any]: ...


class EventContext(BaseModel):
    """The CloudEvent attributes we use: id (idempotency key), type, source, subject, time."""

    model_config = ConfigDict(frozen=True)

    id: str
    type: str
    source: str
    subject: str | None = None
    time: datetime | None = None


class StorageObjectData(BaseModel):
    """Data of a ``google.cloud.storage.object.v1.finalized`` event (a GCS object resource)."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    bucket: str
    name: str
    generation: int
    metageneration: int = 1
    size: int = 0
    content_type: str = Field("application/octet-stream", alias="contentType")
    md5_hash: str | None = Field(None, alias="md5Hash")
    time_created: datetime | None = Field(None, alias="timeCreated")
    updated: datetime | None = None
    metadata: dict[str, str] = Field(default_factory=dict)

    @property
    def key(self) -> str:
        """Idempotency key of this object version: ``bucket/name#generation``."""
        return f"{self.bucket}/{self.name}#{self.generation}"


class StorageEvent(BaseModel):
    """A parsed object event: finalized, or (for triggers that ask) deleted or archived."""

    model_config = ConfigDict(frozen=True)

    context: EventContext
    object: StorageObjectData

    @property
    def removed(self) -> bool:
        """Whether this generation stopped being live (deleted, or archived by versioning).

        An overwrite also archives (or deletes) the previous generation: handlers check
        whether a newer generation is live before forgetting anything.
        """
        return self.context.type in (STORAGE_DELETED, STORAGE_ARCHIVED)


class PubSubMessage(BaseModel):
    """The ``message`` of a messagePublished event; ``data`` arrives base64-encoded."""

    model_config = ConfigDict(frozen=True, populate_by_name=True, extra="ignore")

    data: bytes = b""
    attributes: dict[str, str] = Field(default_factory=dict)
    message_id: str = Field(alias="messageId")
    publish_time: datetime | None = Field(None, alias="publishTime")

    @field_validator("data", mode="before")
    @classmethod
    def _decode(cls, value: Any) -> bytes:
        if value is None or value == "":
            return b""
        if isinstance(value, bytes):
            value = value.decode("ascii")
        return base64.b64decode(value, validate=True)


class PubSubEvent(BaseModel):
    """A parsed messagePublished event."""

    model_config = ConfigDict(frozen=True)

    context: EventContext
    message: PubSubMessage
    subscription: str | None = None
    delivery_attempt: int | None = None

    def payload(self, model: type[P]) -> P:
        """Validate the message data (JSON) into ``model``; bad data is a PermanentError."""
        try:
            return model.model_validate_json(self.message.data)
        except ValidationError as exc:
            raise PermanentError(
                f"message {self.message.message_id}: invalid {model.__name__}: {exc}"
            ) from exc


def _reason(exc: ValidationError) -> str:
    """Name each bad field and why, without echoing the (possibly large) input."""
    return "; ".join(
        f"{'.'.join(str(p) for p in error['loc']) or 'event'}: {error['msg']}"
        for error in exc.errors()
    )


def _context(event: CloudEventLike) -> EventContext:
    attributes = dict(event.get_attributes())
    return EventContext.model_validate(attributes)


def _data(event: CloudEventLike) -> Any:
    data = event.data
    if isinstance(data, bytes | str):
        try:
            return json.loads(data)
        except ValueError as exc:
            raise PermanentError(f"event {event['id']}: data is not JSON") from exc
    return data


def parse_storage_event(event: CloudEventLike) -> StorageEvent:
    """Parse an object finalized/deleted/archived CloudEvent; malformed is a PermanentError.

    Also accepts the GCS notification (JSON_API_V1) that a Pub/Sub push subscription
    delivers as a messagePublished event: terraform deploys storage triggers that way so
    that they get a dead-letter topic.
    """
    try:
        context = _context(event)
        if context.type == PUBSUB_PUBLISHED:
            return storage_event_from_notification(parse_pubsub_event(event))
        if context.type not in STORAGE_EVENT_TYPES.values():
            raise PermanentError(
                f"event {context.id}: expected a storage object event, got {context.type}"
            )
        return StorageEvent(context=context, object=StorageObjectData.model_validate(_data(event)))
    except ValidationError as exc:
        raise PermanentError(
            f"event {event['id']}: malformed storage event: {_reason(exc)}"
        ) from exc


def parse_pubsub_event(event: CloudEventLike) -> PubSubEvent:
    """Parse a messagePublished CloudEvent; anything malformed is a PermanentError."""
    try:
        context = _context(event)
        if context.type != PUBSUB_PUBLISHED:
            raise PermanentError(
                f"event {context.id}: expected {PUBSUB_PUBLISHED}, got {context.type}"
            )
        data = _data(event)
        if not isinstance(data, dict) or "message" not in data:
            raise PermanentError(f"event {context.id}: no 'message' in Pub/Sub event data")
        return PubSubEvent(
            context=context,
            message=PubSubMessage.model_validate(data["message"]),
            subscription=data.get("subscription"),
            delivery_attempt=data.get("deliveryAttempt"),
        )
    except ValidationError as exc:
        raise PermanentError(
            f"event {event['id']}: malformed Pub/Sub event: {_reason(exc)}"
        ) from exc


@functools.lru_cache(maxsize=1024)
def _rfc3339(moment: datetime) -> str:
    return utc_iso(moment, "microseconds")


def storage_object_resource(
    *,
    bucket: str,
    name: str,
    generation: int,
    size: int,
    content_type: str,
    md5_hash: str,
    updated: datetime,
    metadata: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The JSON object resource GCS puts in notifications and Eventarc events."""
    resource: dict[str, Any] = {
        "kind": "storage#object",
        "id": f"{bucket}/{name}/{generation}",
        "selfLink": f"https://www.googleapis.com/storage/v1/b/{bucket}/o/{name}",
        "name": name,
        "bucket": bucket,
        "generation": str(generation),
        "metageneration": "1",
        "contentType": content_type,
        "timeCreated": _rfc3339(updated),
        "updated": _rfc3339(updated),
        "storageClass": "STANDARD",
        "size": str(size),
        "md5Hash": md5_hash,
    }
    if metadata:
        resource["metadata"] = dict(metadata)
    return resource


def storage_event_attributes(
    bucket: str, name: str, event_id: str, time: datetime, event_type: str = STORAGE_FINALIZED
) -> dict[str, str]:
    """CloudEvent attributes of an object event, as Eventarc sends them."""
    return {
        "specversion": "1.0",
        "id": event_id,
        "type": event_type,
        "source": f"//storage.googleapis.com/projects/_/buckets/{bucket}",
        "subject": f"objects/{name}",
        "time": _rfc3339(time),
        "datacontenttype": "application/json",
    }


def pubsub_event_attributes(
    project: str, topic: str, message_id: str, time: datetime
) -> dict[str, str]:
    """CloudEvent attributes of a messagePublished event, as Eventarc sends them."""
    return {
        "specversion": "1.0",
        "id": message_id,
        "type": PUBSUB_PUBLISHED,
        "source": f"//pubsub.googleapis.com/projects/{project}/topics/{topic}",
        "time": _rfc3339(time),
        "datacontenttype": "application/json",
    }


def pubsub_event_data(
    *,
    project: str,
    subscription: str,
    data: bytes,
    attributes: Mapping[str, str],
    message_id: str,
    publish_time: datetime,
    delivery_attempt: int | None = None,
) -> dict[str, Any]:
    """The data of a messagePublished event: the Pub/Sub message, base64 data included."""
    message: dict[str, Any] = {
        "data": base64.b64encode(data).decode("ascii"),
        "attributes": dict(attributes),
        "messageId": message_id,
        "message_id": message_id,
        "publishTime": _rfc3339(publish_time),
        "publish_time": _rfc3339(publish_time),
    }
    event_data: dict[str, Any] = {
        "message": message,
        "subscription": f"projects/{project}/subscriptions/{subscription}",
    }
    if delivery_attempt is not None:
        event_data["deliveryAttempt"] = delivery_attempt  # beside "message", as in a push body
    return event_data


def storage_event_from_notification(event: PubSubEvent) -> StorageEvent:
    """The object event carried by a GCS Pub/Sub notification (JSON_API_V1)."""
    message = event.message
    attributes = message.attributes
    if attributes.get("payloadFormat") != "JSON_API_V1" or "bucketId" not in attributes:
        raise PermanentError(f"message {message.message_id}: not a GCS JSON_API_V1 notification")
    event_type = STORAGE_EVENT_TYPES.get(attributes.get("eventType", ""))
    if event_type is None:
        raise PermanentError(
            f"message {message.message_id}: {attributes.get('eventType')} is not an object "
            f"event vidcurate handles ({', '.join(STORAGE_EVENT_TYPES)})"
        )
    try:
        obj = StorageObjectData.model_validate_json(message.data)
    except ValidationError as exc:
        raise PermanentError(
            f"message {message.message_id}: malformed GCS notification: {_reason(exc)}"
        ) from exc
    context = EventContext.model_validate(
        {
            "id": message.message_id,
            "type": event_type,
            "source": f"//storage.googleapis.com/projects/_/buckets/{obj.bucket}",
            "subject": f"objects/{obj.name}",
            "time": attributes.get("eventTime") or message.publish_time,
        }
    )
    return StorageEvent(context=context, object=obj)

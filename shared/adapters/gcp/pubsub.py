"""The message bus and subscriber ports over Pub/Sub (google-cloud-pubsub)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from google.api_core import exceptions as gexc
from google.cloud.pubsub_v1 import PublisherClient, SubscriberClient

from shared.adapters.gcp._errors import VENDOR_ERRORS, translated
from shared.core.errors import NotFoundError, TransientError
from shared.platform.settings import PlatformSettings
from shared.ports.bus import OutgoingMessage
from shared.ports.subscriber import ReceivedMessage

log = logging.getLogger("vidcurate.pubsub")

PUBLISH_TIMEOUT_S = 60.0
ACK_IDS_PER_REQUEST = 1000  # well under Pub/Sub's 512 KB request limit
MAX_ACK_DEADLINE_S = 600

# RuntimeError: the publisher was stopped (the process is shutting down).
_PUBLISH_ERRORS: tuple[type[BaseException], ...] = (*VENDOR_ERRORS, RuntimeError)


def short_name(path: str) -> str:
    """``projects/p/topics/t`` -> ``t`` (a short name stays as it is)."""
    return path.rsplit("/", 1)[-1]


class PubSubMessageBus:
    """Publishes to Pub/Sub topics of ``settings.project``.

    Under PUBSUB_EMULATOR_HOST the client library talks to the emulator by itself.
    """

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        publisher: PublisherClient | None = None,
        timeout: float = PUBLISH_TIMEOUT_S,
    ) -> None:
        self._project = settings.project
        self._publisher = publisher if publisher is not None else PublisherClient()
        self._timeout = timeout
        self._closed = False

    @property
    def publisher(self) -> PublisherClient:
        """The underlying publisher client."""
        return self._publisher

    def publish(self, topic: str, data: bytes, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message; returns its id once Pub/Sub has stored it."""
        return self.publish_many(topic, [OutgoingMessage(data, attributes or {})])[0]

    def publish_many(self, topic: str, messages: Sequence[OutgoingMessage]) -> list[str]:
        """Publish messages (the library batches them) and wait for every id, in order."""
        path = self._publisher.topic_path(self._project, topic)
        what = f"pubsub topic {topic}"
        try:
            futures = [
                self._publisher.publish(path, bytes(message.data), **dict(message.attributes))
                for message in messages
            ]
            return [str(future.result(timeout=self._timeout)) for future in futures]
        except gexc.NotFound as exc:
            raise NotFoundError(f"{what} does not exist") from exc
        except _PUBLISH_ERRORS as exc:
            # Every other failure (a 5xx, a timed-out future, a stopped publisher) may pass
            # on a later attempt: the caller's platform retries.
            raise TransientError(f"{what}: publish failed: {exc!r}") from exc

    def close(self) -> None:
        """Send what is batched, then close the channel (once)."""
        if self._closed:
            return
        self._closed = True
        self._publisher.stop()
        self._publisher.transport.close()


class PubSubSubscriber:
    """Pulls, acks, nacks and extends deliveries on pull subscriptions of ``settings.project``.

    ``ack_id`` values are Pub/Sub's ack ids. A nack sets the ack deadline to zero, so the
    subscription's retry policy (backoff) and dead-letter policy apply; Pub/Sub keeps no
    error text, so the error is logged.
    """

    def __init__(
        self,
        settings: PlatformSettings,
        *,
        subscriber: SubscriberClient | None = None,
        pull_timeout: float = 1.0,
    ) -> None:
        self._project = settings.project
        self._subscriber = subscriber if subscriber is not None else SubscriberClient()
        # A pull waits for messages until this client-side deadline; an empty subscription
        # then reads as "no messages" instead of holding the caller's loop. (A response cut
        # off by the deadline leaves its messages leased until their ack deadline: they are
        # redelivered then, which at-least-once delivery allows.)
        self._pull_timeout = pull_timeout
        self._topics: dict[str, str] = {}
        self._lock = threading.Lock()

    @property
    def subscriber(self) -> SubscriberClient:
        """The underlying subscriber client."""
        return self._subscriber

    def _path(self, subscription: str) -> str:
        return str(self._subscriber.subscription_path(self._project, subscription))

    def topic_of(self, subscription: str) -> str:
        """The short name of the topic the subscription reads (looked up once)."""
        with self._lock:
            cached = self._topics.get(subscription)
        if cached is not None:
            return cached
        with translated(f"pubsub subscription {subscription}"):
            response = self._subscriber.get_subscription(
                request={"subscription": self._path(subscription)}
            )
        topic = short_name(response.topic)
        with self._lock:
            self._topics[subscription] = topic
        return topic

    def pull(self, subscription: str, max_messages: int = 100) -> list[ReceivedMessage]:
        """Lease up to ``max_messages`` deliveries; none when nothing arrives in time."""
        topic = self.topic_of(subscription)
        with translated(f"pubsub subscription {subscription}"):
            try:
                response = self._subscriber.pull(
                    request={
                        "subscription": self._path(subscription),
                        "max_messages": max_messages,
                    },
                    timeout=self._pull_timeout,
                )
            except gexc.DeadlineExceeded:
                return []
        return [_received(subscription, topic, item) for item in response.received_messages]

    def ack(self, subscription: str, ack_ids: Sequence[str]) -> None:
        """Acknowledge deliveries: Pub/Sub will not send them again."""
        path = self._path(subscription)
        with translated(f"pubsub subscription {subscription}"):
            for offset in range(0, len(ack_ids), ACK_IDS_PER_REQUEST):
                chunk = list(ack_ids[offset : offset + ACK_IDS_PER_REQUEST])
                self._subscriber.acknowledge(request={"subscription": path, "ack_ids": chunk})

    def nack(self, subscription: str, ack_id: str, error: str) -> None:
        """Hand the delivery back now; the retry and dead-letter policies take over."""
        log.warning(
            "delivery failed; Pub/Sub will redeliver it or dead-letter it: %s",
            error,
            extra={"labels": {"subscription": subscription}, "error": error[:10_000]},
        )
        self._modify(subscription, [ack_id], 0)

    def extend(self, subscription: str, ack_ids: Sequence[str], seconds: float) -> None:
        """Move the ack deadline of deliveries still being worked on."""
        self._modify(subscription, ack_ids, seconds)

    def _modify(self, subscription: str, ack_ids: Sequence[str], seconds: float) -> None:
        deadline = max(0, min(MAX_ACK_DEADLINE_S, round(seconds)))
        path = self._path(subscription)
        with translated(f"pubsub subscription {subscription}"):
            for offset in range(0, len(ack_ids), ACK_IDS_PER_REQUEST):
                chunk = list(ack_ids[offset : offset + ACK_IDS_PER_REQUEST])
                self._subscriber.modify_ack_deadline(
                    request={
                        "subscription": path,
                        "ack_ids": chunk,
                        "ack_deadline_seconds": deadline,
                    }
                )

    def close(self) -> None:
        """Close the channel."""
        self._subscriber.close()


def _received(subscription: str, topic: str, item: Any) -> ReceivedMessage:
    message = item.message
    publish_time = message.publish_time
    if not isinstance(publish_time, datetime):
        publish_time = datetime.now(UTC)
    return ReceivedMessage(
        ack_id=item.ack_id,
        subscription=subscription,
        topic=topic,
        message_id=message.message_id,
        data=bytes(message.data),
        attributes=dict(message.attributes),
        publish_time=publish_time,
        # Pub/Sub counts attempts only on subscriptions with a dead-letter policy (else 0).
        delivery_attempt=max(1, int(item.delivery_attempt)),
    )

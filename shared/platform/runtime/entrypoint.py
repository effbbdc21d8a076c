"""The contract every ``functions/<name>/main.py`` follows, in one decorator.

- the event is logged with its id and function as labels;
- an event older than ``max_event_age_seconds`` is acknowledged and logged, never retried
  forever (Google's "avoid infinite retries" pattern);
- ``PermanentError``: recorded in the ``failures`` collection under the event id, logged at
  ERROR, and acknowledged (the function returns);
- ``BusyError`` / ``ContentionError`` (another delivery holds the work, writers contend):
  re-raised for a retry, not counted as a failure of the message;
- anything else (``TransientError``, a bug): counted under the message id with its error
  (``shared/platform/deliveries.py``: ``vidcurate dlq list`` shows it beside the dead
  letter), logged and re-raised so the platform retries. After ``max_delivery_attempts``
  such failures the event lands in its dead-letter topic: forwarded by this decorator with
  ``handler_dead_letters`` (the deployed functions, whose push subscriptions also count
  deliveries a busy function refused), by the platform otherwise (the local bus) and for a
  crash or a timeout, which nothing here sees;
- a request body that is no readable CloudEvent at all (cut off, nested past any parser's
  depth): rejected before our code by the framework, so the decorator also tells the
  framework to acknowledge it with the reason logged; a retry could not read it either.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import functions_framework
from cloudevents.exceptions import GenericException
from pydantic import ValidationError

from shared.core.errors import BusyError, ContentionError, PermanentError, TransientError
from shared.platform.context import Context
from shared.platform.deliveries import (
    DeliveryFailure,
    fingerprint,
    forward_to_dead_letter,
    record_failure,
)
from shared.platform.events import CloudEventLike, EventContext, PubSubMessage, parse_pubsub_event
from shared.platform.runtime.catalog import dead_letter_topic_of, subscription_of
from shared.platform.settings import PlatformSettings
from shared.ports import SERVER_TIMESTAMP

log = logging.getLogger("vidcurate.functions")

FAILURES = "failures"

F = TypeVar("F", bound=Callable[[Any], Any])


def entrypoint(
    function_name: str, context: Callable[[], Context[PlatformSettings]]
) -> Callable[[F], F]:
    """Wrap a CloudEvent function with the error contract above.

    ``context`` gives the process's context (the composition root's ``get_context``): the
    settings say how old an event may be, the documents keep rejected events.
    """

    def decorate(handler: F) -> F:
        acknowledge_unreadable_requests(function_name)

        @functools.wraps(handler)
        def wrapper(cloud_event: CloudEventLike) -> Any:
            attributes = dict(cloud_event.get_attributes())
            labels = {"function": function_name, "event_id": str(attributes.get("id", ""))}
            try:
                event = EventContext.model_validate(attributes)
            except ValidationError as exc:
                # Nothing to record it under and nothing a retry could fix: log and ack.
                log.error(
                    "event rejected: malformed CloudEvent attributes: %s",
                    exc,
                    extra={"labels": labels},
                )
                return None
            if event.subject:
                labels["subject"] = event.subject  # the object of a storage event
            settings = context().settings
            if event.time is not None:
                sent = event.time if event.time.tzinfo else event.time.replace(tzinfo=UTC)
                age = (datetime.now(UTC) - sent).total_seconds()
                if age > settings.max_event_age_seconds:
                    log.warning(
                        "dropping event older than the maximum age",
                        extra={"labels": labels, "age_seconds": age},
                    )
                    return None
            try:
                result = handler(cloud_event)
            except PermanentError as exc:
                record_rejection(context(), function_name, event, exc)
                log.error("event rejected: %s", exc, extra={"labels": labels, "error": str(exc)})
                return None
            except (BusyError, ContentionError) as exc:
                # Second in line (another delivery holds the work, or writers contend): no
                # failure of the message, so not counted towards its dead letter.
                log.info("event deferred; it will be retried: %s", exc, extra={"labels": labels})
                raise
            except TransientError as exc:
                if dead_lettered(context(), function_name, event, cloud_event, exc, labels):
                    return None
                log.warning("event failed; it will be retried: %s", exc, extra={"labels": labels})
                raise
            except RecursionError as exc:
                # Not for the framework's "unreadable body" handler below: ours to retry.
                failure = TransientError(f"{function_name}: recursion too deep")
                if dead_lettered(context(), function_name, event, cloud_event, failure, labels):
                    return None
                log.exception("event failed; it will be retried", extra={"labels": labels})
                raise failure from exc
            except Exception as exc:
                if dead_lettered(context(), function_name, event, cloud_event, exc, labels):
                    return None
                log.exception("event failed; it will be retried", extra={"labels": labels})
                raise
            outcome = result if isinstance(result, str) else "ok"
            log.info("event handled: %s", outcome, extra={"labels": labels, "outcome": outcome})
            return result

        return wrapper  # type: ignore[return-value]

    return decorate


def acknowledge_unreadable_requests(function_name: str) -> None:
    """Have the functions framework answer 200 to a body it cannot parse as a CloudEvent
    (instead of 500, which a push subscription would retry into the dead letter with no
    reason), logging why. Outside the framework (the local runtime) this does nothing."""

    def unreadable(exc: BaseException) -> tuple[str, int]:
        reason = "nested too deeply" if isinstance(exc, RecursionError) else str(exc)[:300]
        log.error(
            "event rejected: the request body is not a readable CloudEvent (%s); acknowledged",
            reason,
            extra={"labels": {"function": function_name}, "error": reason},
        )
        return "unreadable event acknowledged", 200

    for error in (RecursionError, GenericException, 400):  # 400: the framework's own refusal
        # The framework points ``errorhandler`` at the app that is loading this module; an
        # app of this process that already served (tests, the local runtime after one) is
        # not ours to change, and Flask refuses it.
        with contextlib.suppress(AssertionError):
            functions_framework.errorhandler(error)(unreadable)


def _message(cloud_event: CloudEventLike) -> PubSubMessage | None:
    """The Pub/Sub message an event carries (push deliveries), or None (local storage events)."""
    try:
        return parse_pubsub_event(cloud_event).message
    except (PermanentError, ValueError, TypeError):
        return None


def dead_lettered(
    context: Context[PlatformSettings],
    function_name: str,
    event: EventContext,
    cloud_event: CloudEventLike,
    exc: BaseException,
    labels: dict[str, str],
) -> bool:
    """Count this failure of the message; True when it went to the dead letters instead of
    back to the platform for a retry (``handler_dead_letters``, budget spent)."""
    message = _message(cloud_event)
    message_id = message.message_id if message is not None else event.id
    try:
        failure: DeliveryFailure = record_failure(
            context.documents,
            function_name,
            message_id,
            fingerprint(message.data, message.attributes) if message is not None else None,
            exc,
        )
    except Exception as record_exc:  # noqa: BLE001 - the handler's error matters more
        log.warning(
            "could not record the failure of event %s: %s",
            event.id,
            record_exc,
            extra={"labels": labels},
        )
        return False
    settings = context.settings
    if (
        not settings.handler_dead_letters
        or message is None
        or failure.failures < settings.max_delivery_attempts
    ):
        return False
    # Published before the acknowledgement: a crash in between dead-letters twice, never
    # loses the message. If the publish fails, the platform retries it as before.
    try:
        forward_to_dead_letter(
            context.bus,
            dead_letter_topic_of(function_name),
            subscription_of(function_name),
            message.data,
            message.attributes,
            failure,
        )
    except Exception as publish_exc:  # noqa: BLE001 - retried by the platform instead
        log.warning(
            "could not forward event %s to the dead letters: %s",
            event.id,
            publish_exc,
            extra={"labels": labels},
        )
        return False
    log.error(
        "event dead-lettered after %d failures: %s",
        failure.failures,
        failure.error,
        extra={"labels": labels, "error": failure.error, "failures": failure.failures},
    )
    return True


def record_rejection(
    context: Context[PlatformSettings], function_name: str, event: EventContext, exc: Exception
) -> None:
    """Keep a rejected event's reason where ``vidcurate status`` and operators can see it."""
    context.documents.set(
        f"{FAILURES}/{function_name}-{event.id}",
        {
            "function": function_name,
            "event_id": event.id,
            "event_type": event.type,
            "source": event.source,
            "subject": event.subject,
            "error": str(exc),
            "error_type": type(exc).__name__,
            "recorded_at": SERVER_TIMESTAMP,
        },
    )

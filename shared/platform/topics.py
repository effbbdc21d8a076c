"""Topics and their message bodies, typed: one :class:`Topic` per Pub/Sub topic.

A capability's ``messages.py`` declares its topics (``JOBS = Topic("critique-jobs",
CritiqueJob)``); function specs subscribe by ``JOBS.name`` and publishers go through
:meth:`Topic.publish` / :meth:`Topic.message`, so a body is always the pydantic model of its
topic (never a hand-built dict) and a topic name is written once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from pydantic import BaseModel

from shared.ports import MessageBus, OutgoingMessage

M = TypeVar("M", bound=BaseModel)

PUBLISH_BATCH = 500
"""Messages per publish call: Pub/Sub takes at most 1,000 (and 10 MB) per request."""


@dataclass(frozen=True)
class Topic(Generic[M]):
    """A topic and the model of its messages."""

    name: str
    model: type[M]

    def message(self, body: M, attributes: Mapping[str, str] | None = None) -> OutgoingMessage:
        """``body`` as this topic's message (JSON of the model, string attributes)."""
        if not isinstance(body, self.model):
            raise TypeError(f"{self.name} carries {self.model.__name__}, not {type(body).__name__}")
        # Fields left at their defaults are left out: the receiver's model fills them in
        # again, and a plan of 350,000 jobs carries no nulls.
        body_json = body.model_dump_json(exclude_defaults=True)
        return OutgoingMessage(body_json.encode(), dict(attributes or {}))

    def publish(self, bus: MessageBus, body: M, attributes: Mapping[str, str] | None = None) -> str:
        """Publish one message; its id once the bus has durably accepted it."""
        message = self.message(body, attributes)
        return bus.publish(self.name, message.data, message.attributes)

    def publish_all(
        self, bus: MessageBus, messages: Sequence[OutgoingMessage], batch: int = PUBLISH_BATCH
    ) -> list[str]:
        """Publish messages built with :meth:`message`, ``batch`` per call; their ids."""
        ids: list[str] = []
        for start in range(0, len(messages), batch):
            ids.extend(bus.publish_many(self.name, messages[start : start + batch]))
        return ids

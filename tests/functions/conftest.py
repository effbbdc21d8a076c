"""CloudEvents shaped as Eventarc and Pub/Sub push send them, built from tests/fixtures/events."""

from __future__ import annotations

import base64
import copy
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import functions_framework
import pytest
from cloudevents.conversion import to_binary, to_structured
from cloudevents.http import CloudEvent
from flask.testing import FlaskClient

from shared.bootstrap import Context, build_context, use_context
from shared.config import Settings

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "events"

Mode = Literal["binary", "structured"]
MODES: tuple[Mode, ...] = ("binary", "structured")


def rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


class EventFactory:
    """Fixture events with fresh ids and times (the recorded ones are older than the max age)."""

    def __init__(self) -> None:
        self._raw = {
            name: json.loads((FIXTURES / f"{name}.json").read_text())
            for name in ("storage_object_finalized", "pubsub_message_published", "pubsub_push")
        }

    def fixture(self, name: str) -> dict[str, Any]:
        """A deep copy of one recorded fixture."""
        return copy.deepcopy(self._raw[name])

    @staticmethod
    def new_id() -> str:
        return str(uuid.uuid4().int % 10**17)  # Pub/Sub and Eventarc ids are decimal strings

    @staticmethod
    def encode_body(body: bytes | dict[str, Any]) -> str:
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        return base64.b64encode(raw).decode("ascii")

    def ping(
        self,
        body: bytes | dict[str, Any],
        *,
        message_id: str | None = None,
        time: datetime | None = None,
        attributes: dict[str, str] | None = None,
    ) -> CloudEvent:
        """A messagePublished event on the ``ping`` topic carrying ``body``."""
        raw = self.fixture("pubsub_message_published")
        data = raw.pop("data")
        message_id = message_id or self.new_id()
        stamp = rfc3339(time or datetime.now(UTC))
        data["message"].update(
            data=self.encode_body(body),
            messageId=message_id,
            message_id=message_id,
            publishTime=stamp,
            publish_time=stamp,
        )
        if attributes is not None:
            data["message"]["attributes"] = attributes
        raw.update(id=message_id, time=stamp)
        return CloudEvent(raw, data)

    def pubsub_with_data(self, data: Any, *, event_id: str | None = None) -> CloudEvent:
        """A messagePublished event whose data is replaced wholesale (malformed cases)."""
        raw = self.fixture("pubsub_message_published")
        raw.pop("data")
        raw.update(id=event_id or self.new_id(), time=rfc3339(datetime.now(UTC)))
        return CloudEvent(raw, data)

    def storage(
        self,
        *,
        name: str = "reviews/clip-0042_review.json",
        generation: int | str | None,
        event_id: str | None = None,
        time: datetime | None = None,
        **fields: Any,
    ) -> CloudEvent:
        """An object-finalized event for ``name`` at ``generation`` (None: no generation)."""
        raw = self.fixture("storage_object_finalized")
        data = raw.pop("data")
        data.update(name=name, id=f"{data['bucket']}/{name}/{generation}", **fields)
        if generation is None:
            del data["generation"]
        else:
            data["generation"] = str(generation)
        raw.update(
            id=event_id or self.new_id(),
            subject=f"objects/{name}",
            time=rfc3339(time or datetime.now(UTC)),
        )
        return CloudEvent(raw, data)

    def push_body(
        self, body: bytes | dict[str, Any], *, message_id: str | None = None
    ) -> dict[str, Any]:
        """The JSON a Pub/Sub push subscription POSTs (not a CloudEvent)."""
        push = self.fixture("pubsub_push")
        message_id = message_id or self.new_id()
        stamp = rfc3339(datetime.now(UTC))
        push["message"].update(
            data=self.encode_body(body),
            messageId=message_id,
            message_id=message_id,
            publishTime=stamp,
            publish_time=stamp,
        )
        return push

    @staticmethod
    def encode(event: CloudEvent, mode: Mode) -> tuple[dict[str, str], bytes]:
        """HTTP headers and body of ``event`` in binary (ce-* headers) or structured mode."""
        headers, body = to_binary(event) if mode == "binary" else to_structured(event)
        return dict(headers), body


@pytest.fixture(scope="session")
def events() -> EventFactory:
    return EventFactory()


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> Mode:
    """Each test that takes ``mode`` runs once per CloudEvents HTTP content mode."""
    return request.param


FUNCTIONS_DIR = Path(__file__).resolve().parents[2] / "functions"

Serve = Callable[[str], FlaskClient]


@pytest.fixture
def services(tmp_path: Path) -> Iterator[Context]:
    built = build_context(Settings(home=tmp_path, backend="local"))
    use_context(built)
    yield built
    use_context(None)
    built.close()


@pytest.fixture
def serve(monkeypatch: pytest.MonkeyPatch) -> Iterator[Serve]:
    """A test client for ``functions/<name>/main.py``, served as functions-framework does.

    create_app does not cache: every call executes the source again as a fresh module named
    ``main`` (so two apps for one source work), but it also overwrites ``sys.modules["main"]``,
    appends the source folder to ``sys.path`` and sets FUNCTION_TARGET and
    FUNCTION_SIGNATURE_TYPE. All of that is undone after the test.
    """
    monkeypatch.setattr(sys, "path", list(sys.path))
    for variable in ("FUNCTION_TARGET", "FUNCTION_SIGNATURE_TYPE"):
        monkeypatch.setenv(variable, os.environ.get(variable, ""))
    previous_main = sys.modules.get("main")

    def serve(name: str) -> FlaskClient:
        source = FUNCTIONS_DIR / name / "main.py"
        return functions_framework.create_app(name, str(source), "cloudevent").test_client()

    yield serve
    if previous_main is None:
        sys.modules.pop("main", None)
    else:
        sys.modules["main"] = previous_main

"""Log lines that Cloud Logging parses: one JSON object per line, severity, labels, traces."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from shared.platform.logging import JsonFormatter, configure_logging

LABELS_KEY = "logging.googleapis.com/labels"


class Captured:
    def __init__(self, stream: io.StringIO) -> None:
        self.stream = stream

    def lines(self) -> list[str]:
        return self.stream.getvalue().splitlines()

    def entries(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.lines()]


@pytest.fixture
def logger(request: pytest.FixtureRequest) -> Iterator[tuple[logging.Logger, Captured]]:
    """A logger of its own that writes through JsonFormatter into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    log = logging.getLogger(f"vidcurate.tests.{request.node.name}")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, Captured(stream)
    log.removeHandler(handler)


@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    """The root logger, restored after configure_logging changed it."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield root
    root.handlers = handlers
    root.setLevel(level)


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"])
def test_severity_is_the_level_name_cloud_logging_knows(logger, level):
    log, captured = logger

    log.log(getattr(logging, level), "something")

    (entry,) = captured.entries()
    assert entry["severity"] == level


def test_an_entry_has_message_time_and_logger(logger):
    log, captured = logger

    log.info("handled %s events in %.1fs", 3, 0.5)

    (entry,) = captured.entries()
    assert entry["message"] == "handled 3 events in 0.5s"
    assert entry["logger"] == log.name
    assert datetime.fromisoformat(entry["time"]).utcoffset() is not None
    assert "stack_trace" not in entry
    assert LABELS_KEY not in entry


def test_labels_go_under_the_cloud_logging_key_as_strings(logger):
    log, captured = logger

    log.info("event handled", extra={"labels": {"function": "ping", "attempt": 3}})

    (entry,) = captured.entries()
    assert entry[LABELS_KEY] == {"function": "ping", "attempt": "3"}
    assert "labels" not in entry


def test_extra_fields_are_kept_with_their_json_types(logger):
    log, captured = logger

    log.warning(
        "dropping event",
        extra={"age_seconds": 1.5, "attempts": 2, "ok": False, "ids": ["a", "b"]},
    )

    (entry,) = captured.entries()
    assert entry["age_seconds"] == 1.5
    assert entry["attempts"] == 2
    assert entry["ok"] is False
    assert entry["ids"] == ["a", "b"]


def test_values_json_cannot_encode_are_written_as_text(logger):
    log, captured = logger

    log.info("wrote", extra={"path": Path("/tmp/x.json"), "when": datetime(2025, 1, 2, 3, 4, 5)})

    (entry,) = captured.entries()
    assert entry["path"] == "/tmp/x.json"
    assert entry["when"] == "2025-01-02 03:04:05"


def test_record_internals_do_not_leak_into_the_entry(logger):
    log, captured = logger

    log.info("plain")

    (entry,) = captured.entries()
    assert set(entry) == {"severity", "message", "time", "logger"}


def test_an_exception_becomes_a_stack_trace_on_the_same_line(logger):
    log, captured = logger

    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("event failed", extra={"labels": {"event_id": "e-1"}})

    lines = captured.lines()
    assert len(lines) == 1  # a multi-line trace would be split into separate log entries
    entry = json.loads(lines[0])
    assert entry["severity"] == "ERROR"
    assert entry["message"] == "event failed"
    assert entry["stack_trace"].startswith("Traceback (most recent call last):")
    assert "ValueError: boom" in entry["stack_trace"]
    assert entry[LABELS_KEY] == {"event_id": "e-1"}


def test_configure_logging_sends_records_through_one_json_handler(root_logger):
    first, second = io.StringIO(), io.StringIO()

    configure_logging("WARNING", stream=first)
    configure_logging("INFO", stream=second)
    logging.getLogger("vidcurate.tests.configured").info("hello", extra={"labels": {"k": "v"}})

    ours = [h for h in root_logger.handlers if h.get_name() == "vidcurate-json"]
    assert len(ours) == 1
    assert root_logger.level == logging.INFO
    assert first.getvalue() == ""
    entry = json.loads(second.getvalue())
    assert entry["severity"] == "INFO"
    assert entry["message"] == "hello"
    assert entry[LABELS_KEY] == {"k": "v"}


def test_configure_logging_keeps_handlers_it_did_not_install(root_logger):
    other = logging.NullHandler()
    root_logger.addHandler(other)

    configure_logging("INFO", stream=io.StringIO())

    assert other in root_logger.handlers


def test_configure_logging_filters_below_its_level(root_logger):
    stream = io.StringIO()

    configure_logging("ERROR", stream=stream)
    log = logging.getLogger("vidcurate.tests.filtered")
    log.warning("quiet")
    log.error("loud")

    assert [json.loads(line)["message"] for line in stream.getvalue().splitlines()] == ["loud"]


def test_at_a_terminal_a_record_is_one_plain_line(tmp_path):
    import io  # noqa: PLC0415
    import logging  # noqa: PLC0415

    from shared.platform.logging import configure_logging  # noqa: PLC0415

    stream = io.StringIO()
    configure_logging("INFO", stream=stream, human=True)
    try:
        logging.getLogger("vidcurate.test").warning(
            "delivery failed", extra={"labels": {"function": "ping"}, "attempt": 2}
        )
    finally:
        configure_logging("WARNING")

    assert stream.getvalue() == "warning: delivery failed (function=ping, attempt=2)\n"

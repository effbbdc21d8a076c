"""Structured JSON logs that Cloud Logging parses (``severity``, ``message``, labels).

Cloud Run and Cloud Functions read one JSON object per stdout/stderr line; ``severity`` sets
the level, ``logging.googleapis.com/labels`` become labels, everything else lands in
``jsonPayload``.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    """One JSON object per record; extra fields passed with ``extra=`` are kept."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "severity": record.levelname if record.levelname != "WARNING" else "WARNING",
            "message": record.getMessage(),
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "logger": record.name,
        }
        labels = {}
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_"):
                continue
            if key == "labels" and isinstance(value, dict):
                labels.update({str(k): str(v) for k, v in value.items()})
            else:
                entry[key] = value
        if labels:
            entry["logging.googleapis.com/labels"] = labels
        if record.exc_info:
            entry["stack_trace"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


class HumanFormatter(logging.Formatter):
    """One short line per record for a person at a terminal: the level, the message and its
    labels and fields (``key=value``), the first line of an exception; no JSON, no stack."""

    def format(self, record: logging.LogRecord) -> str:
        details = []
        for key, value in vars(record).items():
            if key in _RESERVED or key.startswith("_"):
                continue
            if key == "labels" and isinstance(value, dict):
                details += [f"{k}={v}" for k, v in value.items()]
            else:
                details.append(f"{key}={value}")
        if record.exc_info and record.exc_info[1] is not None:
            details.append(f"error={type(record.exc_info[1]).__name__}: {record.exc_info[1]}")
        suffix = f" ({', '.join(details)})" if details else ""
        return f"{record.levelname.lower()}: {record.getMessage()}{suffix}"


def configure_logging(level: str = "INFO", *, stream: Any = None, human: bool = False) -> None:
    """Send every ``logging`` record through the JSON formatter (idempotent); ``human``: one
    plain line each instead (a person at a terminal, not a log collector)."""
    root = logging.getLogger()
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(HumanFormatter() if human else JsonFormatter())
    handler.set_name("vidcurate-json")
    root.handlers = [h for h in root.handlers if h.get_name() != "vidcurate-json"]
    root.addHandler(handler)
    root.setLevel(level)

"""A clip's subtitles, as catalogues give them, as timed lines.

ClipCafe-shaped descriptions carry ``subtitles`` as SubRip or WebVTT text, or as a list of
cues (``{"start", "end", "text"}``, times in seconds or ``hh:mm:ss,mmm``). Whatever cannot be
read is left out: subtitles feed the offline transcriber, never a decision on their own.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from shared.ports.speech import Cue

__all__ = ["parse_cues"]

_TIME = r"(?:(\d+):)?(\d{1,2}):(\d{1,2})(?:[.,](\d{1,3}))?"
_ARROW = re.compile(rf"^\s*{_TIME}\s*-->\s*{_TIME}")
_TAG = re.compile(r"<[^>]{0,200}>|\{\\[^}]{0,200}\}")


def _seconds(hours: str | None, minutes: str, seconds: str, fraction: str | None) -> float:
    value = int(hours or 0) * 3600 + int(minutes) * 60 + int(seconds)
    return value + (int(fraction.ljust(3, "0")) / 1000 if fraction else 0.0)


def _time(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        match = re.fullmatch(_TIME, value.strip())
        if match:
            return _seconds(*match.groups())
        try:
            return float(value)
        except ValueError:
            return None
    return None


def parse_cues(subtitles: Any) -> list[Cue]:
    """Timed lines from SubRip/WebVTT text or a list of cue objects (unreadable ones left
    out), in time order."""
    cues: list[Cue] = []
    if isinstance(subtitles, str):
        cues = _from_text(subtitles)
    elif isinstance(subtitles, list):
        for item in subtitles:
            if not isinstance(item, Mapping):
                continue
            start, end = _time(item.get("start")), _time(item.get("end"))
            text = _TAG.sub("", str(item.get("text") or "")).strip()
            if start is not None and end is not None and end >= start and text:
                cues.append(Cue(start, end, text))
    return sorted(cues, key=lambda cue: (cue.start, cue.end))


def _from_text(text: str) -> list[Cue]:
    cues: list[Cue] = []
    timing: tuple[float, float] | None = None
    lines: list[str] = []

    def close() -> None:
        if timing is not None and lines:
            cues.append(Cue(timing[0], timing[1], " ".join(lines)))

    for raw in text.replace("\r\n", "\n").split("\n"):
        match = _ARROW.match(raw)
        if match:
            close()
            groups = match.groups()
            start, end = _seconds(*groups[:4]), _seconds(*groups[4:])
            timing = (start, end) if end >= start else None
            lines = []
        elif not raw.strip():
            close()
            timing, lines = None, []
        elif timing is not None:
            line = _TAG.sub("", raw).strip()
            if line:
                lines.append(line)
    close()
    return cues

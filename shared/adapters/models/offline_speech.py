"""The offline transcriber: words and times from the clip's own subtitles, never the audio.

For the demo and the tests, and for a team without a speech model: each subtitle line's
words are spread over the line's time in proportion to their length. The reply is labelled
``offline-<model>`` and every word's confidence is None (nobody heard it), so no record can
pass for a model's hearing.
"""

from __future__ import annotations

import re

from shared.ports.speech import Transcript, TranscriptionRequest, WordTiming

__all__ = ["OfflineTranscriber"]

_WORD = re.compile(r"[\w'\u2019-]+")


class OfflineTranscriber:
    """Answers from ``request.cues`` (see the module docstring)."""

    name = "offline"

    def transcribe(self, request: TranscriptionRequest) -> Transcript:
        """The subtitles' words with times spread over each line."""
        words: list[WordTiming] = []
        for cue in request.cues:
            tokens = _WORD.findall(cue.text)
            if not tokens:
                continue
            span = max(0.0, cue.end - cue.start)
            total = sum(len(token) for token in tokens)
            at = cue.start
            for token in tokens:
                length = span * len(token) / total
                words.append(WordTiming(token, round(at, 3), round(at + length, 3), None))
                at += length
        text = " ".join(cue.text.strip() for cue in request.cues if cue.text.strip())
        duration = request.duration_seconds
        if duration is None and request.cues:
            duration = max(cue.end for cue in request.cues)
        return Transcript(
            text=text,
            words=tuple(words),
            language=request.language,
            duration_seconds=duration,
            model=f"offline-{request.model}",
        )

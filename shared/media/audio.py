"""Extract a clip's audio as 16 kHz mono WAV."""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import av
import av.error

from shared.media.decode import VideoDecodeError


@dataclass(frozen=True)
class AudioInfo:
    """What ``extract_audio`` wrote."""

    sample_rate: int
    channels: int
    samples: int

    @property
    def seconds(self) -> float:
        """Length of the audio written."""
        return self.samples / self.sample_rate


def extract_audio(
    source: str | Path | IO[bytes], out: Path | IO[bytes], *, rate: int = 16_000
) -> AudioInfo:
    """The clip's first audio track as 16-bit mono WAV at ``rate`` Hz (speech-to-text input),
    resampled and written as it is decoded (never the whole track in memory)."""
    label = str(source if isinstance(source, str | Path) else "clip")
    try:
        container = av.open(str(source) if isinstance(source, Path) else source, "r")
    except (av.error.FFmpegError, UnicodeDecodeError, ValueError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise VideoDecodeError(f"{label}: not a readable media file ({reason})") from exc
    with container:
        if not container.streams.audio:
            raise VideoDecodeError(f"{label}: no audio stream")
        stream = container.streams.audio[0]
        resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
        samples = 0
        with wave.open(out if not isinstance(out, Path) else str(out), "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(2)
            wav.setframerate(rate)
            try:
                for frame in container.decode(stream):
                    for chunk in resampler.resample(frame):
                        wav.writeframes(bytes(chunk.planes[0])[: chunk.samples * 2])
                        samples += chunk.samples
                for chunk in resampler.resample(None):  # what the resampler still holds
                    wav.writeframes(bytes(chunk.planes[0])[: chunk.samples * 2])
                    samples += chunk.samples
            except av.error.FFmpegError as exc:
                raise VideoDecodeError(f"{label}: audio could not be decoded ({exc})") from exc
    return AudioInfo(sample_rate=rate, channels=1, samples=samples)

"""The demo's clip source for word discovery: a folder in ClipCafe's shape (``<word>/
<slug>_NN.mp4`` and ``.json``) made of the short sample clips that have sound (or generated
clips with a tone when the samples are not at hand), each described with a line of dialogue
and its subtitles written for the demo.

The lines are invented: the clips do not say them. The offline transcriber "hears" the
subtitles, and every record it writes says it is offline.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import av

from shared.demo.clips import SAMPLE_CLIPS, write_sample_clip

DEMO_WORDS = ("adventure", "journey", "discover")
LONGEST_SECONDS = 15.0  # what a clip search asks for (1-15 s)

# (folder word, slug, title, line, views)
_LINES = (
    ("adventure", "the-adventure-begins", "The Adventure Begins",
     "Pack your bags. The adventure begins tonight, and what a journey it will be!", 9100),
    ("journey", "one-step-journey", "One Step",
     "Every journey starts with one small step. Take it.", 7400),
    ("discover", "discover-the-valley", "The Hidden Valley",
     "Come on, let's discover what is behind that hill. An adventure!", 6800),
    ("discover", "what-we-discover", "Notes From The Road",
     "You never know what you will discover on a long journey.", 5200),
)  # fmt: skip


def _sounding_samples() -> list[Path]:
    """The sample clips with an audio track and at most ``LONGEST_SECONDS`` long."""
    if not SAMPLE_CLIPS.is_dir():
        return []
    found = []
    for path in sorted(SAMPLE_CLIPS.iterdir()):
        if path.suffix.lower() != ".mp4":  # the folder source reads MP4 clips
            continue
        try:
            with av.open(str(path)) as container:
                seconds = float(container.duration or 0) / 1_000_000
                if container.streams.audio and 1 <= seconds <= LONGEST_SECONDS:
                    found.append(path)
        except av.error.FFmpegError:
            continue
    return found


def discovery_source(folder: Path) -> tuple[Path, str]:
    """Write the demo's clip folder; the folder and where its clips came from."""
    samples = _sounding_samples()
    folder.mkdir(parents=True, exist_ok=True)
    for index, (word, slug, title, line, views) in enumerate(_LINES):
        target = folder / word / f"{slug}_{index + 1:02d}.mp4"
        target.parent.mkdir(parents=True, exist_ok=True)
        if samples:
            shutil.copyfile(samples[index % len(samples)], target)
        else:
            write_sample_clip(target, seconds=6, size=(320, 180), seed=index, audio=True)
        with av.open(str(target)) as container:
            seconds = round(float(container.duration or 0) / 1_000_000, 2)
        end = f"00:00:{int(seconds):02d},{int(seconds % 1 * 1000):03d}"
        description = {
            "clip_id": f"demo-{index + 1:02d}",
            "slug": slug,
            "title": title,
            "transcript": line,
            "subtitles": f"1\n00:00:00,000 --> {end}\n{line}\n",
            "duration": seconds,
            "views": views,
            "movie_title": "vidcurate demo (invented lines)",
        }
        target.with_suffix(".json").write_text(json.dumps(description, indent=1))
    where = "the sample clips with sound" if samples else "generated clips with a tone"
    return folder, where

"""The critique prompts (named, versioned) and their offline answers.

Importing this module registers them. Offline answers are rule-based text transforms of the
inputs: deterministic, plainly not a model's work, and enough to exercise the pipeline.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from typing import Any

from shared.llm.prompts import Prompt, data_blocks, offline_rule, register
from shared.ports.models import ModelRequest

_CAPTION_INPUTS = ("task", "caption", "feedback")

INSERTION = register(
    Prompt(
        "insertion_error_critique",
        "2",
        "You write training data for caption critics. Given a model's pre-caption of a video "
        "and the human feedback on it, rewrite the feedback as a critique that adds exactly "
        "ONE incorrect or irrelevant detail (something not in the video), keeping everything "
        "else accurate. "
        'Answer with JSON {"critique": ...}.',
        _CAPTION_INPUTS,
    )
)
REPLACEMENT = register(
    Prompt(
        "replacement_error_critique",
        "2",
        "You write training data for caption critics. Rewrite the human feedback as a critique "
        "in which exactly ONE correct detail is replaced by a wrong one. Answer with JSON "
        '{"critique": ...}.',
        _CAPTION_INPUTS,
    )
)
DELETION = register(
    Prompt(
        "deletion_error_critique",
        "2",
        "You write training data for caption critics. Rewrite the human feedback as a critique "
        'that leaves out exactly ONE important point. Answer with JSON {"critique": ...}.',
        _CAPTION_INPUTS,
    )
)
NONCONSTRUCTIVE = register(
    Prompt(
        "nonconstructive_critique",
        "2",
        "You write training data for caption critics. Rewrite the human feedback keeping only "
        "the criticism: remove every suggestion of how to fix the caption. Answer with JSON "
        '{"critique": ...}.',
        _CAPTION_INPUTS,
    )
)
VIDEO = register(
    Prompt(
        "video_model_critique",
        "2",
        "Watch the video and critique the caption for the given aspect: what is wrong, missing "
        'or unsupported by the video. Answer with JSON {"critique": ...}.',
        ("task", "caption"),
    )
)
BLIND = register(
    Prompt(
        "blind_model_critique",
        "2",
        "Without seeing the video, critique the caption for the given aspect: point out what "
        'seems vague, implausible or missing. Answer with JSON {"critique": ...}.',
        ("task", "caption"),
    )
)
WORST = register(
    Prompt(
        "worst_caption_generation",
        "2",
        "Write a caption for the same aspect with a structure and length similar to the given "
        "high-quality caption, reusing none of its details, so that it sounds plausible but is "
        'entirely wrong about the video. Answer with JSON {"bad_caption": ...}.',
        ("task", "caption"),
    )
)
REVISION = register(
    Prompt(
        "revise_caption_with_critique",
        "2",
        "Rewrite the caption so that it addresses the critique, changing nothing else. Answer "
        'with JSON {"revised_caption": ...}.',
        ("task", "caption", "critique"),
    )
)


# --- offline answers ------------------------------------------------------------------------

_DISTRACTORS = (
    "a red umbrella in the background",
    "a second person entering from the left",
    "rain on the lens",
    "a dog barking off screen",
)
_SWAPS = {
    "left": "right", "right": "left", "slowly": "quickly", "quickly": "slowly",
    "man": "woman", "woman": "man", "dog": "cat", "cat": "dog", "up": "down",
    "down": "up", "close-up": "wide shot", "wide": "narrow", "day": "night",
}  # fmt: skip


def _pick(options: tuple[str, ...], seed: str) -> str:
    return options[int(hashlib.sha256(seed.encode()).hexdigest(), 16) % len(options)]


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _swap_one(text: str) -> str:
    words = text.split()
    for index, word in enumerate(words):
        bare = word.strip(".,;:!?").lower()
        if bare in _SWAPS:
            words[index] = word.lower().replace(bare, _SWAPS[bare])
            return " ".join(words)
    return f"{text} (the subject is described as moving in the opposite direction)"


def _feedback_or_caption(data: Mapping[str, str]) -> str:
    return data.get("feedback") or f"The caption reads well: {data.get('caption', '')}"


@offline_rule("insertion_error_critique")
def _insertion(request: ModelRequest[Any], text: str) -> dict[str, str]:
    data = data_blocks(text)
    extra = _pick(_DISTRACTORS, text)
    return {"critique": f"{_feedback_or_caption(data)} It should also mention {extra}."}


@offline_rule("replacement_error_critique")
def _replacement(request: ModelRequest[Any], text: str) -> dict[str, str]:
    return {"critique": _swap_one(_feedback_or_caption(data_blocks(text)))}


@offline_rule("deletion_error_critique")
def _deletion(request: ModelRequest[Any], text: str) -> dict[str, str]:
    sentences = _sentences(_feedback_or_caption(data_blocks(text)))
    if len(sentences) > 1:
        return {"critique": " ".join(sentences[:-1])}
    words = sentences[0].rstrip(".!?").split()  # one sentence: lose its last point
    return {"critique": " ".join(words[: max(1, len(words) * 2 // 3)]) + "."}


@offline_rule("nonconstructive_critique")
def _nonconstructive(request: ModelRequest[Any], text: str) -> dict[str, str]:
    sentences = _sentences(_feedback_or_caption(data_blocks(text)))
    advice = re.compile(r"\b(should|add|mention|consider|try|instead|please|could)\b", re.I)
    kept = [s for s in sentences if not advice.search(s)] or ["The caption is not good enough."]
    return {"critique": " ".join(kept)}


@offline_rule("video_model_critique")
def _video(request: ModelRequest[Any], text: str) -> dict[str, str]:
    data = data_blocks(text)
    return {
        "critique": f"[offline, video not watched] The {data.get('task', '')} caption "
        "could be more specific about timing and position."
    }


@offline_rule("blind_model_critique")
def _blind(request: ModelRequest[Any], text: str) -> dict[str, str]:
    data = data_blocks(text)
    caption = data.get("caption", "")[:60]
    return {
        "critique": f"Without the video: the {data.get('task', '')} caption "
        f"'{caption}' may be vague about what happens."
    }


@offline_rule("worst_caption_generation")
def _worst(request: ModelRequest[Any], text: str) -> dict[str, str]:
    caption = data_blocks(text).get("caption", "")
    words = [_SWAPS.get(w.lower().strip(".,"), w) for w in caption.split()]
    return {"bad_caption": " ".join(reversed(words)) or "An empty room with no movement."}


@offline_rule("revise_caption_with_critique")
def _revise(request: ModelRequest[Any], text: str) -> dict[str, str]:
    data = data_blocks(text)
    first = (_sentences(data.get("critique", "")) or [""])[0]
    return {"revised_caption": f"{data.get('caption', '')} [revised for: {first[:80]}]"}

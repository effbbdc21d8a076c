"""The seven critique types, what each reads from a reviewed caption, and item keys.

A critique item is one (video, task, critique type) of an export. Its key hashes everything
that determines the output (the caption data, the model, prompt versions, settings), so an
incremental run regenerates exactly the items whose key changed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, Field

from shared.captions import REVIEWED, Status

Mode = Literal["Text Only", "Video"]
ItemStatus = Literal["pending", "success", "skipped", "failed"]
PERFECT_SCORE = 5
REVISION_PROMPT = "revise_caption_with_critique"


@dataclass(frozen=True)
class CritiqueType:
    """One kind of critique: its default model, its input, and whether it is revised."""

    name: str
    default_model: str
    mode: Mode
    prompt: str
    skips_perfect: bool
    revised: bool = True


CRITIQUE_TYPES: dict[str, CritiqueType] = {
    t.name: t
    for t in (
        CritiqueType(
            "insertion_error_critique",
            "gpt-4.1",
            "Text Only",
            "insertion_error_critique",
            skips_perfect=False,
        ),
        CritiqueType(
            "replacement_error_critique",
            "gpt-4.1",
            "Text Only",
            "replacement_error_critique",
            skips_perfect=True,
        ),
        CritiqueType(
            "deletion_error_critique",
            "gpt-4.1",
            "Text Only",
            "deletion_error_critique",
            skips_perfect=True,
        ),
        CritiqueType(
            "nonconstructive_critique",
            "gemini-2.5-pro",
            "Text Only",
            "nonconstructive_critique",
            skips_perfect=True,
        ),
        CritiqueType(
            "video_model_critique",
            "gemini-2.5-pro",
            "Video",
            "video_model_critique",
            skips_perfect=False,
        ),
        CritiqueType(
            "blind_model_critique",
            "gemini-2.5-pro",
            "Text Only",
            "blind_model_critique",
            skips_perfect=False,
        ),
        CritiqueType(
            "worst_caption_generation",
            "gpt-4.1",
            "Text Only",
            "worst_caption_generation",
            skips_perfect=False,
            revised=False,
        ),
    )
}
REVISION_MODEL = "gpt-4o"


class CritiqueAnswer(BaseModel):
    """What a critique prompt returns."""

    critique: str = Field(min_length=1)


class RevisionAnswer(BaseModel):
    """What the revision prompt returns."""

    revised_caption: str = Field(min_length=1)


class WorstCaptionAnswer(BaseModel):
    """What the worst-caption prompt returns."""

    bad_caption: str = Field(min_length=1)


@dataclass(frozen=True)
class CaptionRef:
    """A reviewed caption of an export: where it is and what it says."""

    video_id: str
    video_url: str
    task: str
    status: str
    caption_data: Mapping[str, Any]

    @property
    def perfect(self) -> bool:
        """Whether the pre-caption was rated perfect (nothing to criticise)."""
        return self.caption_data.get("initial_caption_rating_score") == PERFECT_SCORE

    @property
    def original_feedback(self) -> str:
        """The feedback the annotator settled on (empty for a perfect pre-caption)."""
        for field in ("final_feedback", "initial_feedback", "gpt_feedback"):
            value = self.caption_data.get(field)
            if isinstance(value, str) and value.strip():
                return value
        return ""


def reviewed_captions(entries: list[Mapping[str, Any]]) -> Iterator[CaptionRef]:
    """Approved and rejected captions of an export's ``all_videos_with_captions`` list."""
    for entry in entries:
        for task, caption in entry.get("captions", {}).items():
            if caption.get("status") in REVIEWED and "caption_data" in caption:
                yield CaptionRef(
                    video_id=entry["video_id"],
                    video_url=entry.get("video_url") or "",
                    task=task,
                    status=Status(caption["status"]).value,
                    caption_data=caption["caption_data"],
                )


def item_id(video_id: str, task: str, critique_type: str) -> str:
    """The document id of an item in its run."""
    return f"{video_id}~{task}~{critique_type}"


def item_key(
    caption: CaptionRef,
    critique: CritiqueType,
    *,
    model: str,
    prompt_version: str,
    revision_model: str,
    revision_prompt_version: str,
    providers: tuple[str, ...] = (),
) -> str:
    """A hash of every input of an item: equal keys mean the stored result still holds
    (in this run, or in a later export's run of the same video and task).

    ``providers`` name who answers (e.g. ``offline``): configuring a key redoes what the
    offline provider answered.
    """
    material = {
        # Whose caption: a stored result is reused for this (video, task) only, never for
        # another video that happens to have the same caption text.
        "video_id": caption.video_id,
        "task": caption.task,
        "providers": list(providers),
        "caption_data": caption.caption_data,
        "video_url": caption.video_url if critique.mode == "Video" else None,
        "type": critique.name,
        "model": model,
        "prompt_version": prompt_version,
        "revision": [revision_model, revision_prompt_version] if critique.revised else None,
    }
    canonical = json.dumps(material, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def skip_reason(caption: CaptionRef, critique: CritiqueType) -> str | None:
    """Why an item is skipped without a model call, or None."""
    if critique.skips_perfect and caption.perfect:
        return "Perfect score (5/5) - this critique type skips perfect scores"
    return None

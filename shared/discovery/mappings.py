"""Which words a clip teaches: the checks on what the models propose (pure, no I/O).

Two model answers are checked here, never taken on trust:

- the candidate analysis maps a clip to words of the vocabulary (:class:`CandidateAnswer`).
  A mapping is kept only if its word is in the vocabulary, is said in the clip's transcript
  (as whole words), scores at least ``min_score``; the best ``max_mappings`` are kept.
  Everything refused is listed with its reason.
- the final analysis, with the transcript the audio gave, approves the clip and some of its
  words (:class:`FinalAnswer`). Only words mapped before can be approved; a word's final
  score replaces its candidate score and must still reach ``min_score``. A word heard in the
  audio with enough confidence is mapped from the ``audio`` (with the time it is said),
  otherwise from the catalogue's ``metadata``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from shared.core.words import normalise_text, normalise_word, occurs_in

__all__ = [
    "AudioWord",
    "CandidateAnswer",
    "FinalAnswer",
    "FinalMapping",
    "Proposed",
    "Refusal",
    "WordMapping",
    "WordScore",
    "find_in_audio",
    "merge_final",
    "validate_mappings",
]

TranscriptSource = Literal["metadata", "audio"]


class Proposed(BaseModel):
    """One mapping as the candidate model proposes it."""

    model_config = ConfigDict(extra="ignore")

    word: str = Field(description="A word of the vocabulary list, as written there.")
    relevance_score: float = Field(
        ge=0, le=1, description="How well the clip teaches the word, 0 to 1."
    )
    reason: str = Field(description="One sentence: why the clip teaches this word.")


class CandidateAnswer(BaseModel):
    """The candidate analysis: the vocabulary words the clip teaches."""

    model_config = ConfigDict(extra="ignore")

    mappings: list[Proposed]


class WordScore(BaseModel):
    """A word's final score."""

    model_config = ConfigDict(extra="ignore")

    word: str
    score: float = Field(ge=0, le=1)


class FinalAnswer(BaseModel):
    """The final analysis with both transcripts (``final_scores`` as a list: strict JSON
    schemas allow no free-form keys)."""

    model_config = ConfigDict(extra="ignore")

    final_approval: bool
    approved_words: list[str]
    final_scores: list[WordScore]
    reason: str = ""


@dataclass(frozen=True)
class WordMapping:
    """A kept candidate mapping (``word`` in its normal form)."""

    word: str
    relevance_score: float
    reason: str


@dataclass(frozen=True)
class Refusal:
    """A proposed or approved word that was not kept, and why."""

    word: str
    reason: str


@dataclass(frozen=True)
class AudioWord:
    """A word heard in the audio (the transcription's words, as stored)."""

    word: str
    start: float
    end: float
    confidence: float | None = None


@dataclass(frozen=True)
class FinalMapping:
    """A mapping the final analysis approved: where the word was found and when it is said."""

    word: str
    relevance_score: float
    transcript_source: TranscriptSource
    timestamp: float | None
    confidence: float | None


def validate_mappings(
    answer: CandidateAnswer,
    *,
    transcript: str,
    vocabulary: Iterable[str],
    min_score: float,
    max_mappings: int,
) -> tuple[list[WordMapping], list[Refusal]]:
    """The candidate mappings kept (best first) and those refused, with reasons."""
    known = set(vocabulary)
    best: dict[str, WordMapping] = {}
    refused: list[Refusal] = []
    for proposed in answer.mappings:
        try:
            word = normalise_word(proposed.word)
        except ValueError:
            refused.append(Refusal(proposed.word, "not a word"))
            continue
        if word not in known:
            refused.append(Refusal(word, "not in the vocabulary list"))
        elif not occurs_in(word, transcript):
            refused.append(Refusal(word, "not said in the clip's transcript"))
        elif proposed.relevance_score < min_score:
            refused.append(
                Refusal(word, f"relevance {proposed.relevance_score:.2f} under {min_score:.2f}")
            )
        elif word not in best or best[word].relevance_score < proposed.relevance_score:
            best[word] = WordMapping(word, proposed.relevance_score, proposed.reason.strip())
    ranked = sorted(best.values(), key=lambda m: (-m.relevance_score, m.word))
    for extra in ranked[max_mappings:]:
        refused.append(Refusal(extra.word, f"over the {max_mappings} mappings a clip may have"))
    return ranked[:max_mappings], refused


_TOKEN = re.compile(r"[\w']+")


def _tokens(text: str) -> list[str]:
    return _TOKEN.findall(normalise_text(text).replace("-", " "))


def find_in_audio(
    word: str, heard: Sequence[AudioWord], *, min_confidence: float
) -> tuple[float, float | None] | None:
    """When ``word`` (or phrase) is first said with enough confidence: ``(start,
    confidence)``, or None. A word without a confidence (offline) counts as heard; a
    phrase's confidence is its least confident word's."""
    wanted = _tokens(word)
    if not wanted:
        return None
    spoken = [(_tokens(item.word), item) for item in heard]
    flat: list[tuple[str, AudioWord]] = [(tok, item) for toks, item in spoken for tok in toks]
    for index in range(len(flat) - len(wanted) + 1):
        window = flat[index : index + len(wanted)]
        if [tok for tok, _ in window] != wanted:
            continue
        levels = [item.confidence for _, item in window if item.confidence is not None]
        confidence = min(levels) if levels else None
        if confidence is None or confidence >= min_confidence:
            return window[0][1].start, confidence
    return None


def merge_final(
    mapped: Sequence[WordMapping],
    answer: FinalAnswer,
    *,
    heard: Sequence[AudioWord],
    min_score: float,
    min_confidence: float,
) -> tuple[list[FinalMapping], list[Refusal]]:
    """The mappings the final analysis approved (best first) and the words refused."""
    if not answer.final_approval:
        reason = answer.reason.strip() or "the final analysis did not approve the clip"
        return [], [Refusal(m.word, reason) for m in mapped]
    candidates = {m.word: m for m in mapped}
    scores: dict[str, float] = {}
    for item in answer.final_scores:
        try:
            scores[normalise_word(item.word)] = item.score
        except ValueError:
            continue
    approved: set[str] = set()
    refused: list[Refusal] = []
    for raw in answer.approved_words:
        try:
            word = normalise_word(raw)
        except ValueError:
            refused.append(Refusal(raw, "not a word"))
            continue
        if word not in candidates:
            refused.append(Refusal(word, "approved but never mapped to this clip"))
        else:
            approved.add(word)
    kept: list[FinalMapping] = []
    for word, mapping in candidates.items():
        if word not in approved:
            refused.append(Refusal(word, "not approved by the final analysis"))
            continue
        score = scores.get(word, mapping.relevance_score)
        if score < min_score:
            refused.append(Refusal(word, f"final score {score:.2f} under {min_score:.2f}"))
            continue
        found = find_in_audio(word, heard, min_confidence=min_confidence)
        kept.append(
            FinalMapping(
                word=word,
                relevance_score=score,
                transcript_source="audio" if found else "metadata",
                timestamp=found[0] if found else None,
                confidence=found[1] if found else None,
            )
        )
    kept.sort(key=lambda m: (-m.relevance_score, m.word))
    return kept, refused

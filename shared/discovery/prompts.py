"""The prompts of word discovery and their offline answers.

``clip_candidate_analysis`` reads a clip's title, duration and transcript with the words of
the vocabulary list that the transcript says, and maps the clip to the words it teaches.
``clip_final_analysis`` reads both transcripts (the catalogue's and the one heard in the
audio) and approves the clip and its words. Their answers are checked in
:mod:`shared.discovery.mappings`.

Offline (demo, tests) the candidate analysis maps every listed word the transcript says, with
a deterministic score from 0.5 to 0.99; the final analysis approves the mapped words that
either transcript says, at their candidate scores.
"""

from __future__ import annotations

import hashlib
from typing import Any

from shared.core.words import occurs_in
from shared.llm.prompts import Prompt, data_blocks, offline_rule, register
from shared.ports.models import ModelRequest

__all__ = ["CANDIDATE_PROMPT", "FINAL_PROMPT", "offline_score"]

CANDIDATE_PROMPT = register(
    Prompt(
        name="clip_candidate_analysis",
        version="1",
        instructions=(
            "You help build a vocabulary-learning library of short movie clips. You get a "
            "clip's title, duration and transcript, and the words of the learners' vocabulary "
            "list that the transcript contains. For each of those words, judge how well this "
            "clip teaches it: the word is spoken, its meaning is clear from the scene and the "
            "lines around it, and a learner would remember it from the clip.\n"
            "Answer with mappings: one per word the clip teaches, using the word exactly as "
            "the vocabulary list writes it, a relevance_score from 0 (useless) to 1 (a "
            "perfect example) and a one-sentence reason. Leave out words that are only "
            "incidental, and never map a word that is not in the vocabulary list."
        ),
        inputs=("title", "duration", "transcript", "vocabulary"),
    )
)

FINAL_PROMPT = register(
    Prompt(
        name="clip_final_analysis",
        version="1",
        instructions=(
            "You make the final check of a short movie clip for a vocabulary-learning "
            "library. You get its title and duration, the transcript the catalogue gives, "
            "the transcript heard in its audio, and the words it was mapped to with their "
            "scores. Approve the clip (final_approval) only if it is a good teaching example "
            "of at least one of those words: the word is really spoken (the audio transcript "
            "is the evidence; small spelling differences are fine) and its meaning is clear "
            "from the clip. List the approved words as given, with a final score from 0 to 1 "
            "for each, and say in one sentence why (reason). Never approve a word that is "
            "not in the mapped list."
        ),
        inputs=("title", "duration", "transcript", "audio_transcript", "mapped_words"),
    )
)


def offline_score(word: str, transcript: str) -> float:
    """The offline candidate score of ``word`` in a clip: from 0.5 to 0.99, fixed per pair."""
    digest = hashlib.sha256(f"{word}\x1f{transcript}".encode()).digest()
    return round(0.5 + digest[0] % 50 / 100, 2)


@offline_rule(CANDIDATE_PROMPT.name)
def _offline_candidates(request: ModelRequest[Any], text: str) -> dict[str, Any]:
    del request
    data = data_blocks(text)
    transcript = data.get("transcript", "")
    words = [w.strip() for w in data.get("vocabulary", "").splitlines() if w.strip()]
    return {
        "mappings": [
            {
                "word": word,
                "relevance_score": offline_score(word, transcript),
                "reason": f"offline: '{word}' is said in the transcript",
            }
            for word in words
            if occurs_in(word, transcript)
        ]
    }


@offline_rule(FINAL_PROMPT.name)
def _offline_final(request: ModelRequest[Any], text: str) -> dict[str, Any]:
    del request
    data = data_blocks(text)
    said = data.get("transcript", "") + "\n" + data.get("audio_transcript", "")
    scores: list[dict[str, Any]] = []
    for line in data.get("mapped_words", "").splitlines():
        word, _, score = line.rpartition(":")
        word = word.strip()
        if word and occurs_in(word, said):
            scores.append({"word": word, "score": float(score)})
    return {
        "final_approval": bool(scores),
        "approved_words": [s["word"] for s in scores],
        "final_scores": scores,
        "reason": "offline: the mapped words said in either transcript",
    }

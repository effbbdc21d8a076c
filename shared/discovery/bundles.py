"""Vocabulary bundles (TOEFL beginner, business English, ...): which words each holds, loaded
from a CSV, and how well the stored clips cover them.

A bundles file has a ``bundle`` and a ``word`` column and optionally ``language`` (default
``en``): one row per (bundle, word). Loading it makes sure every word has its document and
sets each word's bundles; the stored clips belong to a bundle through their words, so a
clip stored before its words were bundled counts at once.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from shared.core.errors import PermanentError
from shared.core.words import normalise_word
from shared.discovery.runs import csv_rows
from shared.discovery.store import (
    BUNDLES,
    SCORE_BINS,
    bundle_id,
    bundle_words,
    register_words,
)
from shared.ports import SERVER_TIMESTAMP, DocumentStore

__all__ = ["BundleCoverage", "BundlesFileError", "LoadedBundles", "coverage", "load_bundles"]

_LANGUAGE = re.compile(r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")


class BundlesFileError(PermanentError):
    """The bundles file cannot be used (the message names the file and the line)."""


@dataclass(frozen=True)
class LoadedBundles:
    """What a bundles file held."""

    bundles: dict[str, int]  # bundle id -> words
    words: int


def read_bundles(path: Path) -> dict[tuple[str, str], set[str]]:
    """(word, language) -> bundle ids of a bundles file; BundlesFileError otherwise."""
    rows = csv_rows(path, BundlesFileError)
    if not rows:
        raise BundlesFileError(f"{path}: empty")
    header = [cell.strip().casefold() for cell in rows[0]]
    if "bundle" not in header or "word" not in header:
        raise BundlesFileError(f"{path}: line 1 should name the columns bundle and word")
    at_bundle, at_word = header.index("bundle"), header.index("word")
    at_language = header.index("language") if "language" in header else None
    found: dict[tuple[str, str], set[str]] = defaultdict(set)
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        cells = row + [""] * (len(header) - len(row))
        try:
            bundle = bundle_id(cells[at_bundle])
            word = normalise_word(cells[at_word])
        except ValueError as exc:
            raise BundlesFileError(f"{path}: line {number}: {exc}") from None
        language = (cells[at_language].strip() if at_language is not None else "") or "en"
        if not _LANGUAGE.match(language):
            raise BundlesFileError(f"{path}: line {number}: {language!r} is not a language code")
        found[(word, language)].add(bundle)
    if not found:
        raise BundlesFileError(f"{path}: no rows under the header")
    return dict(found)


def load_bundles(documents: DocumentStore, path: Path) -> LoadedBundles:
    """Register the file's words with their bundles, and one document per bundle."""
    found = read_bundles(path)
    register_words(documents, found, bundles=found)
    sizes: dict[str, int] = defaultdict(int)
    names: dict[str, set[str]] = defaultdict(set)
    for (_, language), bundles in found.items():
        for bundle in bundles:
            sizes[bundle] += 1
            names[bundle].add(language)
    with documents.batch() as batch:
        for bundle, size in sizes.items():
            batch.set(
                f"{BUNDLES}/{bundle}",
                {"word_count": size, "languages": sorted(names[bundle]),
                 "loaded_at": SERVER_TIMESTAMP},
            )  # fmt: skip
    return LoadedBundles(bundles=dict(sorted(sizes.items())), words=len(found))


class WordCoverage(BaseModel):
    """One word of a bundle."""

    word: str
    language: str
    videos: int
    best_score: float | None


class BundleCoverage(BaseModel):
    """How well the stored clips cover a bundle's words."""

    bundle: str
    words: int
    covered: int
    coverage: float
    mappings: int  # word-video pairs: a clip teaching two of the bundle's words counts twice
    score_distribution: list[int]  # mappings per relevance tenth, 0-0.1 ... 0.9-1.0
    uncovered: list[str]
    per_word: list[WordCoverage]


def coverage(documents: DocumentStore, bundle: str) -> BundleCoverage | None:
    """The bundle's coverage (one read of its words), or None for an unknown bundle."""
    if documents.get(f"{BUNDLES}/{bundle}") is None:
        return None
    per_word: list[WordCoverage] = []
    bins = [0] * SCORE_BINS
    for doc in bundle_words(documents, bundle):
        data = doc.data
        per_word.append(
            WordCoverage(
                word=str(data["word"]),
                language=str(data["language"]),
                videos=int(data.get("video_count") or 0),
                best_score=data.get("best_score"),
            )
        )
        for index, count in enumerate(data.get("score_bins") or []):
            bins[index] += int(count)
    per_word.sort(key=lambda w: (w.language, w.word))
    covered = sum(1 for w in per_word if w.videos)
    return BundleCoverage(
        bundle=bundle,
        words=len(per_word),
        covered=covered,
        coverage=round(covered / len(per_word), 4) if per_word else 0.0,
        mappings=sum(w.videos for w in per_word),
        score_distribution=bins,
        uncovered=[w.word for w in per_word if not w.videos],
        per_word=per_word,
    )

"""The word↔video store: vocabulary words, stored clips, their word mappings and bundles.

Documents::

    words/<lang>:<word key>          word (as listed), language, bundles [ids], video_count,
                                     best_score, score_bins [10 counts of relevance 0-1]
    videos/<video id>                name, format, slug, size, md5, object (discovery bucket),
                                     transcript, audio_transcript, whisper, metadata,
                                     verified, source_id, created_at
    word_to_video/<mapping id>       word, language, video_id, relevance_score,
                                     transcript_source (metadata | audio), timestamp,
                                     verified_at, source_id, created_at
    bundles/<bundle id>              name, language, word_count, loaded_at

Uniqueness comes from the ids: a video's id is a digest of its (name, format), a mapping's of
(word, language, video id), so creating either twice finds it existing (``existed``,
``skipped``), whoever races. A word's counters change in the transaction that creates the
mapping, so coverage reads one document per word, never the mappings.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from shared.core.errors import AlreadyExistsError
from shared.core.words import normalise_word, word_key
from shared.ports import SERVER_TIMESTAMP, Document, DocumentStore, Transaction

__all__ = [
    "BUNDLES",
    "SCORE_BINS",
    "VIDEOS",
    "WORDS",
    "WORD_TO_VIDEO",
    "MappingRecord",
    "bundle_id",
    "create_mapping",
    "mapping_id",
    "register_words",
    "video_id",
    "word_doc_id",
]

WORDS = "words"
VIDEOS = "videos"
WORD_TO_VIDEO = "word_to_video"
BUNDLES = "bundles"
SCORE_BINS = 10
WRITE_BATCH = 400


def word_doc_id(word: str, language: str) -> str:
    """The id of a vocabulary word's document."""
    return f"{language}:{word_key(word)}"


def video_id(name: str, video_format: str) -> str:
    """A stored video's id: the same (name, format) always gets the same id."""
    digest = hashlib.sha256(f"{name.strip()}\x1f{video_format.lower()}".encode()).hexdigest()
    return f"v{digest[:24]}"


def mapping_id(word: str, language: str, video: str) -> str:
    """A word↔video mapping's id."""
    key = f"{normalise_word(word)}\x1f{language}\x1f{video}"
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def bundle_id(name: str) -> str:
    """A bundle's id from its name (``TOEFL Intermediate`` → ``toefl-intermediate``)."""
    slug = "-".join("".join(ch if ch.isalnum() else " " for ch in name.casefold()).split())
    if not slug:
        raise ValueError(f"bundle name {name!r} has no letter or digit")
    return slug


def register_words(
    documents: DocumentStore,
    words: Iterable[tuple[str, str]],
    *,
    bundles: dict[tuple[str, str], set[str]] | None = None,
) -> int:
    """Make sure each (word, language) has its document (counters start at 0; existing
    counters are kept); with ``bundles``, add each word's bundles. How many words."""
    unique: dict[str, tuple[str, str]] = {}
    for word, language in words:
        unique[word_doc_id(word, language)] = (normalise_word(word), language)
    ids = list(unique)
    for start in range(0, len(ids), WRITE_BATCH):
        chunk = ids[start : start + WRITE_BATCH]
        existing = documents.get_many([f"{WORDS}/{doc}" for doc in chunk])
        with documents.batch() as batch:
            for doc in chunk:
                word, language = unique[doc]
                data: dict[str, Any] = {"word": word, "language": language}
                before = existing.get(f"{WORDS}/{doc}")
                if bundles is not None:
                    # a second bundles file adds to a word's bundles, never drops the first's
                    kept = set(before.data.get("bundles") or []) if before is not None else set()
                    data["bundles"] = sorted(kept | bundles.get((word, language), set()))
                if before is None:
                    data |= {
                        "video_count": 0,
                        "best_score": None,
                        "score_bins": [0] * SCORE_BINS,
                        "bundles": data.get("bundles", []),
                    }
                batch.set(f"{WORDS}/{doc}", data, merge=True)
    return len(ids)


@dataclass(frozen=True)
class MappingRecord:
    """A word↔video mapping to store."""

    word: str
    language: str
    video_id: str
    relevance_score: float
    transcript_source: str
    timestamp: float | None
    verified: bool
    source_id: str


def create_mapping(documents: DocumentStore, record: MappingRecord) -> str:
    """Store the mapping unless it exists, counting it on its word: ``created``,
    ``skipped`` (it existed) or ``unknown_word`` (no such vocabulary word: nothing written)."""
    word_path = f"{WORDS}/{word_doc_id(record.word, record.language)}"
    path = f"{WORD_TO_VIDEO}/{mapping_id(record.word, record.language, record.video_id)}"

    def write(transaction: Transaction) -> str:
        word_doc = transaction.get(word_path)
        if word_doc is None:
            return "unknown_word"
        if transaction.get(path) is not None:
            return "skipped"
        data = word_doc.data
        bins = list(data.get("score_bins") or [0] * SCORE_BINS)
        bins[min(SCORE_BINS - 1, int(record.relevance_score * SCORE_BINS))] += 1
        best = data.get("best_score")
        transaction.update(
            word_path,
            {
                "video_count": int(data.get("video_count") or 0) + 1,
                "best_score": max(float(best), record.relevance_score)
                if best is not None
                else record.relevance_score,
                "score_bins": bins,
            },
        )
        transaction.create(
            path,
            {
                "word": normalise_word(record.word),
                "language": record.language,
                "video_id": record.video_id,
                "relevance_score": record.relevance_score,
                "transcript_source": record.transcript_source,
                "timestamp": record.timestamp,
                "verified_at": SERVER_TIMESTAMP if record.verified else None,
                "source_id": record.source_id,
                "created_at": SERVER_TIMESTAMP,
            },
        )
        return "created"

    try:
        return documents.run_transaction(write)
    except AlreadyExistsError:
        return "skipped"


def videos_for_word(
    documents: DocumentStore, word: str, language: str, limit: int
) -> list[Document]:
    """The mappings of ``word`` in ``language``, most relevant first (one indexed query)."""
    return documents.query(
        WORD_TO_VIDEO,
        where=[("word", "==", normalise_word(word)), ("language", "==", language)],
        order_by=[("relevance_score", "desc")],
        limit=limit,
    )


def bundle_words(documents: DocumentStore, bundle: str) -> Iterator[Document]:
    """The word documents of a bundle."""
    yield from documents.query(WORDS, where=[("bundles", "array-contains", bundle)])


def word_docs(documents: DocumentStore, keys: Sequence[tuple[str, str]]) -> dict[str, Document]:
    """Word documents of (word, language) pairs, by document path."""
    return documents.get_many([f"{WORDS}/{word_doc_id(w, lang)}" for w, lang in keys])

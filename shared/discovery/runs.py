"""Discovery runs: a words file read and checked, the run recorded with its parameters and
vocabulary, one ``word-searches`` message per word.

Documents::

    discovery_runs/<run>                     words, language, source, limits, models and
                                             prompts, vocabulary object, created_at
    discovery_runs/<run>/words/<word key>    word, status (queued | searched | failed),
                                             hits, clips (the clips it found first),
                                             searches, error, searched_at
    discovery_runs/<run>/clips/<clip key>    clip_id, word (whose search found it first),
                                             status (found | scored | fetched | stored |
                                             rejected | failed), mapped, refused, video_id,
                                             error, cost_usd

Objects (discovery bucket)::

    runs/<run>/vocabulary.json               the run's words (normal form), in file order
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shared.core.errors import PermanentError
from shared.core.words import normalise_word, word_key
from shared.discovery.messages import WORD_SEARCHES, WordSearch
from shared.discovery.prompts import CANDIDATE_PROMPT, FINAL_PROMPT
from shared.discovery.settings import DiscoverySettings
from shared.discovery.store import register_words
from shared.platform.context import Context
from shared.ports import SERVER_TIMESTAMP, Document

__all__ = [
    "RUNS",
    "DiscoveryRequest",
    "RunPlan",
    "WordsFileError",
    "clip_key",
    "csv_rows",
    "latest_run",
    "load_run",
    "read_words",
    "run_clips",
    "run_words",
    "start_run",
    "vocabulary",
]

RUNS = "discovery_runs"
WRITE_BATCH = 400


class WordsFileError(PermanentError):
    """The words file cannot be used (the message names the file and the line)."""


class DiscoveryRequest(BaseModel):
    """The flags of ``vidcurate discover run``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    words: tuple[str, ...] = Field(min_length=1)
    words_file: str = ""
    language: str = Field("en", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$")
    source: str = "clipcafe"
    max_videos: int = Field(100, ge=1, le=1000)
    min_score: float = Field(0.6, ge=0, le=1)
    max_mappings: int = Field(5, ge=1, le=50)
    dry_run: bool = False
    max_cost_usd: float | None = Field(None, gt=0)

    @field_validator("words")
    @classmethod
    def _normal_words(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        """Each word in its normal form, once, in the order given."""
        return tuple(dict.fromkeys(normalise_word(word) for word in value))


@dataclass(frozen=True)
class RunPlan:
    """What ``start_run`` recorded and queued."""

    run: str
    words: int
    queued: int
    estimate_usd: float
    search_minutes: float
    dry_run: bool
    capped: int = 0  # words left out by --max-cost-usd


def csv_rows(path: Path, error: type[PermanentError]) -> list[list[str]]:
    """The rows of a user's CSV file (UTF-8, a BOM allowed); ``error`` names the file and
    what is wrong with it."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a folder, not a CSV file") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise error(f"{path}: cannot be read ({exc.strerror})") from None
    try:
        return list(csv.reader(io.StringIO(text)))
    except csv.Error as exc:
        raise error(f"{path}: not a CSV file ({exc})") from None


def read_words(path: Path) -> list[str]:
    """The words of a CSV file (a ``word`` column, else the first column; one per line is a
    CSV too), in their normal form, each once, in file order; WordsFileError naming the file
    and line otherwise."""
    rows = csv_rows(path, WordsFileError)
    column, start = 0, 0
    if rows:
        header = [cell.strip().casefold() for cell in rows[0]]
        if "word" in header:
            column, start = header.index("word"), 1
    words: dict[str, None] = {}
    for number, row in enumerate(rows[start:], start=start + 1):
        if not row or not any(cell.strip() for cell in row):
            continue
        if column >= len(row) or not row[column].strip():
            raise WordsFileError(f"{path}: line {number} has no word")
        try:
            words.setdefault(normalise_word(row[column]), None)
        except ValueError:
            raise WordsFileError(f"{path}: line {number}: {row[column]!r} is not a word") from None
    if not words:
        raise WordsFileError(f"{path}: no words in it")
    return list(words)


def clip_key(source: str, clip_id: str) -> str:
    """A clip's id within a run (and in the caches): its source and the source's id."""
    digest = hashlib.sha256(f"{source}\x1f{clip_id}".encode()).hexdigest()[:24]
    return f"c{digest}"


def source_key(source: str) -> str:
    """A source's name in object paths (a folder's path is hashed)."""
    if source == "clipcafe":
        return source
    return "folder-" + hashlib.sha256(source.encode()).hexdigest()[:12]


def vocabulary_object(run: str) -> str:
    """Where a run's vocabulary is kept in the discovery bucket."""
    return f"runs/{run}/vocabulary.json"


def _estimate(settings: DiscoverySettings, request: DiscoveryRequest, words: int) -> float:
    """An upper estimate of a run's model spend: every word's clips scored, heard and checked."""
    clips = words * request.max_videos
    candidate = settings.model_prices.get(settings.candidate_model)
    final = settings.model_prices.get(settings.final_model)
    per_clip = 0.0
    for price, tokens_in, tokens_out in ((candidate, 900, 250), (final, 1400, 200)):
        if price is not None:
            per_clip += (
                tokens_in * price.input_per_million + tokens_out * price.output_per_million
            ) / 1e6
    minutes = settings.clip_max_seconds / 60
    per_clip += minutes * settings.transcription_prices.get(settings.transcription_model, 0.0)
    return round(clips * per_clip, 4)


def start_run(
    services: Context[DiscoverySettings], request: DiscoveryRequest, *, rate: float | None
) -> RunPlan:
    """Record the run and queue one message per word (nothing with ``dry_run``). ``rate`` is
    the source's searches per minute (None: unlimited) for the time estimate. With
    ``max_cost_usd``, only the first words whose estimate fits are queued."""
    settings = services.settings
    words = list(request.words)
    capped = 0
    estimate = _estimate(settings, request, len(words))
    if request.max_cost_usd is not None and estimate > request.max_cost_usd:
        per_word = estimate / len(words)
        fits = int(request.max_cost_usd // per_word) if per_word > 0 else len(words)
        capped = len(words) - fits
        words = words[:fits]
        estimate = _estimate(settings, request, len(words))
    pages = max(1, -(-request.max_videos // 100))
    minutes = len(words) * pages / rate if rate else 0.0
    run = f"disc_{datetime.now(UTC):%Y%m%d_%H%M%S}_{secrets.token_hex(2)}"
    plan = RunPlan(run, len(request.words), 0, estimate, minutes, request.dry_run, capped)
    if request.dry_run or not words:
        return plan
    services.blobs.write(
        settings.discovery_bucket,
        vocabulary_object(run),
        json.dumps(list(request.words), ensure_ascii=False).encode(),
        content_type="application/json",
    )
    register_words(services.documents, [(word, request.language) for word in request.words])
    services.documents.set(
        f"{RUNS}/{run}",
        {
            **request.model_dump(exclude={"words"}),
            "words": len(request.words),
            "queued": len(words),
            "capped": capped,
            "candidate_model": settings.candidate_model,
            "final_model": settings.final_model,
            "transcription_model": settings.transcription_model,
            "prompts": [CANDIDATE_PROMPT.key, FINAL_PROMPT.key],
            "min_word_confidence": settings.min_word_confidence,
            "search_language": settings.clip_language,
            "estimate_usd": estimate,
            "created_at": SERVER_TIMESTAMP,
        },
    )
    for start in range(0, len(words), WRITE_BATCH):
        with services.documents.batch() as batch:
            for word in words[start : start + WRITE_BATCH]:
                batch.set(
                    f"{RUNS}/{run}/words/{word_key(word)}",
                    {"word": word, "status": "queued", "updated_at": SERVER_TIMESTAMP},
                )
    WORD_SEARCHES.publish_all(
        services.bus, [WORD_SEARCHES.message(WordSearch(run=run, word=w)) for w in words]
    )
    return RunPlan(run, len(request.words), len(words), estimate, minutes, False, capped)


def load_run(services: Context[DiscoverySettings], run: str) -> dict[str, Any]:
    """A run's record; PermanentError for an unknown run."""
    doc = services.documents.get(f"{RUNS}/{run}")
    if doc is None:
        raise PermanentError(f"discovery run {run!r} does not exist")
    return doc.data


@lru_cache(maxsize=16)
def _vocabulary(bucket: str, run: str, raw: bytes) -> frozenset[str]:
    del bucket, run  # the cache key
    return frozenset(json.loads(raw))


def vocabulary(services: Context[DiscoverySettings], run: str) -> frozenset[str]:
    """The run's words (normal form)."""
    bucket = services.settings.discovery_bucket
    raw = services.blobs.read(bucket, vocabulary_object(run))
    return _vocabulary(bucket, run, raw)


def run_words(services: Context[DiscoverySettings], run: str) -> list[Document]:
    """Every word document of a run (status views read them once per call)."""
    return list(services.documents.iter_collection(f"{RUNS}/{run}/words"))


def run_clips(services: Context[DiscoverySettings], run: str) -> list[Document]:
    """Every clip document of a run."""
    return list(services.documents.iter_collection(f"{RUNS}/{run}/clips"))


def latest_run(services: Context[DiscoverySettings]) -> str | None:
    """The newest run's id (ids sort by time)."""
    newest = services.documents.query(RUNS, order_by=[("created_at", "desc")], limit=1)
    return newest[0].id if newest else None

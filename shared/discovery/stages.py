"""The four stages of a discovery run, one message each, every one idempotent and cached.

- :func:`search_word` (``word-searches``): the word's clips from the source (a search answer
  is kept per word, source and range, so a run again asks nothing); each clip is claimed
  for the run by the first word that finds it and sent on to scoring;
- :func:`score_clip` (``clip-candidates``): the candidate model maps the clip to the words
  of the run's vocabulary its transcript says (an answer is kept per prompt, model and
  inputs); the mappings are checked; a clip with none is rejected;
- :func:`fetch_clip` (``clip-fetches``): the clip downloaded (its link refreshed if it
  expired), its audio extracted and transcribed with word times (kept per clip and model);
  the clip waits in ``scratch/`` of the discovery bucket;
- :func:`review_clip` (``clip-reviews``): the final model with both transcripts (kept per
  prompt, model and inputs); the approved words stored with the clip through the upload
  contract; the scratch copy deleted.

Each stage publishes the next message BEFORE it records its own status: a crash in between
repeats the stage on redelivery (its cached answers make that free) and the next stage's
idempotency absorbs the second message, so no clip is lost and no paid call is made twice.
A clip that cannot succeed (refused by the source, not a video, no audio, a model that keeps
answering malformed) is recorded ``failed`` with the reason and acknowledged.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from shared.core.errors import (
    AlreadyExistsError,
    BusyError,
    NotFoundError,
    PreconditionFailedError,
    TransientError,
)
from shared.core.words import present_words, word_key
from shared.discovery.mappings import (
    AudioWord,
    CandidateAnswer,
    FinalAnswer,
    WordMapping,
    merge_final,
    validate_mappings,
)
from shared.discovery.messages import (
    CANDIDATES,
    FETCHES,
    REVIEWS,
    CandidateClip,
    Hit,
    Mapped,
    WordSearch,
)
from shared.discovery.prompts import CANDIDATE_PROMPT, FINAL_PROMPT
from shared.discovery.runs import (
    RUNS,
    clip_key,
    load_run,
    source_key,
    vocabulary,
)
from shared.discovery.settings import DiscoverySettings
from shared.discovery.sourcing import Searcher
from shared.discovery.store import VIDEOS, WORDS, video_id, word_doc_id
from shared.discovery.subtitles import parse_cues
from shared.discovery.upload import UploadMapping, VideoFields, store_video
from shared.llm.client import ModelCallFailedError, model_client
from shared.llm.speech import transcription_client
from shared.media.audio import extract_audio
from shared.media.decode import VideoDecodeError
from shared.platform.context import Context
from shared.platform.leases import Keep, Lease, Take, View
from shared.ports import SERVER_TIMESTAMP
from shared.ports.clips import ClipHit, ClipSourceError
from shared.ports.models import ModelRequestError

__all__ = ["Outcome", "fetch_clip", "review_clip", "score_clip", "search_word"]

log = logging.getLogger("vidcurate.discovery")

SCORES = "discovery_scores"
TRANSCRIPTS = "discovery_transcripts"
REVIEWS_CACHE = "discovery_reviews"
LEASE_SECONDS = 600.0  # longer than a stage may run (the functions' 540 s timeout)

Outcome = Literal["done", "already_done", "rejected", "failed", "stale"]


def _digest(*parts: object) -> str:
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:40]


def _clip_path(run: str, source: str, clip_id: str) -> str:
    return f"{RUNS}/{run}/clips/{clip_key(source, clip_id)}"


def _scratch(source: str, hit: Hit) -> str:
    return f"scratch/{source_key(source)}/{clip_key(source, hit.clip_id)}.mp4"


def _search_cache(settings: DiscoverySettings, run: dict[str, Any], word: str) -> str:
    """Where a word's search answer (and its renewed links) is kept in the bucket."""
    return (
        f"searches/{source_key(str(run['source']))}/{run['language']}/"
        f"{settings.clip_min_seconds}-{settings.clip_max_seconds}/{word_key(word)}.json"
    )


@dataclass
class _CachedLinks:
    """The link book in a word's search answer: ``links`` maps a clip id to its newest
    link and when it was issued. Two fetches renewing at once may each keep the other's
    links out; both sets are fresh, so the worst is one more search later."""

    services: Context[DiscoverySettings]
    name: str

    def lookup(self, clip_id: str) -> tuple[str, float] | None:
        cached = _read_json(self.services, self.services.settings.discovery_bucket, self.name)
        linked = ((cached or {}).get("links") or {}).get(clip_id)
        return (str(linked["url"]), float(linked["at"])) if linked else None

    def remember(self, hits: Sequence[ClipHit], at: float) -> None:
        bucket = self.services.settings.discovery_bucket
        cached = _read_json(self.services, bucket, self.name)
        if cached is None:
            return  # nothing to add links to: the search stage writes the answer first
        links = cached.setdefault("links", {})
        for hit in hits:
            if hit.download_url:
                links[hit.clip_id] = {"url": hit.download_url, "at": at}
        body = json.dumps(cached, ensure_ascii=False).encode()
        self.services.blobs.write(bucket, self.name, body, content_type="application/json")


def _searcher(
    services: Context[DiscoverySettings], source: str, links: _CachedLinks | None = None
) -> Searcher:
    settings = services.settings
    return Searcher(
        source=services.clip_source(source),
        documents=services.documents,
        max_wait=settings.clip_search_max_wait_seconds,
        language=settings.clip_language,
        min_seconds=settings.clip_min_seconds,
        max_seconds=settings.clip_max_seconds,
        link_seconds=settings.clip_link_seconds,
        links=links,
    )


def _fail(lease: Lease, reason: str) -> Outcome:
    lease.finish({"status": "failed", "error": reason[:1000], "updated_at": SERVER_TIMESTAMP})
    log.warning("discovery clip failed: %s", reason, extra={"labels": {"clip": lease.path}})
    return "failed"


def _staged(
    services: Context[DiscoverySettings],
    path: str,
    expected: str,
    work: Callable[[Lease, dict[str, Any]], Outcome],
    *,
    previous: str | None = None,
) -> Outcome:
    """Run ``work`` holding the document at ``path`` while its status is ``expected``:
    ``stale`` when it is gone, ``already_done`` when its status moved on, BusyError (a
    retry later) while another delivery holds it, so two deliveries of one message never
    both pay. ``work`` ends by finishing the lease with the new status; an error releases
    it for the retry.

    A stage tells the next one before it records its own status, so the next may find the
    clip still at the ``previous`` status: that one is retried later (BusyError), never
    taken for done."""
    lease = Lease(services.documents, path, uuid.uuid4().hex, seconds=LEASE_SECONDS)

    def decide(view: View) -> Take[dict[str, Any] | Outcome] | Keep[dict[str, Any] | Outcome]:
        if not view.exists:
            return Keep("stale")
        status = view.data.get("status")
        if previous is not None and status == previous:
            raise BusyError(f"{path}: the previous stage has not recorded its outcome yet")
        if status != expected:
            return Keep("already_done")
        if view.held:
            raise BusyError(f"{path}: another delivery is working on it")
        return Take(dict(view.data), {"updated_at": SERVER_TIMESTAMP}, write="update")

    claimed = lease.claim(decide)
    if isinstance(claimed, str):
        return claimed
    try:
        return work(lease, claimed)
    except BaseException:
        lease.release()
        raise


# -- 1. search -----------------------------------------------------------------------------


def search_word(services: Context[DiscoverySettings], job: WordSearch) -> Outcome:
    """Search the word's clips and send each clip it finds first on to scoring."""
    run = load_run(services, job.run)
    path = f"{RUNS}/{job.run}/words/{word_key(job.word)}"
    return _staged(services, path, "queued", lambda lease, _: _search(services, job, run, lease))


def _search(
    services: Context[DiscoverySettings], job: WordSearch, run: dict[str, Any], lease: Lease
) -> Outcome:
    settings = services.settings
    source = str(run["source"])
    limit = int(run["max_videos"])
    cache = _search_cache(settings, run, job.word)
    bucket = settings.discovery_bucket
    cached = _read_json(services, bucket, cache)
    requests = 0
    if cached is not None and int(cached.get("limit", 0)) >= limit:
        hits = [Hit.model_validate(h) for h in cached["hits"]][:limit]
        searched_at = float(cached["searched_at"])
    else:
        try:
            outcome = _searcher(services, source).search(job.word, limit=limit)
        except ClipSourceError as exc:
            lease.finish(
                {"status": "failed", "error": str(exc)[:1000], "updated_at": SERVER_TIMESTAMP}
            )
            return "failed"
        hits = [Hit.of(hit) for hit in outcome.hits]
        searched_at, requests = outcome.searched_at, outcome.requests
        body = {
            "word": job.word,
            "limit": limit,
            "total": outcome.total,
            "searched_at": searched_at,
            "hits": [hit.model_dump(mode="json") for hit in hits],
        }
        services.blobs.write(
            bucket,
            cache,
            json.dumps(body, ensure_ascii=False).encode(),
            content_type="application/json",
        )
    mine = _claim_clips(services, job, source, hits)
    CANDIDATES.publish_all(
        services.bus,
        [
            CANDIDATES.message(
                CandidateClip(run=job.run, word=job.word, hit=hit, searched_at=searched_at),
                {"run": job.run},
            )
            for hit in mine
        ],
    )
    lease.finish(
        {
            "status": "searched",
            "hits": len(hits),
            "clips": len(mine),
            "searches": requests,
            "error": None,
            "searched_at": SERVER_TIMESTAMP,
            "updated_at": SERVER_TIMESTAMP,
        }
    )
    return "done"


def _claim_clips(
    services: Context[DiscoverySettings], job: WordSearch, source: str, hits: list[Hit]
) -> list[Hit]:
    """The hits this word claims for the run: new ones, and its own claims not sent on yet
    (a crash after claiming, before publishing)."""
    documents = services.documents
    paths = [_clip_path(job.run, source, hit.clip_id) for hit in hits]
    existing = documents.get_many(paths)
    mine: list[Hit] = []
    for hit, path in zip(hits, paths, strict=True):
        doc = existing.get(path)
        if doc is None:
            try:
                documents.create(
                    path,
                    {
                        "clip_id": hit.clip_id,
                        "source": source,
                        "slug": hit.slug,
                        "title": hit.title,
                        "word": job.word,
                        "status": "found",
                        "created_at": SERVER_TIMESTAMP,
                        "updated_at": SERVER_TIMESTAMP,
                    },
                )
            except AlreadyExistsError:
                doc = documents.get(path)
            else:
                mine.append(hit)
                continue
        if (
            doc is not None
            and doc.data.get("word") == job.word
            and doc.data.get("status") == "found"
        ):
            mine.append(hit)
    return mine


def _read_json(services: Context[DiscoverySettings], bucket: str, name: str) -> Any:
    try:
        return json.loads(services.blobs.read(bucket, name))
    except NotFoundError:
        return None


# -- 2. score ------------------------------------------------------------------------------


def score_clip(services: Context[DiscoverySettings], job: CandidateClip) -> Outcome:
    """Map the clip to the vocabulary words it teaches; send it on, or reject it."""
    run = load_run(services, job.run)
    path = _clip_path(job.run, str(run["source"]), job.hit.clip_id)
    return _staged(services, path, "found", lambda lease, _: _score(services, job, run, lease))


def _score(
    services: Context[DiscoverySettings], job: CandidateClip, run: dict[str, Any], lease: Lease
) -> Outcome:
    hit = job.hit
    words = present_words(vocabulary(services, job.run), hit.transcript)
    if not words:
        return _reject(lease, "no word of the vocabulary is said in its transcript", [])
    model = str(run["candidate_model"])
    data = {
        "title": hit.title,
        "duration": f"{hit.duration_seconds:.1f} s" if hit.duration_seconds else "unknown",
        "transcript": hit.transcript,
        "vocabulary": "\n".join(words),
    }
    key = _digest(CANDIDATE_PROMPT.key, model, data)
    answer, cost = _cached_answer(
        services, f"{SCORES}/{key}", CandidateAnswer, CANDIDATE_PROMPT, model, data,
        {"kind": "discovery_candidates", "run": job.run, "word": job.word},
    )  # fmt: skip
    if answer is None:
        return _fail(lease, f"candidate analysis: {cost}")
    kept, refused = validate_mappings(
        answer,
        transcript=hit.transcript,
        vocabulary=words,
        min_score=float(run["min_score"]),
        max_mappings=int(run["max_mappings"]),
    )
    refusals = [{"word": r.word, "reason": r.reason} for r in refused]
    if not kept:
        return _reject(lease, "no mapping passed the checks", refusals)
    mapped = tuple(
        Mapped(word=m.word, relevance_score=m.relevance_score, reason=m.reason) for m in kept
    )
    FETCHES.publish(services.bus, job.model_copy(update={"mapped": mapped}), {"run": job.run})
    lease.finish(
        {
            "status": "scored",
            "mapped": [m.model_dump() for m in mapped],
            "refused": refusals,
            "updated_at": SERVER_TIMESTAMP,
        }
    )
    return "done"


def _reject(lease: Lease, reason: str, refused: list[dict[str, str]]) -> Outcome:
    lease.finish(
        {"status": "rejected", "reason": reason, "refused": refused, "updated_at": SERVER_TIMESTAMP}
    )
    return "rejected"


def _cached_answer(
    services: Context[DiscoverySettings],
    cache_path: str,
    schema: type[Any],
    prompt: Any,
    model: str,
    data: dict[str, str],
    labels: dict[str, str],
) -> tuple[Any, Any]:
    """The model's answer for these inputs: kept from an earlier call, or asked now and
    kept; ``(answer, cost)``, or ``(None, reason)`` when the model cannot answer."""
    cached = services.documents.get(cache_path)
    if cached is not None:
        return schema.model_validate(cached.data["answer"]), 0.0
    try:
        result = model_client(services).generate(
            prompt, model=model, schema=schema, data=data, labels=labels
        )
    except (ModelCallFailedError, ModelRequestError) as exc:
        return None, str(exc)
    services.documents.set(
        cache_path,
        {
            "answer": result.parsed.model_dump(mode="json"),
            "model": result.model,
            "provider": result.provider,
            "prompt": prompt.key,
            "cost_usd": result.cost_usd,
            "created_at": SERVER_TIMESTAMP,
        },
    )
    return result.parsed, result.cost_usd


# -- 3. fetch ------------------------------------------------------------------------------


def fetch_clip(services: Context[DiscoverySettings], job: CandidateClip) -> Outcome:
    """Download the clip, hear its audio with word times, and send it on to review."""
    run = load_run(services, job.run)
    path = _clip_path(job.run, str(run["source"]), job.hit.clip_id)
    return _staged(
        services,
        path,
        "scored",
        lambda lease, _: _fetch(services, job, run, lease),
        previous="found",
    )


def _fetch(
    services: Context[DiscoverySettings], job: CandidateClip, run: dict[str, Any], lease: Lease
) -> Outcome:
    settings = services.settings
    source = str(run["source"])
    model = str(run["transcription_model"])
    transcript_path = f"{TRANSCRIPTS}/{_digest(source, job.hit.clip_id, model, run['language'])}"
    scratch = _scratch(source, job.hit)
    bucket = settings.discovery_bucket
    # A clip stored by an earlier run needs no download: review reads the stored copy.
    have_clip = services.blobs.exists(bucket, scratch) or _stored(services, job.hit) is not None
    heard = services.documents.get(transcript_path) is not None
    if not (have_clip and heard):
        try:
            _download_and_hear(services, job, run, source, scratch, transcript_path, heard)
        except (ClipSourceError, VideoDecodeError) as exc:
            return _fail(lease, str(exc))
        except (ModelCallFailedError, ModelRequestError) as exc:
            return _fail(lease, f"transcription: {exc}")
    REVIEWS.publish(services.bus, job, {"run": job.run})
    lease.finish(
        {"status": "fetched", "transcript": transcript_path, "updated_at": SERVER_TIMESTAMP}
    )
    return "done"


def _download_and_hear(
    services: Context[DiscoverySettings],
    job: CandidateClip,
    run: dict[str, Any],
    source: str,
    scratch: str,
    transcript_path: str,
    heard_already: bool,
) -> None:
    """Download the clip into ``scratch`` (if it is not there) and transcribe it (if it was
    not transcribed), through a temporary folder that is always removed."""
    settings = services.settings
    bucket = settings.discovery_bucket
    with tempfile.TemporaryDirectory(prefix="vidcurate-clip-") as folder:
        video = Path(folder) / "clip.mp4"
        have_clip = services.blobs.exists(bucket, scratch)
        if have_clip:
            video.write_bytes(services.blobs.read(bucket, scratch))
        else:
            links = _CachedLinks(services, _search_cache(settings, run, job.word))
            with video.open("w+b") as out:
                _searcher(services, source, links).download(
                    job.hit.port(), job.word, out, searched_at=job.searched_at,
                    max_bytes=settings.clip_max_bytes,
                )  # fmt: skip
        if not have_clip:
            # Kept before the paid transcription: a retry after a crash downloads nothing.
            with contextlib.suppress(PreconditionFailedError):  # a concurrent delivery's copy
                services.blobs.write(
                    bucket, scratch, video.read_bytes(), content_type="video/mp4",
                    if_generation_match=0,
                )  # fmt: skip
        if heard_already:
            return
        audio = Path(folder) / "audio.wav"
        try:
            info = extract_audio(video, audio)
        except VideoDecodeError as exc:  # named by the clip, not the temporary file
            raise VideoDecodeError(str(exc).replace(str(video), f"clip {job.hit.clip_id}")) from exc
        heard = transcription_client(services).transcribe(
            audio.read_bytes(),
            model=str(run["transcription_model"]),
            audio_seconds=info.seconds,
            language=str(run["language"]),
            cues=parse_cues(job.hit.subtitles),
            labels={"kind": "transcription", "run": job.run, "word": job.word},
        )
        transcript = heard.transcript
        services.documents.set(
            transcript_path,
            {
                "words": [
                    {"word": w.word, "start": w.start, "end": w.end, "confidence": w.confidence}
                    for w in transcript.words
                ],
                "full_transcript": transcript.text,
                "language": transcript.language,
                "duration_seconds": transcript.duration_seconds or info.seconds,
                "model": heard.model,
                "provider": heard.provider,
                "cost_usd": heard.cost_usd,
                "created_at": SERVER_TIMESTAMP,
            },
        )
    # the temporary folder (clip and audio) is gone here, whatever happened


# -- 4. review and store ---------------------------------------------------------------------


def review_clip(services: Context[DiscoverySettings], job: CandidateClip) -> Outcome:
    """The final check with both transcripts; the approved words stored with the clip."""
    run = load_run(services, job.run)
    path = _clip_path(job.run, str(run["source"]), job.hit.clip_id)
    return _staged(
        services,
        path,
        "fetched",
        lambda lease, data: _review(services, job, run, lease, data),
        previous="scored",
    )


def _review(
    services: Context[DiscoverySettings],
    job: CandidateClip,
    run: dict[str, Any],
    lease: Lease,
    clip: dict[str, Any],
) -> Outcome:
    source = str(run["source"])
    heard_doc = services.documents.get(str(clip["transcript"]))
    if heard_doc is None:
        raise TransientError(f"{job.hit.clip_id}: its transcript is not there yet")
    heard = heard_doc.data
    hit = job.hit
    model = str(run["final_model"])
    data = {
        "title": hit.title,
        "duration": f"{hit.duration_seconds:.1f} s" if hit.duration_seconds else "unknown",
        "transcript": hit.transcript,
        "audio_transcript": str(heard.get("full_transcript") or ""),
        "mapped_words": "\n".join(f"{m.word}: {m.relevance_score:.2f}" for m in job.mapped),
    }
    key = _digest(FINAL_PROMPT.key, model, data)
    answer, cost = _cached_answer(
        services, f"{REVIEWS_CACHE}/{key}", FinalAnswer, FINAL_PROMPT, model, data,
        {"kind": "discovery_final", "run": job.run, "word": job.word},
    )  # fmt: skip
    if answer is None:
        return _fail(lease, f"final analysis: {cost}")
    audio_words = [
        AudioWord(w["word"], float(w["start"]), float(w["end"]), w.get("confidence"))
        for w in heard.get("words") or []
    ]
    kept, refused = merge_final(
        [WordMapping(m.word, m.relevance_score, m.reason) for m in job.mapped],
        answer,
        heard=audio_words,
        min_score=float(run["min_score"]),
        min_confidence=float(run["min_word_confidence"]),
    )
    # the candidate stage's refusals stay beside this stage's
    refusals = list(clip.get("refused") or []) + [
        {"word": r.word, "reason": r.reason} for r in refused
    ]
    language = str(run["language"])
    full = _full_words(services, [m.word for m in kept], language, int(run["max_videos"]))
    for word in full:
        refusals.append(
            {"word": word, "reason": f"the word has {run['max_videos']} videos already"}
        )
    kept = [m for m in kept if m.word not in full]
    scratch = _scratch(source, hit)
    bucket = services.settings.discovery_bucket
    if not kept:
        outcome = _reject(lease, answer.reason or "no word approved", refusals)
        _forget_scratch(services, bucket, scratch)
        return outcome
    try:
        data_bytes = services.blobs.read(bucket, scratch)
    except NotFoundError:
        # Stored before (by an earlier run, or by a delivery that died before saying so):
        # the stored copy is the same clip.
        stored = _stored(services, hit)
        if stored is None:
            return _fail(lease, f"{hit.clip_id}: its downloaded copy is gone")
        data_bytes = services.blobs.read(str(stored["bucket"]), str(stored["object"]))
    offline = str(heard.get("provider")) == "offline"
    result = store_video(
        services,
        source_key(source),
        VideoFields(
            slug=hit.slug,
            name=hit.slug,
            format="mp4",
            transcript=hit.transcript,
            audio_transcript=str(heard.get("full_transcript") or ""),
            verified=not offline and any(m.transcript_source == "audio" for m in kept),
            whisper_metadata={
                "words": heard.get("words") or [],
                "full_transcript": heard.get("full_transcript") or "",
                "language": heard.get("language"),
                "duration_seconds": heard.get("duration_seconds"),
                "model": heard.get("model"),
            },
            metadata={
                "clip_id": hit.clip_id,
                "title": hit.title,
                "duration_seconds": hit.duration_seconds,
                "views": hit.views,
                "source": source_key(source),
                "found_by": job.word,
                "run": job.run,
                **{
                    k: v for k, v in hit.metadata.items() if isinstance(v, str | int | float | bool)
                },
            },
            word_mappings=[
                UploadMapping(
                    word=m.word,
                    learning_language=language,
                    relevance_score=m.relevance_score,
                    transcript_source=m.transcript_source,
                    timestamp=m.timestamp,
                )
                for m in kept
            ],
        ),
        data_bytes,
    )
    lease.finish(
        {
            "status": "stored",
            "video_id": result.video_id,
            "stored": result.status,
            "final": [
                {"word": m.word, "relevance_score": m.relevance_score,
                 "transcript_source": m.transcript_source, "timestamp": m.timestamp}
                for m in kept
            ],
            "refused": refusals + [r.model_dump() for r in result.mappings_refused],
            "mappings_created": result.mappings_created,
            "mappings_skipped": result.mappings_skipped,
            "updated_at": SERVER_TIMESTAMP,
        }
    )  # fmt: skip
    _forget_scratch(services, bucket, scratch)
    return "done"


def _full_words(
    services: Context[DiscoverySettings], words: list[str], language: str, limit: int
) -> set[str]:
    """The words that have ``limit`` videos already (one read per word, batched)."""
    paths = {f"{WORDS}/{word_doc_id(w, language)}": w for w in words}
    docs = services.documents.get_many(list(paths))
    return {paths[p] for p, d in docs.items() if int(d.data.get("video_count") or 0) >= limit}


def _stored(services: Context[DiscoverySettings], hit: Hit) -> dict[str, Any] | None:
    """The ``videos`` document of the clip if it was stored before."""
    doc = services.documents.get(f"{VIDEOS}/{video_id(hit.slug, 'mp4')}")
    return doc.data if doc is not None else None


def _forget_scratch(services: Context[DiscoverySettings], bucket: str, name: str) -> None:
    with contextlib.suppress(NotFoundError):
        services.blobs.delete(bucket, name)

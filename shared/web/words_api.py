"""The word↔video HTTP API (``/v3/...``): what a vocabulary product's apps read, and the
batch upload its pipeline (or ours) writes through.

- ``POST /v3/admin/videos/batch-upload``: admin only (``Authorization: Bearer <token>``, a
  token of ``VIDCURATE_DISCOVERY_API_TOKENS``); the contract of
  :mod:`shared.discovery.upload`: per video ``created`` / ``existed`` / ``failed`` with the
  mappings created, skipped and refused; the same batch again changes nothing.
- ``GET /v3/videos/<id>``: the clip's bytes from the bucket, never from the database, with
  ``Cache-Control: public, max-age=31536000, immutable`` (a stored clip never changes), an
  ``ETag`` (its MD5; ``If-None-Match`` answers 304) and single byte ranges (206, or 416
  with the size) for players that seek.
- ``GET /v3/words/<word>/videos?language=en&limit=N``: the word's clips, most relevant first.
- ``GET /v3/bundles/<bundle>/coverage``: words with clips, mappings, relevance histogram.

The OpenAPI document of these routes is the app's (``/openapi.json``). Errors are
``{"error": "..."}`` with a 4xx status, never a traceback.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from shared.discovery.api import (
    BatchUpload,
    BatchUploadResult,
    BundleCoverage,
    WordVideos,
    bundle_coverage,
    store_videos,
    stored_object,
    word_videos,
)
from shared.web.state import PageError, StateDep
from shared.web.streaming import stream_object

__all__ = ["UPLOAD_PATH", "router"]

router = APIRouter(prefix="/v3", tags=["word videos"])

UPLOAD_PATH = "/v3/admin/videos/batch-upload"
CACHE_FOREVER = "public, max-age=31536000, immutable"
LANGUAGE = r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})?$"
_ERRORS = {
    401: {"description": "No or wrong admin token"},
    404: {"description": "Not found"},
    413: {"description": "The body is over the size limit"},
    422: {"description": "Invalid request"},
}


def require_admin(request: Request, state: StateDep) -> None:
    """An admin token in ``Authorization: Bearer``, compared in constant time (401 else)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    tokens = [t.get_secret_value() for t in state.services.settings.discovery_api_tokens]
    challenge = {"WWW-Authenticate": 'Bearer realm="vidcurate"'}
    if scheme.lower() != "bearer" or not token.strip():
        raise PageError(401, "an admin call needs Authorization: Bearer <token>", headers=challenge)
    if not any(hmac.compare_digest(token.strip().encode(), t.encode()) for t in tokens if t):
        raise PageError(401, "this token may not call the admin API", headers=challenge)


@router.post(
    "/admin/videos/batch-upload",
    response_model=BatchUploadResult,
    summary="Store clips with their word mappings (admin)",
    dependencies=[Depends(require_admin)],
    responses={k: v for k, v in _ERRORS.items() if k != 404},
)
def batch_upload(upload: BatchUpload, state: StateDep) -> BatchUploadResult:
    """Each video is checked (format, base64, size, a real video) and stored once by its
    (name, format); each mapping once by (word, language, video). Per video: ``created``,
    ``existed`` or ``failed`` with the reason; mappings created, skipped (they existed) and
    refused (an unknown word)."""
    return store_videos(state.services, upload)


@router.get(
    "/videos/{video_id}",
    summary="A stored clip's bytes",
    response_class=Response,
    responses={
        200: {"content": {"video/mp4": {}}, "description": "The clip"},
        206: {"content": {"video/mp4": {}}, "description": "The byte range asked for"},
        304: {"description": "Not modified (If-None-Match)"},
        404: _ERRORS[404],
        416: {"description": "The range is past the end"},
    },
)
def video(video_id: str, request: Request, state: StateDep) -> Response:
    """The clip, cacheable forever; ``Range: bytes=a-b`` for a part of it."""
    found = stored_object(state.services, video_id)
    if found is None:
        raise PageError(404, f"no video {video_id!r}")
    return stream_object(
        request,
        state.services.blobs,
        found.bucket,
        found.name,
        size=found.size,
        etag=f'"{found.md5}"',
        content_type=found.content_type,
        cache_control=CACHE_FOREVER,
    )


@router.get(
    "/words/{word}/videos",
    response_model=WordVideos,
    summary="A word's clips, most relevant first",
    responses={404: _ERRORS[404], 422: _ERRORS[422]},
)
def word(
    word: str,
    state: StateDep,
    language: Annotated[str, Query(pattern=LANGUAGE, description="ISO 639-1")] = "en",
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> WordVideos:
    """Up to ``limit`` clips that teach ``word`` (a phrase, an apostrophe or any script
    welcome, URL-encoded), by relevance."""
    try:
        found = word_videos(state.services, word, language, limit)
    except ValueError as exc:
        raise PageError(422, f"word: {exc}") from exc
    if found is None:
        raise PageError(404, f"{word!r} is not a word of the {language!r} vocabulary")
    return found


@router.get(
    "/bundles/{bundle}/coverage",
    response_model=BundleCoverage,
    summary="How well the stored clips cover a bundle's words",
    responses={404: _ERRORS[404]},
)
def bundle(bundle: str, state: StateDep) -> BundleCoverage:
    """Words with clips and without, mappings, and their relevance by tenths."""
    found = bundle_coverage(state.services, bundle)
    if found is None:
        raise PageError(404, f"no bundle {bundle!r}")
    return found

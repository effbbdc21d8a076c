"""The model port over the Gemini Developer API (``google-genai``).

One attempt per :meth:`GeminiProvider.generate`. google-genai retries only when given
``HttpRetryOptions``; every call here passes ``attempts=1`` anyway, so that a client handed
in with retries configured still makes one attempt (the retry layer is
``shared/llm/client.py``).

Media: ``gs://`` objects go by reference; bytes go inline while the whole request stays
under Gemini's 20 MB request limit, and through the Files API beyond it (uploaded, waited
for until ``ACTIVE``, deleted after the call); an ``https://`` URI without bytes is passed
as ``file_data`` and the API decides whether it can fetch it.

The answer is asked for as JSON with ``response_schema`` and validated here, so that a
reply that does not fit is a :class:`MalformedReplyError` with the text. Vendor errors
become the port's errors; the API key never appears in a message.
"""

from __future__ import annotations

import io
import json
import logging
import math
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx2
import pydantic
from google import genai
from google.genai import errors, types

from shared.adapters.retry_after import retry_after_seconds
from shared.core.text import redact
from shared.ports.models import (
    MalformedReplyError,
    MediaPart,
    ModelReply,
    ModelRequest,
    ModelRequestError,
    ModelUnavailableError,
    RateLimitedError,
    S,
    TextPart,
)

log = logging.getLogger("vidcurate.models.gemini")

INLINE_REQUEST_BYTES = 20 * 1024 * 1024  # Gemini refuses larger requests; base64 included

# Finish reasons that repeat on the same input: the input has to change, not the timing.
_REFUSED = frozenset(
    {
        "SAFETY",
        "RECITATION",
        "BLOCKLIST",
        "PROHIBITED_CONTENT",
        "SPII",
        "LANGUAGE",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "IMAGE_RECITATION",
    }
)
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)s\s*$")


class GeminiProvider:
    """``generate`` through ``client.models.generate_content``; one attempt, errors translated.

    ``base_url`` replaces the API endpoint (a proxy, or a local fake in tests) through
    ``HttpOptions(base_url=...)``; the API version is the SDK's default. ``client``
    replaces the SDK client. ``inline_request_bytes`` (inline budget of one request) and
    ``file_poll_seconds`` (interval while an upload is processed) are attributes so that a
    test can shrink them.
    """

    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        client: genai.Client | None = None,
    ) -> None:
        self._api_key = api_key
        self._client = client or genai.Client(
            api_key=api_key,
            # Explicit: GOOGLE_GENAI_USE_VERTEXAI in the environment must not switch backends.
            vertexai=False,
            http_options=types.HttpOptions(base_url=base_url) if base_url else None,
        )
        self.inline_request_bytes = INLINE_REQUEST_BYTES
        self.file_poll_seconds = 2.0
        self._sleep: Callable[[float], None] = time.sleep

    def generate(self, request: ModelRequest[S]) -> ModelReply[S]:
        """Ask once and return the reply validated into ``request.schema``.

        Each HTTP call gets ``request.timeout_seconds``; waiting for an uploaded video to
        be processed is bounded by the same number of seconds.
        """
        http_options = types.HttpOptions(
            timeout=max(1, math.ceil(request.timeout_seconds * 1000)),  # milliseconds
            retry_options=types.HttpRetryOptions(attempts=1),
        )
        uploaded: list[str] = []
        try:
            contents = self._contents(request, http_options, uploaded)
            config = types.GenerateContentConfig(
                system_instruction=request.instructions,
                response_mime_type="application/json",
                response_schema=request.schema,
                max_output_tokens=request.max_output_tokens,
                temperature=request.temperature,
                http_options=http_options,
            )
            try:
                response = self._client.models.generate_content(
                    model=request.model, contents=contents, config=config
                )
            except (json.JSONDecodeError, pydantic.ValidationError) as exc:
                raise MalformedReplyError(
                    f"gemini {request.model}: the answer is not a GenerateContentResponse"
                ) from exc
            except (errors.APIError, httpx2.HTTPError) as exc:
                raise self._translate(request, exc) from exc
            return self._reply(request, response)
        finally:
            self._delete(uploaded, http_options)

    # -- request -------------------------------------------------------------------------

    def _contents(
        self, request: ModelRequest[Any], http_options: types.HttpOptions, uploaded: list[str]
    ) -> list[types.Content]:
        deadline = time.monotonic() + request.timeout_seconds
        budget = self.inline_request_bytes - len(request.instructions.encode())
        budget -= sum(len(p.text.encode()) for p in request.parts if isinstance(p, TextPart))
        parts: list[types.Part] = []
        for part in request.parts:
            if isinstance(part, TextPart):
                parts.append(types.Part.from_text(text=part.text))
                continue
            encoded = 4 * math.ceil(len(part.data) / 3) if part.data is not None else 0
            if part.uri is not None and part.uri.startswith("gs://"):
                parts.append(types.Part.from_uri(file_uri=part.uri, mime_type=part.mime_type))
            elif part.data is not None and encoded < budget:
                budget -= encoded
                parts.append(types.Part.from_bytes(data=part.data, mime_type=part.mime_type))
            elif part.data is not None:
                parts.append(
                    self._upload(request, part, part.data, http_options, deadline, uploaded)
                )
            elif part.uri is not None:
                parts.append(types.Part.from_uri(file_uri=part.uri, mime_type=part.mime_type))
            else:
                raise ModelRequestError(
                    f"gemini {request.model}: a {part.mime_type} part has neither uri nor data"
                )
        return [types.Content(role="user", parts=parts)]

    def _upload(
        self,
        request: ModelRequest[Any],
        part: MediaPart,
        data: bytes,
        http_options: types.HttpOptions,
        deadline: float,
        uploaded: list[str],
    ) -> types.Part:
        """Upload bytes too big to go inline and wait (bounded) until the file is ACTIVE."""
        where = f"gemini {request.model}"
        try:
            file = self._client.files.upload(
                file=io.BytesIO(data),
                config=types.UploadFileConfig(
                    mime_type=part.mime_type, http_options=http_options.model_copy()
                ),
            )
            if file.name:
                uploaded.append(file.name)
            # A file without a state is taken as ready: nothing would ever change it.
            while file.state not in (None, types.FileState.ACTIVE):
                if file.state == types.FileState.FAILED:
                    reason = file.error.message if file.error else "no reason given"
                    raise ModelRequestError(
                        f"{where}: Gemini could not process the uploaded {part.mime_type} "
                        f"({len(data)} bytes): {reason}; check the file"
                    )
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ModelUnavailableError(
                        f"{where}: the uploaded {part.mime_type} was still {file.state.value} "
                        f"after {request.timeout_seconds:g} s"
                    )
                self._sleep(min(self.file_poll_seconds, remaining))
                file = self._client.files.get(
                    name=file.name or "", config=types.GetFileConfig(http_options=http_options)
                )
        except (errors.APIError, httpx2.HTTPError) as exc:
            raise self._translate(request, exc, doing="uploading media") from exc
        if not file.uri:
            raise MalformedReplyError(f"{where}: the Files API returned no URI for the upload")
        return types.Part.from_uri(file_uri=file.uri, mime_type=file.mime_type or part.mime_type)

    def _delete(self, names: list[str], http_options: types.HttpOptions) -> None:
        # The Files API keeps uploads 48 h within a 20 GB project quota: thousands of
        # videos would fill it. Best effort: the answer is already in hand.
        for name in names:
            try:
                self._client.files.delete(
                    name=name, config=types.DeleteFileConfig(http_options=http_options)
                )
            except (errors.APIError, httpx2.HTTPError) as exc:
                log.warning(
                    "could not delete an uploaded file; it expires in 48 h",
                    extra={"file": name, "error": self._redact(str(exc))},
                )

    # -- reply ---------------------------------------------------------------------------

    def _reply(
        self, request: ModelRequest[S], response: types.GenerateContentResponse
    ) -> ModelReply[S]:
        where = f"gemini {request.model}"
        usage = response.usage_metadata
        # A blocked, refused or unfit answer was billed all the same: the error says so.
        billed = {
            "input_tokens": (usage.prompt_token_count or 0) if usage else 0,
            # Thinking tokens are billed as output tokens.
            "output_tokens": (
                (usage.candidates_token_count or 0) + (usage.thoughts_token_count or 0)
                if usage
                else 0
            ),
        }
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = feedback.block_reason_message or feedback.block_reason.value
            raise ModelRequestError(
                f"{where} blocked the prompt ({reason}); change the input", **billed
            )
        if not response.candidates:
            raise MalformedReplyError(f"{where}: the reply has no candidates", **billed)
        candidate = response.candidates[0]
        finish = candidate.finish_reason.value if candidate.finish_reason else None
        if finish in _REFUSED:
            raise ModelRequestError(f"{where} refused to answer (finish reason {finish})", **billed)
        parts = candidate.content.parts if candidate.content else None
        # Thought summaries are not the answer.
        text = "".join(p.text for p in parts or [] if p.text and not p.thought)
        if not text.strip():
            raise MalformedReplyError(
                f"{where}: the reply has no content (finish {finish})", **billed
            )
        try:
            parsed = request.schema.model_validate_json(text)
        except pydantic.ValidationError as exc:
            hint = (
                " (cut off at the token limit: raise max_output_tokens)"
                if finish == "MAX_TOKENS"
                else ""
            )
            raise MalformedReplyError(
                f"{where}: the reply does not fit {request.schema.__name__}{hint}: "
                f"{exc.error_count()} error(s), first: {_first_error(exc)}",
                **billed,
            ) from exc
        return ModelReply(
            parsed=parsed,
            text=text,
            # The version that answered; prices and limits stay keyed by the requested name.
            model=response.model_version or request.model,
            **billed,
        )

    # -- errors --------------------------------------------------------------------------

    def _translate(
        self,
        request: ModelRequest[Any],
        exc: errors.APIError | httpx2.HTTPError,
        doing: str = "generating",
    ) -> RateLimitedError | ModelUnavailableError | ModelRequestError:
        where = f"gemini {request.model} ({doing})"
        if isinstance(exc, httpx2.TimeoutException):
            return ModelUnavailableError(f"{where}: no answer within {request.timeout_seconds:g} s")
        if isinstance(exc, httpx2.HTTPError):
            failure = self._redact(f"{type(exc).__name__}: {exc}")
            return ModelUnavailableError(f"{where}: cannot reach the API: {failure}")
        code = exc.code
        detail = self._redact(str(exc.message or exc.status or ""))
        retry_after = _retry_after(exc)
        if code == 429 or exc.status == "RESOURCE_EXHAUSTED":
            return RateLimitedError(f"{where}: rate limited (HTTP 429): {detail}", retry_after)
        if code >= 500 or code == 408:
            return ModelUnavailableError(f"{where}: HTTP {code}: {detail}", retry_after)
        if code in (401, 403) or "API key" in detail:
            # Gemini answers a bad key with 400 API_KEY_INVALID, hence the message test.
            return ModelRequestError(
                f"{where}: HTTP {code}: the API key was refused; check the configured key "
                "(gemini_api_key) and that the Generative Language API is enabled for it"
            )
        if code == 404:
            return ModelRequestError(
                f"{where}: HTTP 404: no such model or file; check the model name: {detail}"
            )
        return ModelRequestError(
            f"{where}: HTTP {code}: the request was refused; fix the request "
            f"(schema, parts, parameters): {detail}"
        )

    def _redact(self, text: str) -> str:
        # The key travels in a header, but URLs in transport errors may carry ?key=.
        return redact(text, self._api_key)


def _first_error(exc: pydantic.ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{location}: {first['msg']}"


def _retry_after(exc: errors.APIError) -> float | None:
    """Seconds to wait: a ``Retry-After`` header (seconds or HTTP date), else the
    ``google.rpc.RetryInfo`` ``retryDelay`` that Gemini puts in the error body."""
    headers: Mapping[str, str] | None = getattr(exc.response, "headers", None)
    if headers is not None:
        seconds = retry_after_seconds(headers.get("retry-after") or headers.get("Retry-After"))
        if seconds is not None:
            return seconds
    body = exc.details.get("error", exc.details) if isinstance(exc.details, dict) else None
    details = body.get("details") if isinstance(body, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and str(detail.get("@type", "")).endswith("RetryInfo"):
            match = _DURATION.match(str(detail.get("retryDelay", "")))
            if match:
                return float(match.group(1))
    return None

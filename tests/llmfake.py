"""A local stand-in for the OpenAI and Gemini APIs, spoken to by the real ``openai`` and
``google-genai`` clients over real HTTP on 127.0.0.1.

Both SDKs use ``httpx2``, which respx does not intercept, and a real server is the more
faithful double anyway: the SDK builds, sends and parses exactly what it would in production.

Routes:

- ``POST /v1/chat/completions`` (OpenAI and every OpenAI-compatible server): honours
  ``response_format.json_schema.schema`` by answering a JSON object valid for it.
- ``POST /{v1,v1beta}/models/{model}:generateContent`` (Gemini): honours
  ``generationConfig.responseSchema`` (Gemini's OpenAPI subset) and ``responseJsonSchema``.
- The Gemini Files API the SDK's ``files.upload`` / ``files.get`` / ``files.delete`` use:
  ``POST /upload/{v}/files`` (resumable start, then chunks), ``GET|DELETE /{v}/files/{id}``.
- Speech to text: ``POST /v1/audio/transcriptions`` (multipart, as OpenAI's SDK sends it):
  the form's fields and the audio file are kept in :attr:`FakeLLM.transcriptions`; the
  answer is ``verbose_json`` with word and segment timestamps, its words from
  :attr:`FakeLLM.heard` (``(word, start, end)`` or with a probability, which faster-whisper
  servers add) and each segment's ``avg_logprob`` from :attr:`FakeLLM.segment_logprob`.
- Images: ``POST /v1/images/generations`` (OpenAI's Images API: ``b64_json``, sizes checked
  per model as OpenAI does), ``POST /v1beta1/[projects/{p}/locations/{l}/]publishers/google/
  models/{model}:predict`` (Imagen on Vertex AI, where google-genai's ``generate_images``
  goes: ``predictions[].bytesBase64Encoded``), and ``generateContent`` asked for
  ``responseModalities: ["IMAGE"]`` (Gemini's image models: an ``inlineData`` part). Every
  picture is a real PNG drawn from the prompt (:func:`fake_png`) at the size the provider
  would return; :meth:`FakeLLM.refuse_images` withholds pictures as each provider's safety
  filter does.

Keys are checked as the providers do (``Authorization: Bearer`` for OpenAI;
``x-goog-api-key`` or ``?key=`` for Gemini); a wrong or missing key answers 401. The OpenAI
401 message echoes the key it was given, deliberately worse than OpenAI (which masks it),
so that a test proves the adapter keeps keys out of its errors.

Tests script the model through :attr:`FakeLLM.responder` (a parsed object, raw text, or a
:class:`Completion` with a finish reason or a blocked prompt), inject faults with
:meth:`FakeLLM.fail_next`, and turn on a per-model requests-per-minute quota with
:meth:`FakeLLM.limit_rpm`. Every request is kept in :attr:`FakeLLM.requests`.

``tests/`` is on ``sys.path``. A test module gets the ``llm_server`` fixture by importing
``llm_server_fixture`` (the fixture is registered under its ``name``, ``llm_server``).
"""

from __future__ import annotations

import base64
import email.parser
import email.policy
import hashlib
import io
import json
import math
import random
import re
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import pytest
from PIL import Image, ImageDraw
from support import max_in_window, serving

__all__ = [
    "DEFAULT_GEMINI_KEY",
    "DEFAULT_OPENAI_KEY",
    "GEMINI_IMAGE_SIZES",
    "IMAGEN_SIZES",
    "Completion",
    "FakeFile",
    "FakeLLM",
    "RecordedRequest",
    "Reply",
    "fake_object",
    "fake_png",
    "llm_server_fixture",
    "run_fake_llm",
]

DEFAULT_OPENAI_KEY = "sk-fake-openai-test-key-7d2c41e9"
DEFAULT_GEMINI_KEY = "fake-gemini-test-key-91ab3f07"

Provider = Literal["openai", "gemini"]
Responder = Callable[[str, str, dict[str, Any]], "dict[str, Any] | str | Completion"]

_GEMINI_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    408: "DEADLINE_EXCEEDED",
    409: "ABORTED",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    502: "UNAVAILABLE",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_OPENAI_TYPE = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "requests",
}
_MEDIA_TOKENS = 258  # what Gemini charges for an image; close enough for a video frame too


@dataclass
class RecordedRequest:
    """One request as the fake saw it (kept for every request, answered or refused).

    Recorded when it arrives, so a request still stalled by an injected delay is listed
    with ``status`` 0 until it is answered.
    """

    provider: Provider
    method: str
    path: str
    model: str | None  # the model of a generate call; None for the Files API
    body: Any  # the parsed JSON body (None when empty or not JSON)
    headers: dict[str, str]  # header names lower-cased
    at: float  # the fake's clock when the request arrived (time.monotonic by default)
    status: int = 0  # what the fake answered (0 while unanswered)

    @property
    def is_generate(self) -> bool:
        """A model call (chat completion or generateContent), not a file operation."""
        return self.model is not None


@dataclass(frozen=True)
class Completion:
    """A scripted reply richer than a plain object or text.

    ``content`` is a parsed object (sent as JSON), raw text, or None for a reply without
    content. ``finish_reason`` is given in the provider's spelling (``"length"``,
    ``"content_filter"`` for OpenAI; ``"MAX_TOKENS"``, ``"SAFETY"`` for Gemini).
    ``blocked`` (Gemini) answers ``promptFeedback.blockReason`` with no candidates.
    ``refusal`` (OpenAI) fills ``message.refusal``. Token counts override the estimate.
    """

    content: dict[str, Any] | str | None = None
    finish_reason: str | None = None
    blocked: str | None = None
    refusal: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None


@dataclass
class FakeFile:
    """A file uploaded through the Gemini Files API."""

    name: str  # "files/<id>"
    mime_type: str
    size: int
    upload_id: str
    data: bytearray = field(default_factory=bytearray)
    state: str = "PROCESSING"
    polls_until_active: int = 0
    deleted: bool = False


@dataclass
class _Fault:
    pattern: re.Pattern[str]
    method: str | None
    status: int
    remaining: int
    headers: dict[str, str]
    delay: float
    body: dict[str, Any] | str | None
    retry_after: str | float | None


class Reply(Exception):  # noqa: N818 (control flow: "answer this", not an error)
    """Raised by a route (or a responder) to answer with ``status`` and an error body."""

    def __init__(
        self,
        status: int,
        message: str,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.body = body


def estimate_tokens(text: str) -> int:
    """About four characters per token, as providers roughly count English text."""
    return max(1, len(text) // 4)


# -- a JSON value valid for a schema -------------------------------------------------------


def fake_object(schema: dict[str, Any], name: str = "value") -> Any:
    """A deterministic value valid for ``schema``.

    Speaks JSON Schema as pydantic and OpenAI's strict mode write it (``$defs``/``$ref``,
    ``anyOf`` with ``null``, ``enum``, ``const``) and Gemini's OpenAPI subset (upper-case
    ``type``, ``nullable``, int64 counts written as strings). Strings are ``"fake <field>"``,
    numbers their minimum (or 0), enums their first value, arrays ``minItems`` items (at
    least one), objects every property.
    """
    return _fake(schema, schema, name)


def _as_number(value: Any) -> float | None:
    # Gemini writes int64 fields (minItems, minLength) as JSON strings.
    if value is None:
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    seen = 0
    while "$ref" in schema and seen < 32:
        ref = schema["$ref"]
        node: Any = root
        for key in ref.removeprefix("#/").split("/"):
            if key:
                node = node[key]
        schema = {**node, **{k: v for k, v in schema.items() if k != "$ref"}}
        seen += 1
    return schema


def _schema_type(schema: dict[str, Any]) -> str | None:
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [str(k).lower() for k in kind if str(k).lower() != "null"]
        return kinds[0] if kinds else "null"
    return str(kind).lower() if kind is not None else None


def _fake(schema: dict[str, Any], root: dict[str, Any], name: str) -> Any:
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if schema.get("enum"):
        return schema["enum"][0]
    for key in ("anyOf", "oneOf"):
        if schema.get(key):
            options = [_resolve(o, root) for o in schema[key]]
            usable = [o for o in options if _schema_type(o) != "null"] or options
            return _fake(usable[0], root, name)
    if schema.get("allOf"):
        merged: dict[str, Any] = {}
        for part in schema["allOf"]:
            merged.update(_resolve(part, root))
        return _fake(merged, root, name)
    kind = _schema_type(schema)
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {key: _fake(sub, root, key) for key, sub in properties.items()}
    if kind == "array":
        count = max(1, int(_as_number(schema.get("minItems")) or 0))
        item = schema.get("items") or {"type": "string"}
        return [_fake(item, root, name) for _ in range(count)]
    if kind in ("integer", "number"):
        return _fake_number(schema, integer=kind == "integer")
    if kind == "boolean":
        return False
    if kind == "null":
        return None
    return _fake_string(schema, name)


def _fake_number(schema: dict[str, Any], *, integer: bool) -> int | float:
    low = _as_number(schema.get("minimum"))
    exclusive = schema.get("exclusiveMinimum")
    if isinstance(exclusive, bool):  # draft 4 / OpenAPI 3.0: a flag on ``minimum``
        exclusive = low if exclusive else None
    exclusive_low = _as_number(exclusive)
    if exclusive_low is not None:
        low = exclusive_low + (1 if integer else 0.5)
    value = low if low is not None else 0
    high = _as_number(schema.get("maximum"))
    if high is not None and value > high:
        value = high
    return math.ceil(value) if integer else float(value)


def _fake_string(schema: dict[str, Any], name: str) -> str:
    formats = {
        "date-time": "2024-01-01T00:00:00Z",
        "date": "2024-01-01",
        "time": "00:00:00",
        "uri": "https://example.com/fake",
        "email": "fake@example.com",
        "uuid": "00000000-0000-4000-8000-000000000000",
    }
    text = formats.get(str(schema.get("format")), f"fake {name}")
    min_length = int(_as_number(schema.get("minLength")) or 0)
    max_length = _as_number(schema.get("maxLength"))
    text = text.ljust(min_length, "x")
    return text[: int(max_length)] if max_length is not None else text


# -- the fake ------------------------------------------------------------------------------


ANSWERED_VERSIONS = {
    "gpt-4.1": "gpt-4.1-2025-04-14",
    "gpt-4.1-mini": "gpt-4.1-mini-2025-04-14",
    "gpt-4o": "gpt-4o-2024-08-06",
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gemini-1.5-pro": "gemini-1.5-pro-002",
    "gemini-1.5-flash": "gemini-1.5-flash-002",
}
"""The version the APIs answer with for an alias (OpenAI's ``model``, Gemini's
``modelVersion``), as the real ones do; other names answer as themselves."""


class FakeLLM:
    """State and behaviour of the fake APIs (the HTTP plumbing is in the handler below).

    ``responder(provider, model, request_json)`` scripts replies (see :class:`Completion`);
    without one, every call gets :func:`fake_object` of the requested schema (or a short
    text when no schema was asked for). ``clock`` times requests and the rate-limit window.
    """

    def __init__(
        self,
        *,
        openai_key: str = DEFAULT_OPENAI_KEY,
        gemini_key: str = DEFAULT_GEMINI_KEY,
        responder: Responder | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.openai_key = openai_key
        self.gemini_key = gemini_key
        self.responder = responder
        self.clock = clock
        self.endpoint = ""  # set when the server listens
        self.requests: list[RecordedRequest] = []
        self.unknown_routes: list[tuple[str, str]] = []
        self.files: dict[str, FakeFile] = {}
        # Speech to text: what each transcription request carried, and what is "heard".
        self.transcriptions: list[dict[str, Any]] = []
        self.heard: list[tuple[Any, ...]] = [("hello", 0.0, 0.4), ("world", 0.5, 0.9)]
        self.segment_logprob = -0.2
        # Status reads of a new upload that answer PROCESSING before it turns ACTIVE.
        self.file_polls_until_active = 0
        # Exceptions raised while answering (a bug in the fake): the fixture fails on them.
        self.errors: list[str] = []
        self.over_limit = 0
        self.served_over_limit = 0
        self._rpm: int | None = None
        self._enforce_rpm = True
        self._served: dict[str, deque[float]] = {}
        self._faults: list[_Fault] = []
        self._refused_images: list[str] = []  # reasons, one per picture to withhold
        self._fractions: list[tuple[re.Pattern[str], int, float, random.Random]] = []
        self._lock = threading.RLock()
        self._stopping = threading.Event()

    # -- what tests use ------------------------------------------------------------------

    @property
    def openai_base_url(self) -> str:
        """``base_url`` for ``openai.OpenAI`` (the SDK appends ``/chat/completions``)."""
        return f"{self.endpoint}/v1"

    @property
    def gemini_base_url(self) -> str:
        """``HttpOptions.base_url`` for ``genai.Client`` (the SDK appends ``/v1beta/...``)."""
        return self.endpoint

    def fail_next(
        self,
        path_regex: str,
        status: int,
        times: int = 1,
        retry_after: str | float | None = None,
        delay: float = 0.0,
        body: dict[str, Any] | str | None = None,
        *,
        method: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Answer the next ``times`` requests whose path matches ``path_regex`` with ``status``.

        ``retry_after`` adds a ``Retry-After`` header (and, on a Gemini 429, the
        ``RetryInfo`` detail Gemini really sends). ``body`` replaces the provider-shaped
        error body (a dict as JSON, a str as is). ``delay`` seconds pass before the answer:
        longer than the client's timeout, it is a timeout. A ``status`` below 400 only
        delays: the request is then answered normally.
        """
        with self._lock:
            self._faults.append(
                _Fault(
                    re.compile(path_regex),
                    method,
                    status,
                    times,
                    dict(headers or {}),
                    delay,
                    body,
                    retry_after,
                )
            )

    def fail_fraction(self, path_regex: str, status: int, fraction: float, seed: int = 0) -> None:
        """Answer about ``fraction`` of the requests to ``path_regex`` with ``status``, from
        a seeded random sequence (reproducible), until cleared with a fraction of 0."""
        with self._lock:
            self._fractions = [f for f in self._fractions if f[0].pattern != path_regex]
            if fraction > 0:
                self._fractions.append(
                    (re.compile(path_regex), status, fraction, random.Random(seed))
                )

    def refuse_images(self, times: int = 1, reason: str = "the prompt breaks the policy") -> None:
        """Withhold the next ``times`` pictures as each provider's safety filter does: OpenAI
        answers 400 ``moderation_blocked``; Imagen answers 200 with a prediction holding only
        ``raiFilteredReason``; a Gemini image model finishes with ``IMAGE_SAFETY`` and no
        content."""
        with self._lock:
            self._refused_images.extend([reason] * times)

    def limit_rpm(self, n: int | None, *, enforce: bool = True) -> None:
        """A quota of ``n`` served requests per model in any rolling 60 s (None: no quota).

        A request that would be the ``n+1``-th within 60 s counts in :attr:`over_limit`
        and, when ``enforce``, answers 429 with ``Retry-After`` (seconds until the oldest
        request leaves the window). With ``enforce=False`` it is served anyway and also
        counts in :attr:`served_over_limit`, to measure a client that ignores its quota.
        """
        with self._lock:
            self._rpm = n
            self._enforce_rpm = enforce
            self._served.clear()
            self.over_limit = 0
            self.served_over_limit = 0

    def calls(
        self, provider: Provider | None = None, model: str | None = None
    ) -> list[RecordedRequest]:
        """The model calls (not file operations), in arrival order, optionally filtered."""
        with self._lock:
            return [
                r
                for r in self.requests
                if r.is_generate
                and (provider is None or r.provider == provider)
                and (model is None or r.model == model)
            ]

    def requests_to(self, path_regex: str, method: str | None = None) -> list[RecordedRequest]:
        """Every request whose path matches, in arrival order."""
        pattern = re.compile(path_regex)
        with self._lock:
            return [
                r
                for r in self.requests
                if pattern.search(r.path) and (method is None or r.method == method)
            ]

    def served(self, model: str | None = None) -> list[RecordedRequest]:
        """Model calls answered 200."""
        return [r for r in self.calls(model=model) if r.status == 200]

    def max_served_in_window(self, model: str, window: float = 60.0) -> int:
        """The most calls to ``model`` served within any ``window`` seconds."""
        return max_in_window([r.at for r in self.served(model)], window)

    def achieved_rpm(self, model: str) -> float:
        """Calls served per minute to ``model``, from the first to the last served call."""
        times = sorted(r.at for r in self.served(model))
        if len(times) < 2:
            return float(len(times))
        span = times[-1] - times[0]
        return (len(times) - 1) / span * 60.0 if span > 0 else math.inf

    # -- request handling ----------------------------------------------------------------

    def handle(
        self, method: str, raw_path: str, headers: Any, body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        """Answer one request: (status, headers, body)."""
        arrived = self.clock()
        parts = urlsplit(raw_path)
        path = parts.path
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        lower_headers = {k.lower(): v for k, v in headers.items()}
        provider: Provider = (
            "openai"
            if path.endswith(("/chat/completions", "/images/generations", "/audio/transcriptions"))
            else "gemini"
        )
        payload = self._parse_json(body)
        model = self._model_of(provider, path, payload)
        record = RecordedRequest(provider, method, path, model, payload, lower_headers, arrived)
        with self._lock:
            self.requests.append(record)
        try:
            fault = self._take_fault(method, path)
            if fault is not None and fault.delay:
                # Interruptible, so a stalled answer does not outlive the server.
                self._stopping.wait(fault.delay)
            if fault is not None and fault.status >= 400:
                raise self._fault_reply(provider, fault)
            status, reply_headers, reply = self._route(
                method, path, query, lower_headers, body, payload
            )
        except Reply as reply_error:
            status = reply_error.status
            reply_headers = {"Content-Type": "application/json", **reply_error.headers}
            reply = self._error_body(provider, reply_error)
        except Exception as exc:  # a bug in the fake or a responder: answer, then fail the test
            with self._lock:
                self.errors.append(f"{method} {path}: {type(exc).__name__}: {exc}")
            status, reply_headers = 500, {"Content-Type": "application/json"}
            reply = self._error_body(provider, Reply(500, f"the fake failed: {exc!r}"))
        with self._lock:
            record.status = status
        return status, reply_headers, reply

    @staticmethod
    def _parse_json(body: bytes) -> Any:
        if not body:
            return None
        try:
            return json.loads(body)
        except ValueError:
            return None

    @staticmethod
    def _model_of(provider: Provider, path: str, payload: Any) -> str | None:
        if provider == "openai":
            return payload.get("model") if isinstance(payload, dict) else ""
        match = re.search(r"/models/([^/:]+):(?:generateContent|predict)$", path)
        return match.group(1) if match else None

    def _take_fault(self, method: str, path: str) -> _Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.remaining > 0 and fault.pattern.search(path):
                    if fault.method is not None and fault.method != method:
                        continue
                    fault.remaining -= 1
                    return fault
            for pattern, status, fraction, rng in self._fractions:
                if pattern.search(path) and rng.random() < fraction:
                    return _Fault(pattern, None, status, 0, {}, 0.0, None, None)
        return None

    def _fault_reply(self, provider: Provider, fault: _Fault) -> Reply:
        headers = dict(fault.headers)
        if fault.retry_after is not None:
            headers["Retry-After"] = str(fault.retry_after)
        body = fault.body
        if body is None and provider == "gemini" and fault.status == 429:
            body = self._gemini_error(429, "Resource has been exhausted (injected).")
            if fault.retry_after is not None:
                body["error"]["details"] = [_retry_info(fault.retry_after)]
        return Reply(fault.status, f"injected HTTP {fault.status}", headers, body)

    @staticmethod
    def _gemini_error(status: int, message: str) -> dict[str, Any]:
        return {
            "error": {
                "code": status,
                "message": message,
                "status": _GEMINI_STATUS.get(status, "UNKNOWN"),
            }
        }

    def _error_body(self, provider: Provider, error: Reply) -> bytes:
        if isinstance(error.body, str):
            return error.body.encode()
        if error.body is not None:
            return json.dumps(error.body).encode()
        if provider == "gemini":
            return json.dumps(self._gemini_error(error.status, error.message)).encode()
        return json.dumps(
            {
                "error": {
                    "message": error.message,
                    "type": _OPENAI_TYPE.get(error.status, "server_error"),
                    "param": None,
                    "code": None,
                }
            }
        ).encode()

    def _route(
        self,
        method: str,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        payload: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        version = r"/(?:v1|v1beta|v1alpha)"
        if method == "POST" and path == "/v1/chat/completions":
            self._check_openai_key(headers)
            return self._chat_completion(payload)
        if method == "POST" and path == "/v1/images/generations":
            self._check_openai_key(headers)
            return self._image_generation(payload)
        if method == "POST" and path == "/v1/audio/transcriptions":
            self._check_openai_key(headers)
            return self._transcription(headers, body)
        match = re.fullmatch(version + r"/models/(?P<model>[^/:]+):generateContent", path)
        if method == "POST" and match:
            self._check_gemini_key(headers, query)
            return self._generate_content(match["model"], payload)
        match = re.fullmatch(
            r"/v1(?:beta1)?/(?:projects/[^/]+/locations/[^/]+/)?"
            r"publishers/google/models/(?P<model>[^/:]+):predict",
            path,
        )
        if method == "POST" and match:
            # Vertex express mode: the API key in x-goog-api-key, as the SDK sends it.
            self._check_gemini_key(headers, query)
            return self._imagen_predict(match["model"], payload)
        if method == "POST" and re.fullmatch(r"/upload" + version + r"/files", path):
            return self._upload(path, query, headers, body, payload)
        match = re.fullmatch(version + r"/files/(?P<id>[^/:]+)", path)
        if match and method in ("GET", "DELETE"):
            self._check_gemini_key(headers, query)
            return self._file_route(method, f"files/{match['id']}")
        with self._lock:
            self.unknown_routes.append((method, path))
        raise Reply(404, f"the fake LLM does not serve {method} {path}")

    @staticmethod
    def _json(data: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
        return status, {"Content-Type": "application/json"}, json.dumps(data).encode()

    # -- authentication ------------------------------------------------------------------

    def _check_openai_key(self, headers: dict[str, str]) -> None:
        given = headers.get("authorization", "").removeprefix("Bearer ").strip()
        if given != self.openai_key:
            raise Reply(
                401,
                f"Incorrect API key provided: {given}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                body={
                    "error": {
                        "message": f"Incorrect API key provided: {given}.",
                        "type": "invalid_request_error",
                        "param": None,
                        "code": "invalid_api_key",
                    }
                },
            )

    def _check_gemini_key(self, headers: dict[str, str], query: dict[str, str]) -> None:
        given = headers.get("x-goog-api-key") or query.get("key")
        if given != self.gemini_key:
            raise Reply(401, "API key not valid. Please pass a valid API key.")

    # -- rate limit ----------------------------------------------------------------------

    def _admit(self, model: str) -> float | None:
        """Count one call to ``model`` against the quota; seconds to wait when refused."""
        with self._lock:
            if self._rpm is None:
                return None
            now = self.clock()
            served = self._served.setdefault(model, deque())
            while served and served[0] <= now - 60.0:
                served.popleft()
            if len(served) >= self._rpm:
                self.over_limit += 1
                if self._enforce_rpm:
                    return served[0] + 60.0 - now if served else 60.0
                self.served_over_limit += 1
            served.append(now)
            return None

    def _refuse_over_quota(self, provider: Provider, model: str, wait: float) -> Reply:
        seconds = max(1, math.ceil(wait))
        message = f"Rate limit reached for {model}: {self._rpm} requests per minute."
        body: dict[str, Any]
        if provider == "gemini":
            body = self._gemini_error(429, message)
            body["error"]["details"] = [_retry_info(seconds)]
        else:
            body = {
                "error": {
                    "message": message,
                    "type": "requests",
                    "param": None,
                    "code": "rate_limit_exceeded",
                }
            }
        return Reply(429, message, {"Retry-After": str(seconds)}, body)

    # -- model calls ---------------------------------------------------------------------

    def _script(self, provider: Provider, model: str, payload: dict[str, Any]) -> Completion:
        responder = self.responder
        answer: dict[str, Any] | str | Completion
        if responder is not None:
            answer = responder(provider, model, payload)
        else:
            schema = _requested_schema(provider, payload)
            answer = fake_object(schema) if schema is not None else "fake reply"
        return answer if isinstance(answer, Completion) else Completion(content=answer)

    def _chat_completion(self, payload: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(payload, dict) or not payload.get("model"):
            raise Reply(400, "you must provide a model parameter")
        if not isinstance(payload.get("messages"), list) or not payload["messages"]:
            raise Reply(400, "'messages' must be a non-empty array")
        model = str(payload["model"])
        wait = self._admit(model)
        if wait is not None:
            raise self._refuse_over_quota("openai", model, wait)
        scripted = self._script("openai", model, payload)
        text = _content_text(scripted.content)
        prompt_tokens = scripted.input_tokens or _openai_prompt_tokens(payload)
        completion_tokens = scripted.output_tokens or estimate_tokens(text or "")
        return self._json(
            {
                "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": ANSWERED_VERSIONS.get(model, model),
                "choices": [
                    {
                        "index": 0,
                        "message": {
                            "role": "assistant",
                            "content": text,
                            "refusal": scripted.refusal,
                            "annotations": [],
                        },
                        "logprobs": None,
                        "finish_reason": scripted.finish_reason or "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": prompt_tokens,
                    "completion_tokens": completion_tokens,
                    "total_tokens": prompt_tokens + completion_tokens,
                },
                "system_fingerprint": "fp_fake",
            }
        )

    def _transcription(
        self, headers: dict[str, str], body: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + headers.get("content-type", "").encode() + b"\r\n\r\n" + body
        )
        if not message.is_multipart():
            raise Reply(400, "a transcription request is multipart/form-data")
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            data = part.get_payload(decode=True) or b""
            if part.get_filename() is not None:
                fields["file"] = {
                    "filename": part.get_filename(),
                    "content_type": part.get_content_type(),
                    "data": data,
                }
            elif name is not None:
                key = str(name)
                value = data.decode()
                if key.endswith("[]"):
                    fields.setdefault(key, []).append(value)
                else:
                    fields[key] = value
        with self._lock:
            self.transcriptions.append(fields)
        if "file" not in fields or not fields.get("model"):
            raise Reply(400, "'file' and 'model' are required")
        model = str(fields["model"])
        wait = self._admit(model)
        if wait is not None:
            raise self._refuse_over_quota("openai", model, wait)
        words = []
        for item in self.heard:
            word = {"word": item[0], "start": item[1], "end": item[2]}
            if len(item) > 3:
                word["probability"] = item[3]
            words.append(word)
        end = max((w["end"] for w in words), default=0.0)
        text = " ".join(w["word"] for w in words)
        reply: dict[str, Any] = {"task": "transcribe", "language": "english", "duration": end,
                                 "text": text}  # fmt: skip
        if fields.get("response_format") == "verbose_json":
            granularities = fields.get("timestamp_granularities[]", ["segment"])
            if "word" in granularities:
                reply["words"] = words
            if "segment" in granularities:
                reply["segments"] = [
                    {"id": 0, "seek": 0, "start": 0.0, "end": end, "text": text, "tokens": [1],
                     "temperature": 0.0, "avg_logprob": self.segment_logprob,
                     "compression_ratio": 1.0, "no_speech_prob": 0.01}
                ]  # fmt: skip
        return self._json(reply)

    def _generate_content(self, model: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
        if not isinstance(payload, dict) or not payload.get("contents"):
            raise Reply(400, "* GenerateContentRequest.contents: contents is not specified")
        config = payload.get("generationConfig") or {}
        if config.get("responseSchema") and config.get("responseJsonSchema"):
            raise Reply(400, "responseSchema and responseJsonSchema cannot both be set")
        wait = self._admit(model)
        if wait is not None:
            raise self._refuse_over_quota("gemini", model, wait)
        modalities = [str(m).upper() for m in config.get("responseModalities") or []]
        if "IMAGE" in modalities:
            return self._gemini_image(model, payload, config)
        scripted = self._script("gemini", model, payload)
        prompt_tokens = scripted.input_tokens or _gemini_prompt_tokens(payload)
        usage: dict[str, Any] = {"promptTokenCount": prompt_tokens}
        reply: dict[str, Any] = {
            "modelVersion": ANSWERED_VERSIONS.get(model, model),
            "responseId": uuid.uuid4().hex[:22],
        }
        if scripted.blocked:
            reply["promptFeedback"] = {"blockReason": scripted.blocked}
            usage["totalTokenCount"] = prompt_tokens
        else:
            text = _content_text(scripted.content)
            output_tokens = scripted.output_tokens or estimate_tokens(text or "")
            candidate: dict[str, Any] = {
                "finishReason": scripted.finish_reason or "STOP",
                "index": 0,
            }
            if text is not None:
                candidate["content"] = {"parts": [{"text": text}], "role": "model"}
            reply["candidates"] = [candidate]
            usage["candidatesTokenCount"] = output_tokens
            usage["totalTokenCount"] = prompt_tokens + output_tokens
        reply["usageMetadata"] = usage
        return self._json(reply)

    # -- images --------------------------------------------------------------------------

    def _withheld(self) -> str | None:
        with self._lock:
            return self._refused_images.pop(0) if self._refused_images else None

    def _image_generation(self, payload: Any) -> tuple[int, dict[str, str], bytes]:
        """OpenAI's ``POST /v1/images/generations``."""
        if not isinstance(payload, dict) or not payload.get("prompt"):
            raise Reply(400, "you must provide a prompt")
        model = str(payload.get("model") or "dall-e-2")
        gpt_image = model.startswith(("gpt-image", "chatgpt-image"))
        if gpt_image and "response_format" in payload:
            raise Reply(400, "Unknown parameter: 'response_format'.")
        size = str(payload.get("size") or "auto")
        allowed = _OPENAI_IMAGE_SIZES.get(model)
        if allowed is not None and size not in allowed:
            raise Reply(
                400,
                f"Invalid value: '{size}'. Supported values are: "
                + ", ".join(f"'{s}'" for s in allowed),
            )
        width, height = (1024, 1024) if size == "auto" else _dimensions(size)
        count = int(payload.get("n") or 1)
        if not 1 <= count <= 10:
            raise Reply(400, f"Invalid 'n': {count}; expected 1 to 10")
        wait = self._admit(model)
        if wait is not None:
            raise self._refuse_over_quota("openai", model, wait)
        reason = self._withheld()
        if reason is not None:
            raise Reply(
                400,
                f"Your request was rejected by the safety system: {reason}",
                body={
                    "error": {
                        "message": f"Your request was rejected by the safety system: {reason}",
                        "type": "image_generation_user_error",
                        "param": None,
                        "code": "moderation_blocked",
                    }
                },
            )
        prompt = str(payload["prompt"])
        wants_b64 = gpt_image or payload.get("response_format") == "b64_json"
        output_format = str(payload.get("output_format") or "png")
        images = []
        for index in range(count):
            picture: dict[str, Any] = {}
            if wants_b64:
                data = fake_png(f"{prompt}#{index}" if index else prompt, width, height)
                picture["b64_json"] = base64.b64encode(data).decode()
            else:
                picture["url"] = f"{self.endpoint}/fake-images/{uuid.uuid4().hex}.png"
            if model.startswith("dall-e-3"):
                picture["revised_prompt"] = f"A detailed picture: {prompt}"
            images.append(picture)
        reply: dict[str, Any] = {"created": int(time.time()), "data": images}
        if gpt_image:
            prompt_tokens = estimate_tokens(prompt)
            image_tokens = 1056 * count  # a 1024x1024 picture at medium quality
            reply |= {
                "background": "opaque",
                "output_format": output_format,
                "quality": "medium",
                "size": f"{width}x{height}",
                "usage": {
                    "input_tokens": prompt_tokens,
                    "input_tokens_details": {"image_tokens": 0, "text_tokens": prompt_tokens},
                    "output_tokens": image_tokens,
                    "total_tokens": prompt_tokens + image_tokens,
                },
            }
        return self._json(reply)

    def _imagen_predict(self, model: str, payload: Any) -> tuple[int, dict[str, str], bytes]:
        """Imagen's ``{model}:predict`` on Vertex AI."""
        instances = payload.get("instances") if isinstance(payload, dict) else None
        if not instances or not isinstance(instances, list) or not instances[0].get("prompt"):
            raise Reply(400, "instances[0].prompt is required")
        parameters = payload.get("parameters") or {}
        ratio = str(parameters.get("aspectRatio") or "1:1")
        if ratio not in IMAGEN_SIZES:
            raise Reply(400, f"Unsupported aspect ratio: {ratio}")
        scale = {"1K": 1, "2K": 2}.get(str(parameters.get("sampleImageSize") or "1K"))
        if scale is None:
            raise Reply(400, f"Unsupported sampleImageSize: {parameters['sampleImageSize']}")
        count = int(parameters.get("sampleCount") or 1)
        if not 1 <= count <= 4:
            raise Reply(400, f"sampleCount must be 1 to 4, not {count}")
        mime = str((parameters.get("outputOptions") or {}).get("mimeType") or "image/png")
        if mime not in ("image/png", "image/jpeg"):
            raise Reply(400, f"Unsupported output mime type: {mime}")
        wait = self._admit(model)
        if wait is not None:
            raise self._refuse_over_quota("gemini", model, wait)
        prompt = str(instances[0]["prompt"])
        width, height = (side * scale for side in IMAGEN_SIZES[ratio])
        predictions: list[dict[str, Any]] = []
        for index in range(count):
            reason = self._withheld()
            if reason is not None:
                # Imagen leaves a withheld picture out, or (includeRaiReason) says why.
                if parameters.get("includeRaiReason"):
                    predictions.append({"raiFilteredReason": reason})
                continue
            data = fake_png(f"{prompt}#{index}" if index else prompt, width, height, mime)
            prediction = {"bytesBase64Encoded": base64.b64encode(data).decode(), "mimeType": mime}
            if parameters.get("enhancePrompt"):
                prediction["prompt"] = f"A detailed picture: {prompt}"
            predictions.append(prediction)
        return self._json({"predictions": predictions} if predictions else {})

    def _gemini_image(
        self, model: str, payload: dict[str, Any], config: dict[str, Any]
    ) -> tuple[int, dict[str, str], bytes]:
        """``generateContent`` of a Gemini image model asked for an image."""
        ratio = str((config.get("imageConfig") or {}).get("aspectRatio") or "1:1")
        if ratio not in GEMINI_IMAGE_SIZES:
            raise Reply(400, f"Unsupported aspect ratio: {ratio}")
        wait = self._admit(model)
        if wait is not None:
            raise self._refuse_over_quota("gemini", model, wait)
        prompt = " ".join(
            str(part.get("text", ""))
            for content in payload.get("contents", [])
            for part in content.get("parts", [])
        ).strip()
        prompt_tokens = _gemini_prompt_tokens(payload)
        reason = self._withheld()
        candidate: dict[str, Any] = {"index": 0}
        output_tokens = 0
        if reason is not None:
            candidate["finishReason"] = "IMAGE_SAFETY"
            candidate["finishMessage"] = reason
        else:
            output_tokens = 1290  # what Gemini bills for one picture
            data = fake_png(prompt, *GEMINI_IMAGE_SIZES[ratio])
            candidate["finishReason"] = "STOP"
            candidate["content"] = {
                "role": "model",
                "parts": [
                    {
                        "inlineData": {
                            "mimeType": "image/png",
                            "data": base64.b64encode(data).decode(),
                        }
                    }
                ],
            }
        return self._json(
            {
                "candidates": [candidate],
                "modelVersion": ANSWERED_VERSIONS.get(model, model),
                "responseId": uuid.uuid4().hex[:22],
                "usageMetadata": {
                    "promptTokenCount": prompt_tokens,
                    "candidatesTokenCount": output_tokens,
                    "totalTokenCount": prompt_tokens + output_tokens,
                },
            }
        )

    # -- Gemini Files API ----------------------------------------------------------------

    def _file_json(self, file: FakeFile) -> dict[str, Any]:
        file_id = file.name.removeprefix("files/")
        return {
            "name": file.name,
            "mimeType": file.mime_type,
            "sizeBytes": str(file.size),
            "uri": f"{self.endpoint}/v1beta/files/{file_id}",
            "state": file.state,
            "source": "UPLOADED",
        }

    def _upload(
        self,
        path: str,
        query: dict[str, str],
        headers: dict[str, str],
        body: bytes,
        payload: Any,
    ) -> tuple[int, dict[str, str], bytes]:
        command = headers.get("x-goog-upload-command", "")
        if "upload_id" not in query:
            # Start of a resumable upload: metadata in, an upload URL out.
            self._check_gemini_key(headers, query)
            if command != "start" or headers.get("x-goog-upload-protocol") != "resumable":
                raise Reply(400, "only resumable uploads are supported")
            meta = (payload or {}).get("file") or {}
            upload_id = uuid.uuid4().hex
            name = meta.get("name") or f"files/{uuid.uuid4().hex[:12]}"
            with self._lock:
                self.files[name] = FakeFile(
                    name=name,
                    mime_type=headers.get("x-goog-upload-header-content-type")
                    or meta.get("mimeType", "application/octet-stream"),
                    size=int(headers.get("x-goog-upload-header-content-length", "0")),
                    upload_id=upload_id,
                    polls_until_active=self.file_polls_until_active,
                )
            return (
                200,
                {
                    "Content-Type": "application/json",
                    "X-Goog-Upload-URL": f"{self.endpoint}{path}?upload_id={upload_id}",
                    "X-Goog-Upload-Status": "active",
                },
                b"",
            )
        # Chunks: the upload id in the URL is the credential, as on Google's upload servers.
        with self._lock:
            file = next((f for f in self.files.values() if f.upload_id == query["upload_id"]), None)
            if file is None:
                raise Reply(404, "unknown upload id")
            if int(headers.get("x-goog-upload-offset", "-1")) != len(file.data):
                raise Reply(400, "upload offset does not match the bytes received")
            file.data.extend(body)
            if "finalize" not in command:
                return 200, {"X-Goog-Upload-Status": "active"}, b""
            if len(file.data) != file.size:
                raise Reply(400, f"received {len(file.data)} bytes, announced {file.size}")
            if file.polls_until_active <= 0:
                file.state = "ACTIVE"
            status, reply_headers, reply = self._json({"file": self._file_json(file)})
        return status, {**reply_headers, "X-Goog-Upload-Status": "final"}, reply

    def _file_route(self, method: str, name: str) -> tuple[int, dict[str, str], bytes]:
        with self._lock:
            file = self.files.get(name)
            if file is None or file.deleted:
                raise Reply(404, f"File {name} does not exist.")
            if method == "DELETE":
                file.deleted = True
                return self._json({})
            if file.state == "PROCESSING":
                if file.polls_until_active <= 0:
                    file.state = "ACTIVE"
                file.polls_until_active -= 1
            return self._json(self._file_json(file))


IMAGEN_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "3:4": (896, 1280),
    "4:3": (1280, 896),
    "9:16": (768, 1408),
    "16:9": (1408, 768),
}
"""The pictures Imagen returns at "1K" for each aspect ratio ("2K": twice each side)."""

GEMINI_IMAGE_SIZES: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}
"""The pictures Gemini's image models return for each aspect ratio."""

_OPENAI_IMAGE_SIZES: dict[str, tuple[str, ...]] = {
    "gpt-image-1": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "gpt-image-1-mini": ("1024x1024", "1536x1024", "1024x1536", "auto"),
    "dall-e-3": ("1024x1024", "1792x1024", "1024x1792"),
    "dall-e-2": ("256x256", "512x512", "1024x1024"),
}  # other models: any WIDTHxHEIGHT (gpt-image-2 and later take arbitrary sizes)


def _dimensions(size: str) -> tuple[int, int]:
    match = re.fullmatch(r"([1-9][0-9]{1,3})x([1-9][0-9]{1,3})", size)
    if match is None:
        raise Reply(400, f"Invalid size: '{size}'. Expected WIDTHxHEIGHT or 'auto'.")
    return int(match.group(1)), int(match.group(2))


def fake_png(prompt: str, width: int, height: int, mime_type: str = "image/png") -> bytes:
    """A real picture drawn from ``prompt`` alone: the same prompt and size always give the
    same bytes (PNG, or JPEG for ``image/jpeg``)."""
    digest = hashlib.sha256(prompt.encode()).digest()
    picture = Image.new("RGB", (width, height), tuple(digest[:3]))
    draw = ImageDraw.Draw(picture)
    for index in range(4):
        a, b, c, d = digest[4 + 4 * index : 8 + 4 * index]
        left, top = a * width // 512, b * height // 512
        box = (left, top, left + 1 + c * width // 512, top + 1 + d * height // 512)
        draw.rectangle(box, fill=tuple(digest[20 + 3 * index : 23 + 3 * index]))
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG" if mime_type == "image/jpeg" else "PNG")
    return buffer.getvalue()


def _retry_info(seconds: str | float) -> dict[str, Any]:
    return {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{seconds}s"}


def _requested_schema(provider: Provider, payload: dict[str, Any]) -> dict[str, Any] | None:
    if provider == "openai":
        response_format = payload.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return (response_format.get("json_schema") or {}).get("schema") or {}
        return {"type": "object"} if response_format.get("type") == "json_object" else None
    config = payload.get("generationConfig") or {}
    return config.get("responseJsonSchema") or config.get("responseSchema")


def _content_text(content: dict[str, Any] | str | None) -> str | None:
    if content is None or isinstance(content, str):
        return content
    return json.dumps(content)


def _openai_prompt_tokens(payload: dict[str, Any]) -> int:
    tokens = 0
    for message in payload.get("messages", []):
        content = message.get("content")
        if isinstance(content, str):
            tokens += estimate_tokens(content)
            continue
        for part in content or []:
            tokens += (
                estimate_tokens(part.get("text", ""))
                if part.get("type") == "text"
                else _MEDIA_TOKENS
            )
    return max(1, tokens)


def _gemini_prompt_tokens(payload: dict[str, Any]) -> int:
    tokens = 0
    instruction = payload.get("systemInstruction") or payload.get("system_instruction") or {}
    contents = [instruction, *payload.get("contents", [])]
    for content in contents:
        for part in content.get("parts", []):
            tokens += estimate_tokens(part["text"]) if "text" in part else _MEDIA_TOKENS
    return max(1, tokens)


# -- HTTP plumbing -------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in separate writes

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        status, headers, reply = self.server.llm.handle(self.command, self.path, self.headers, body)
        try:
            self.send_response(status)
            for name, value in headers.items():
                if name.lower() != "content-length":
                    self.send_header(name, value)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its timeout ran out during an injected delay).
            self.close_connection = True

    do_GET = do_POST = do_DELETE = _serve  # noqa: N815 (http.server names)

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: FakeLLM.requests keeps what tests need."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, llm: FakeLLM) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.llm = llm


@contextmanager
def run_fake_llm(llm: FakeLLM | None = None) -> Iterator[FakeLLM]:
    """Serve ``llm`` (a new FakeLLM by default) on a free port until the block ends."""
    llm = llm or FakeLLM()
    with serving(_Server(llm), "fake-llm") as url:
        llm.endpoint = url
        try:
            yield llm
        finally:
            llm._stopping.set()  # wake answers stalled by an injected delay, then shut down


@pytest.fixture(name="llm_server")
def llm_server_fixture(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    """A running fake OpenAI + Gemini API; the SDKs' environment keeps them off the network.

    Both SDKs read a base URL and a key from the environment when none is passed; the
    adapters pass both, and clearing these makes sure a missed one fails here, not against
    a real endpoint.
    """
    for variable in (
        "OPENAI_API_KEY",
        "OPENAI_BASE_URL",
        "OPENAI_ORG_ID",
        "OPENAI_PROJECT_ID",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_GEMINI_BASE_URL",
        "GOOGLE_GENAI_USE_VERTEXAI",
        "GOOGLE_GENAI_USE_ENTERPRISE",
    ):
        monkeypatch.delenv(variable, raising=False)
    with run_fake_llm() as llm:
        yield llm
    assert not llm.unknown_routes, (
        f"the client called routes the fake does not serve: {llm.unknown_routes}"
    )
    assert not llm.errors, f"the fake failed while answering: {llm.errors}"

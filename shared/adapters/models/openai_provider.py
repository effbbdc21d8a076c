"""The model port over OpenAI's Chat Completions API, and any server that speaks it.

Chat Completions (not the Responses API) because vLLM, Ollama, LiteLLM and most gateways
implement it: the same adapter serves OpenAI (``name="openai"``) and an OpenAI-compatible
server at ``base_url`` (``name="openai-compatible"``).

One attempt per :meth:`OpenAIProvider.generate`: the SDK retries twice by default (408, 409,
429, 5xx), which would stack under the retry layer in ``shared/llm/client.py``, so the
client runs with ``max_retries=0``. The answer is asked for as a strict JSON schema (the body
``chat.completions.parse`` sends) and validated here, so that a reply that does not fit the
schema is a :class:`MalformedReplyError` carrying the text, not a pydantic error from inside
the SDK. Vendor errors become the port's errors; the API key never appears in a message.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

import openai
import pydantic
from openai.lib import type_to_response_format_param
from openai.types.chat import (
    ChatCompletion,
    ChatCompletionContentPartParam,
    ChatCompletionMessageParam,
)

from shared.adapters.retry_after import retry_after_seconds
from shared.core.text import redact
from shared.ports.models import (
    MalformedReplyError,
    MediaPart,
    ModelReply,
    ModelRequest,
    ModelRequestError,
    ModelUnavailableError,
    Part,
    RateLimitedError,
    S,
    TextPart,
)

OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAIProvider:
    """``generate`` through ``client.chat.completions``; one attempt, errors translated.

    ``base_url`` points at an OpenAI-compatible server (then pass
    ``name="openai-compatible"``); without it the client talks to OpenAI itself (the
    ``OPENAI_BASE_URL`` variable is not consulted: configuration comes from ``LlmSettings``).
    ``client`` replaces the SDK client (tests, or a caller that already has one); it is
    used through a copy with retries turned off.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        name: str = "openai",
        client: openai.OpenAI | None = None,
    ) -> None:
        self.name = name
        self._api_key = api_key
        base = client or openai.OpenAI(api_key=api_key, base_url=base_url or OPENAI_BASE_URL)
        # A client passed in may come with the SDK's default retries: one attempt is our
        # contract whoever built it.
        self._client = base.with_options(max_retries=0)
        self._where = str(self._client.base_url).rstrip("/")

    def generate(self, request: ModelRequest[S]) -> ModelReply[S]:
        """Ask once and return the reply validated into ``request.schema``."""
        messages = self._messages(request)
        options: dict[str, Any] = {}
        if request.max_output_tokens is not None:
            # OpenAI's reasoning models refuse ``max_tokens``; compatible servers (Ollama,
            # older vLLM) know only ``max_tokens``.
            key = "max_completion_tokens" if self.name == "openai" else "max_tokens"
            options[key] = request.max_output_tokens
        if request.temperature is not None:
            options["temperature"] = request.temperature
        try:
            completion = self._client.chat.completions.create(
                model=request.model,
                messages=messages,
                response_format=type_to_response_format_param(request.schema),
                timeout=request.timeout_seconds,
                **options,
            )
        except openai.APITimeoutError as exc:
            raise ModelUnavailableError(
                f"{self.name} {request.model}: no answer within {request.timeout_seconds:g} s "
                f"from {self._where}"
            ) from exc
        except openai.APIConnectionError as exc:
            raise ModelUnavailableError(
                f"{self.name} {request.model}: cannot reach {self._where} "
                f"({self._redact(str(exc.__cause__ or exc))})"
            ) from exc
        except openai.APIStatusError as exc:
            raise self._translate_status(request.model, exc) from exc
        except openai.APIResponseValidationError as exc:
            raise MalformedReplyError(
                f"{self.name} {request.model}: the answer is not a chat completion"
            ) from exc
        return self._reply(request, completion)

    # -- request -------------------------------------------------------------------------

    def _messages(self, request: ModelRequest[Any]) -> list[ChatCompletionMessageParam]:
        user: ChatCompletionMessageParam
        if all(isinstance(part, TextPart) for part in request.parts):
            # A plain string, not a list of parts: text-only models on compatible servers
            # (some chat templates) do not accept content arrays.
            text = "\n\n".join(part.text for part in request.parts if isinstance(part, TextPart))
            user = {"role": "user", "content": text}
        else:
            user = {
                "role": "user",
                "content": [self._content_part(request.model, part) for part in request.parts],
            }
        return [{"role": "system", "content": request.instructions}, user]

    def _content_part(self, model: str, part: Part) -> ChatCompletionContentPartParam:
        if isinstance(part, TextPart):
            return {"type": "text", "text": part.text}
        return {"type": "image_url", "image_url": {"url": self._image_url(model, part)}}

    def _image_url(self, model: str, part: MediaPart) -> str:
        if part.mime_type.startswith("video/"):
            raise ModelRequestError(
                f"{self.name} {model} cannot take video ({part.mime_type}): Chat Completions "
                "accepts images only; use a Gemini model for video, or send frames as images"
            )
        if not part.mime_type.startswith("image/"):
            raise ModelRequestError(
                f"{self.name} {model} cannot take {part.mime_type}: only images are supported"
            )
        if part.uri is not None and part.uri.startswith(("https://", "http://", "data:")):
            return part.uri
        if part.data is not None:
            encoded = base64.b64encode(part.data).decode("ascii")
            return f"data:{part.mime_type};base64,{encoded}"
        raise ModelRequestError(
            f"{self.name} {model} cannot fetch {part.uri!r}: give the image as an https URL "
            "or as bytes (MediaPart.data)"
        )

    # -- reply ---------------------------------------------------------------------------

    def _reply(self, request: ModelRequest[S], completion: ChatCompletion) -> ModelReply[S]:
        where = f"{self.name} {request.model}"
        usage = completion.usage
        # Some compatible servers omit usage; 0 records "not reported", not a guess. An
        # answer that is refused or does not fit was billed all the same: the error says so.
        billed = {
            "input_tokens": usage.prompt_tokens if usage else 0,
            "output_tokens": usage.completion_tokens if usage else 0,
        }
        if not completion.choices:
            raise MalformedReplyError(f"{where}: the reply has no choices", **billed)
        choice = completion.choices[0]
        message = choice.message
        if choice.finish_reason == "content_filter" or message.refusal:
            # A refusal repeats on the same input: the input has to change, not the timing.
            reason = message.refusal or "the content filter stopped the answer"
            raise ModelRequestError(f"{where} refused the request: {reason}", **billed)
        text = message.content
        if not text or not text.strip():
            raise MalformedReplyError(f"{where}: the reply has no content", **billed)
        try:
            parsed = request.schema.model_validate_json(text)
        except pydantic.ValidationError as exc:
            hint = (
                " (cut off at the token limit: raise max_output_tokens)"
                if choice.finish_reason == "length"
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
            # The version that answered (the dated snapshot the API echoes, e.g.
            # gpt-4.1-2025-04-14); prices and limits stay keyed by the requested name.
            model=completion.model or request.model,
            **billed,
        )

    # -- errors --------------------------------------------------------------------------

    def _translate_status(
        self, model: str, exc: openai.APIStatusError
    ) -> RateLimitedError | ModelUnavailableError | ModelRequestError:
        return translate_status(f"{self.name} {model}", self._where, exc, self._api_key)

    def _redact(self, text: str) -> str:
        # A compatible server may echo the key it was given; ours must never reach a log.
        return redact(text, self._api_key)


def translate_status(
    where: str, endpoint: str, exc: openai.APIStatusError, api_key: str
) -> RateLimitedError | ModelUnavailableError | ModelRequestError:
    """An HTTP error of the OpenAI API (or a compatible server) as the port's error; ``where``
    names the provider and model, ``endpoint`` the server; ``api_key`` never appears."""
    status = exc.status_code
    detail = redact(_error_message(exc), api_key)
    retry_after = _retry_after(exc.response.headers)
    if status == 429:
        if exc.code == "insufficient_quota":
            # Out of credit, not too fast: waiting does not help.
            return ModelRequestError(
                f"{where}: the account's quota is spent (HTTP 429 insufficient_quota); "
                f"check billing at the provider: {detail}"
            )
        return RateLimitedError(f"{where}: rate limited (HTTP 429): {detail}", retry_after)
    if status >= 500 or status in (408, 409):
        return ModelUnavailableError(f"{where}: HTTP {status}: {detail}", retry_after)
    if status in (401, 403):
        return ModelRequestError(
            f"{where}: HTTP {status}: the API key was refused for {endpoint}; check the "
            "configured key (openai_api_key) and its project's access to this model"
        )
    if status == 404:
        return ModelRequestError(
            f"{where}: HTTP 404: no such model or endpoint at {endpoint}; check the model "
            f"name and base URL: {detail}"
        )
    return ModelRequestError(
        f"{where}: HTTP {status}: the request was refused; fix the request "
        f"(schema, parts, parameters): {detail}"
    )


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, Mapping):
        inner = body.get("error", body)
        if isinstance(inner, Mapping) and inner.get("message"):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return exc.message


def _first_error(exc: pydantic.ValidationError) -> str:
    first = exc.errors(include_url=False, include_input=False)[0]
    location = ".".join(str(p) for p in first["loc"]) or "(root)"
    return f"{location}: {first['msg']}"


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds to wait: ``retry-after-ms`` (OpenAI), ``Retry-After`` (seconds or HTTP date)."""
    millis = headers.get("retry-after-ms")
    if millis:
        try:
            return max(0.0, float(millis) / 1000)
        except ValueError:
            pass
    return retry_after_seconds(headers.get("retry-after"))

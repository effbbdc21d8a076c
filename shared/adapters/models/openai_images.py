"""The image port over OpenAI's Images API (``client.images.generate``).

GPT image models (``gpt-image-1`` and later) always answer base64 (``b64_json``) and say
their ``output_format``; the retired DALL·E models answer a URL unless asked for
``response_format="b64_json"``, which is asked for them. One attempt per call (the client
runs with ``max_retries=0``: the retry layer is ``shared/llm/images.py``), and the same
translation of vendor errors as the text adapter, whose status mapping is reused.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

import openai

from shared.adapters.models.openai_provider import OPENAI_BASE_URL, OpenAIProvider
from shared.ports.images import GeneratedImage, ImageRequest
from shared.ports.models import MalformedReplyError, ModelUnavailableError

_MIME = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp", "gif": "image/gif"}


class OpenAIImageGenerator:
    """``generate_image`` through ``client.images.generate``; one attempt, errors translated.

    ``base_url`` points at another server that speaks the Images API (tests, gateways);
    ``client`` replaces the SDK client (used through a copy with retries off).
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
        base = client or openai.OpenAI(api_key=api_key, base_url=base_url or OPENAI_BASE_URL)
        self._client = base.with_options(max_retries=0)
        # The text adapter over the same client: its translation of statuses (429 with or
        # without quota, 5xx, keys refused, 404) and its redaction of the key are the ones
        # images need too.
        self._errors = OpenAIProvider(api_key=api_key, name=name, client=self._client)
        self._where = str(self._client.base_url).rstrip("/")

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Ask once for one picture of ``request.size``."""
        options: dict[str, Any] = {}
        if request.model.startswith("dall-e"):
            options["response_format"] = "b64_json"  # else a URL that expires in an hour
        where = f"{self.name} {request.model}"
        try:
            response = self._client.images.generate(
                model=request.model,
                prompt=request.prompt,
                size=request.size,
                n=1,
                timeout=request.timeout_seconds,
                **options,
            )
        except openai.APITimeoutError as exc:
            raise ModelUnavailableError(
                f"{where}: no image within {request.timeout_seconds:g} s from {self._where}"
            ) from exc
        except openai.APIConnectionError as exc:
            failure = self._errors._redact(str(exc.__cause__ or exc))
            raise ModelUnavailableError(f"{where}: cannot reach {self._where} ({failure})") from exc
        except openai.APIStatusError as exc:
            raise self._errors._translate_status(request.model, exc) from exc
        except openai.APIResponseValidationError as exc:
            raise MalformedReplyError(f"{where}: the answer is not an images response") from exc
        usage = response.usage
        image = response.data[0] if response.data else None
        if image is None or not image.b64_json:
            raise MalformedReplyError(f"{where}: the answer holds no base64 image")
        try:
            data = base64.b64decode(image.b64_json, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise MalformedReplyError(f"{where}: the image is not valid base64") from exc
        if not data:
            raise MalformedReplyError(f"{where}: the image is empty")
        return GeneratedImage(
            data=data,
            mime_type=_MIME.get(response.output_format or "png", "image/png"),
            # The Images API does not name the snapshot that answered.
            model=request.model,
            revised_prompt=image.revised_prompt,
            input_tokens=usage.input_tokens if usage else 0,
            output_tokens=usage.output_tokens if usage else 0,
        )

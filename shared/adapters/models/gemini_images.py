"""The image port over ``google-genai``: Gemini's image models and Imagen.

Two routes, because the SDK serves them differently:

- :class:`GeminiImageGenerator`: Gemini image models (``gemini-2.5-flash-image``...) on the
  Gemini Developer API with the Gemini key: ``client.models.generate_content`` asked for
  ``response_modalities=["IMAGE"]``; the picture comes back as an inline part.
- :class:`ImagenGenerator`: Imagen (``imagen-4.0-generate-001``...) through
  ``client.models.generate_images``, which google-genai 3.x sends ONLY to Vertex AI
  (``{model}:predict``; on a Developer API client it raises before sending anything). The
  client is a Vertex one: an API key (Vertex express mode) or the process's Google
  credentials with a project and location.

Both make one attempt per call (``HttpRetryOptions(attempts=1)`` on every call, whatever
the client was built with) and translate vendor errors with the text adapter's mapping
(:class:`~shared.adapters.models.gemini_provider.GeminiProvider`), so a 429 is a
:class:`RateLimitedError` with Gemini's ``RetryInfo`` delay, a 5xx or timeout a
:class:`ModelUnavailableError`, a refused key or request a :class:`ModelRequestError`. A
picture the provider's safety filter withheld is a :class:`ModelRequestError` too (the same
prompt is withheld again); an answer without a picture for no stated reason is a
:class:`MalformedReplyError` (asked again).
"""

from __future__ import annotations

import json
import math

import httpx2
import pydantic
from google import genai
from google.genai import errors, types

from shared.adapters.models.gemini_provider import GeminiProvider
from shared.core.errors import ConfigError
from shared.ports.images import GeneratedImage, ImageRequest
from shared.ports.models import (
    MalformedReplyError,
    ModelRequest,
    ModelRequestError,
    ModelUnavailableError,
    RateLimitedError,
)

# What each route accepts as aspect_ratio (the SDK's documented values).
IMAGEN_RATIOS = ("1:1", "3:4", "4:3", "9:16", "16:9")
GEMINI_RATIOS = ("1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9")
# Imagen's "1K" pictures are at most 1408 px on their longer side; beyond, ask for "2K".
IMAGEN_1K_MAX_SIDE = 1408

# Gemini finish reasons that withhold a picture for what the prompt asks.
_WITHHELD = frozenset(
    {
        "SAFETY",
        "IMAGE_SAFETY",
        "PROHIBITED_CONTENT",
        "IMAGE_PROHIBITED_CONTENT",
        "BLOCKLIST",
        "RECITATION",
        "IMAGE_RECITATION",
        "SPII",
    }
)


def nearest_ratio(width: int, height: int, supported: tuple[str, ...]) -> str:
    """The supported ``W:H`` closest to ``width/height`` (compared on a log scale)."""

    def distance(ratio: str) -> float:
        w, h = (int(n) for n in ratio.split(":"))
        return abs(math.log((width / height) / (w / h)))

    return min(supported, key=distance)


def _call_options(request: ImageRequest) -> types.HttpOptions:
    return types.HttpOptions(
        timeout=max(1, math.ceil(request.timeout_seconds * 1000)),  # milliseconds
        retry_options=types.HttpRetryOptions(attempts=1),
    )


def _as_model_request(request: ImageRequest) -> ModelRequest[pydantic.BaseModel]:
    """The text adapter's error mapping reads the model and the timeout of a request."""
    return ModelRequest(
        model=request.model,
        instructions="",
        parts=(),
        schema=pydantic.BaseModel,
        timeout_seconds=request.timeout_seconds,
    )


class GeminiImageGenerator:
    """Gemini image models through ``generate_content`` on the Developer API.

    ``base_url`` replaces the API endpoint (tests, proxies); ``client`` the SDK client.
    """

    name = "gemini"

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        client: genai.Client | None = None,
    ) -> None:
        self._client = client or genai.Client(
            api_key=api_key,
            # Explicit: GOOGLE_GENAI_USE_VERTEXAI in the environment must not switch backends.
            vertexai=False,
            http_options=types.HttpOptions(base_url=base_url) if base_url else None,
        )
        self._errors = GeminiProvider(api_key=api_key, client=self._client)

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Ask once for one picture at the aspect ratio nearest ``request.size``."""
        where = f"gemini {request.model}"
        width, height = request.dimensions
        config = types.GenerateContentConfig(
            response_modalities=["IMAGE"],
            image_config=types.ImageConfig(
                aspect_ratio=nearest_ratio(width, height, GEMINI_RATIOS)
            ),
            http_options=_call_options(request),
        )
        try:
            response = self._client.models.generate_content(
                model=request.model, contents=request.prompt, config=config
            )
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:
            raise MalformedReplyError(
                f"{where}: the answer is not a GenerateContentResponse"
            ) from exc
        except (errors.APIError, httpx2.HTTPError) as exc:
            raise self._translate(request, exc) from exc
        except ValueError as exc:  # the SDK refuses a model name before sending it
            raise ModelRequestError(f"{where}: {exc}") from exc
        return self._picture(request, response)

    def _picture(
        self, request: ImageRequest, response: types.GenerateContentResponse
    ) -> GeneratedImage:
        where = f"gemini {request.model}"
        feedback = response.prompt_feedback
        if feedback is not None and feedback.block_reason is not None:
            reason = feedback.block_reason_message or feedback.block_reason.value
            raise ModelRequestError(f"{where} blocked the prompt ({reason}); change the prompt")
        if not response.candidates:
            raise MalformedReplyError(f"{where}: the answer has no candidates")
        candidate = response.candidates[0]
        finish = candidate.finish_reason.value if candidate.finish_reason else None
        if finish in _WITHHELD:
            why = f": {candidate.finish_message}" if candidate.finish_message else ""
            raise ModelRequestError(
                f"{where} withheld the picture (finish reason {finish}){why}; change the prompt"
            )
        parts = candidate.content.parts if candidate.content else None
        blob = next(
            (
                p.inline_data
                for p in parts or []
                if p.inline_data is not None
                and p.inline_data.data
                and (p.inline_data.mime_type or "").startswith("image/")
                and not p.thought  # thinking models may draw drafts first
            ),
            None,
        )
        if blob is None or blob.data is None:
            said = " ".join(p.text for p in parts or [] if p.text)[:200]
            raise MalformedReplyError(
                f"{where}: the answer holds no picture (finish {finish})"
                + (f"; it said: {said}" if said else "")
            )
        usage = response.usage_metadata
        return GeneratedImage(
            data=blob.data,
            mime_type=blob.mime_type or "image/png",
            model=response.model_version or request.model,
            input_tokens=(usage.prompt_token_count or 0) if usage else 0,
            output_tokens=(usage.candidates_token_count or 0) if usage else 0,
        )

    def _translate(
        self, request: ImageRequest, exc: errors.APIError | httpx2.HTTPError
    ) -> RateLimitedError | ModelUnavailableError | ModelRequestError:
        # The text adapter's mapping (statuses, RetryInfo, key refusals, redaction).
        return self._errors._translate(_as_model_request(request), exc, doing="drawing")


class ImagenGenerator:
    """Imagen through ``generate_images`` on Vertex AI.

    Give ``api_key`` (Vertex express mode) or ``project`` and ``location`` (the process's
    Google credentials, as a Cloud Function's service account provides them).
    ``base_url`` replaces the Vertex endpoint (tests, proxies); ``client`` the SDK client
    (it must be a Vertex client).
    """

    name = "imagen"

    def __init__(
        self,
        *,
        api_key: str | None = None,
        project: str | None = None,
        location: str | None = None,
        base_url: str | None = None,
        client: genai.Client | None = None,
    ) -> None:
        if client is None:
            if api_key is None and not (project and location):
                raise ConfigError(
                    "Imagen on Vertex AI needs an API key, or a project and a location"
                )
            client = genai.Client(
                vertexai=True,
                api_key=api_key,
                # With a key, express mode: no project or location in the path.
                project=None if api_key else project,
                location=None if api_key else location,
                http_options=types.HttpOptions(base_url=base_url) if base_url else None,
            )
        self._client = client
        self._errors = GeminiProvider(api_key=api_key or "", client=client)

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        """Ask once for one picture at the aspect ratio nearest ``request.size``."""
        where = f"imagen {request.model}"
        width, height = request.dimensions
        config = types.GenerateImagesConfig(
            number_of_images=1,
            aspect_ratio=nearest_ratio(width, height, IMAGEN_RATIOS),
            image_size="2K" if max(width, height) > IMAGEN_1K_MAX_SIDE else None,
            output_mime_type="image/png",
            include_rai_reason=True,  # say why a picture was withheld
            http_options=_call_options(request),
        )
        try:
            response = self._client.models.generate_images(
                model=request.model, prompt=request.prompt, config=config
            )
        except (json.JSONDecodeError, pydantic.ValidationError) as exc:
            raise MalformedReplyError(
                f"{where}: the answer is not a GenerateImagesResponse"
            ) from exc
        except (errors.APIError, httpx2.HTTPError) as exc:
            raise self._errors._translate(_as_model_request(request), exc, doing="drawing") from exc
        except ValueError as exc:  # a model name the SDK refuses, or not a Vertex client
            raise ModelRequestError(f"{where}: {exc}") from exc
        generated = response.generated_images or []
        if not generated:
            # Imagen drops a withheld picture from the answer when it gives no reason.
            raise ModelRequestError(
                f"{where} returned no picture (its safety filter withholds pictures it will "
                "not draw); change the prompt"
            )
        first = generated[0]
        image = first.image
        if image is None or not image.image_bytes:
            if first.rai_filtered_reason:
                raise ModelRequestError(
                    f"{where} withheld the picture: {first.rai_filtered_reason}"
                )
            raise MalformedReplyError(f"{where}: the answer holds no picture bytes")
        return GeneratedImage(
            data=image.image_bytes,
            mime_type=image.mime_type or "image/png",
            # Imagen does not name a version; the model asked for is the one that answered.
            model=request.model,
            revised_prompt=first.enhanced_prompt,
        )

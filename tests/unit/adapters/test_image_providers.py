"""The image adapters: OpenAI's Images API, Gemini's image models and Imagen through the real
SDKs against the fake APIs (tests/llmfake.py) over real HTTP, and the offline placeholders.

What is asserted is what crossed the wire (the fake's request log), the picture that came
back (decoded), and the translation of every failure into the model port's errors, one
HTTP request per call (no SDK retries).
"""

from __future__ import annotations

import colorsys
import io
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from google import genai
from llmfake import (  # noqa: F401 (fixture llm_server)
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    GEMINI_IMAGE_SIZES,
    IMAGEN_SIZES,
    FakeLLM,
    fake_png,
    llm_server_fixture,
)
from PIL import Image, ImageChops
from support import free_port

from shared.adapters.models.gemini_images import (
    GEMINI_RATIOS,
    IMAGEN_RATIOS,
    GeminiImageGenerator,
    ImagenGenerator,
    nearest_ratio,
)
from shared.adapters.models.offline_images import (
    INK,
    LABEL_INK,
    OfflineImageGenerator,
    label_box,
    style_of,
)
from shared.adapters.models.openai_images import OpenAIImageGenerator
from shared.core.errors import ConfigError, PermanentError, TransientError
from shared.ports.images import GeneratedImage, ImageGenerator, ImageRequest, parse_size
from shared.ports.models import (
    ModelRequestError,
    ModelUnavailableError,
    RateLimitedError,
)

# google-genai 3.x marks generate_images (Imagen) deprecated; the adapter still uses it.
pytestmark = pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")

PROMPT = "a red fox in fresh snow, photograph"


@dataclass(frozen=True)
class Route:
    """One HTTP adapter, the model it is asked for, and what its request looks like."""

    name: str
    model: str
    path: str  # regex of its generate call
    size: str  # what the test asks for...
    returned: tuple[int, int]  # ...and the picture the provider returns for it
    build: Callable[[FakeLLM], ImageGenerator]
    sent: Callable[[Any], dict[str, Any]]  # model-independent fields of the request body


ROUTES = [
    Route(
        "openai",
        "gpt-image-1",
        r"/v1/images/generations$",
        "1536x1024",
        (1536, 1024),
        lambda fake: OpenAIImageGenerator(
            api_key=DEFAULT_OPENAI_KEY, base_url=fake.openai_base_url
        ),
        lambda body: {"prompt": body["prompt"], "size": body["size"], "n": body["n"]},
    ),
    Route(
        "gemini",
        "gemini-2.5-flash-image",
        r":generateContent$",
        "1024x768",
        GEMINI_IMAGE_SIZES["4:3"],
        lambda fake: GeminiImageGenerator(
            api_key=DEFAULT_GEMINI_KEY, base_url=fake.gemini_base_url
        ),
        lambda body: {
            "prompt": body["contents"][0]["parts"][0]["text"],
            "modalities": body["generationConfig"]["responseModalities"],
            "ratio": body["generationConfig"]["imageConfig"]["aspectRatio"],
        },
    ),
    Route(
        "imagen",
        "imagen-4.0-generate-001",
        r":predict$",
        "1024x1024",
        IMAGEN_SIZES["1:1"],
        lambda fake: ImagenGenerator(api_key=DEFAULT_GEMINI_KEY, base_url=fake.gemini_base_url),
        lambda body: {
            "prompt": body["instances"][0]["prompt"],
            "count": body["parameters"]["sampleCount"],
            "ratio": body["parameters"]["aspectRatio"],
        },
    ),
]
EXPECTED_SENT = {
    "openai": {"prompt": PROMPT, "size": "1536x1024", "n": 1},
    "gemini": {"prompt": PROMPT, "modalities": ["IMAGE"], "ratio": "4:3"},
    "imagen": {"prompt": PROMPT, "count": 1, "ratio": "1:1"},
}


@pytest.fixture(params=ROUTES, ids=[r.name for r in ROUTES])
def route(request: pytest.FixtureRequest, llm_server: FakeLLM) -> tuple[Route, ImageGenerator]:
    chosen: Route = request.param
    return chosen, chosen.build(llm_server)


def ask(route: Route, *, size: str | None = None, timeout: float = 10.0) -> ImageRequest:
    return ImageRequest(
        model=route.model,
        prompt=PROMPT,
        category="photo",
        size=size or route.size,
        timeout_seconds=timeout,
    )


def decoded(image: GeneratedImage) -> Image.Image:
    picture = Image.open(io.BytesIO(image.data))
    picture.load()
    return picture


# -- the HTTP adapters: the port's contract --------------------------------------------------


def test_one_request_with_the_model_prompt_and_size_returns_the_picture(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator]
) -> None:
    # GIVEN an adapter over its SDK and the fake API
    spec, generator = route

    # WHEN it is asked for one picture
    image = generator.generate_image(ask(spec))

    # THEN one request carried the model, the prompt and the size (or its aspect ratio)...
    (call,) = llm_server.calls()
    assert call.model == spec.model
    assert spec.sent(call.body) == EXPECTED_SENT[spec.name]
    # ...and the picture came back as the provider sent it: a PNG of the size it draws
    assert image.mime_type == "image/png"
    assert decoded(image).format == "PNG"
    assert decoded(image).size == spec.returned
    assert image.data == fake_png(PROMPT, *spec.returned)
    assert image.model == spec.model


@pytest.mark.parametrize("retry_after", ["7", 2.5])
def test_a_429_is_rate_limited_with_retry_after_after_one_request(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator], retry_after: Any
) -> None:
    spec, generator = route
    llm_server.fail_next(spec.path, 429, retry_after=retry_after)

    with pytest.raises(RateLimitedError) as caught:
        generator.generate_image(ask(spec))

    assert caught.value.retry_after == float(retry_after)
    assert isinstance(caught.value, TransientError)
    assert [r.status for r in llm_server.calls()] == [429]  # the SDK did not retry


@pytest.mark.parametrize("status", [500, 503])
def test_a_5xx_is_unavailable_after_one_request(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator], status: int
) -> None:
    spec, generator = route
    llm_server.fail_next(spec.path, status, times=3)

    with pytest.raises(ModelUnavailableError, match=f"HTTP {status}"):
        generator.generate_image(ask(spec))

    assert [r.status for r in llm_server.calls()] == [status]


def test_a_400_is_a_permanent_request_error(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator]
) -> None:
    spec, generator = route
    llm_server.fail_next(spec.path, 400)

    with pytest.raises(ModelRequestError, match="HTTP 400") as caught:
        generator.generate_image(ask(spec))

    assert isinstance(caught.value, PermanentError)
    assert not isinstance(caught.value, TransientError)
    assert len(llm_server.calls()) == 1


def test_a_withheld_picture_is_a_request_error_with_the_reason(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator]
) -> None:
    # GIVEN a provider whose safety filter withholds the next picture
    spec, generator = route
    llm_server.refuse_images(reason="depicts a real person")

    # THEN asking again would not help: a permanent error saying why
    with pytest.raises(ModelRequestError) as caught:
        generator.generate_image(ask(spec))

    # (the SDK keeps no finish message from the Developer API: Gemini's reason is its code)
    said = "IMAGE_SAFETY" if spec.name == "gemini" else "depicts a real person"
    assert said in str(caught.value)
    assert len(llm_server.calls()) == 1


def test_a_refused_key_is_a_request_error_that_never_shows_the_key(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator]
) -> None:
    spec, _generator = route
    llm_server.openai_key = llm_server.gemini_key = "another-key"

    with pytest.raises(ModelRequestError, match="API key was refused") as caught:
        spec.build(llm_server).generate_image(ask(spec))

    assert DEFAULT_OPENAI_KEY not in str(caught.value)
    assert DEFAULT_GEMINI_KEY not in str(caught.value)


def test_a_stalled_answer_times_out_as_unavailable(
    llm_server: FakeLLM, route: tuple[Route, ImageGenerator]
) -> None:
    spec, generator = route
    llm_server.fail_next(spec.path, 200, delay=5.0)

    with pytest.raises(ModelUnavailableError):
        generator.generate_image(ask(spec, timeout=0.5))

    assert len(llm_server.calls()) == 1


def test_an_unreachable_server_is_unavailable() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    for spec in ROUTES:
        fake = FakeLLM()
        fake.endpoint = base
        with pytest.raises(ModelUnavailableError):
            spec.build(fake).generate_image(ask(spec, timeout=2.0))


# -- OpenAI ----------------------------------------------------------------------------------


def test_openai_a_size_the_model_does_not_draw_is_refused_not_retried(
    llm_server: FakeLLM,
) -> None:
    generator = OpenAIImageGenerator(
        api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url
    )

    with pytest.raises(ModelRequestError, match="Invalid value: '256x256'"):
        generator.generate_image(ImageRequest("gpt-image-1", PROMPT, "photo", "256x256"))

    assert [r.status for r in llm_server.calls()] == [400]


def test_openai_gpt_image_usage_is_kept_and_dall_e_is_asked_for_base64(
    llm_server: FakeLLM,
) -> None:
    generator = OpenAIImageGenerator(
        api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url
    )

    gpt = generator.generate_image(ImageRequest("gpt-image-1", PROMPT, "photo", "1024x1024"))
    dalle = generator.generate_image(ImageRequest("dall-e-3", PROMPT, "photo", "1024x1024"))

    gpt_body, dalle_body = (r.body for r in llm_server.calls())
    # GPT image models refuse response_format; DALL-E answers a URL without it
    assert "response_format" not in gpt_body
    assert dalle_body["response_format"] == "b64_json"
    assert (gpt.input_tokens, gpt.output_tokens) == (len(PROMPT) // 4, 1056)
    assert dalle.revised_prompt == f"A detailed picture: {PROMPT}"
    assert decoded(dalle).size == (1024, 1024)


def test_openai_insufficient_quota_is_a_request_error(llm_server: FakeLLM) -> None:
    # Out of credit, not too fast: the text adapter's mapping, reused
    generator = OpenAIImageGenerator(
        api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url
    )
    body = {
        "error": {"message": "You exceeded your quota", "type": "x", "code": "insufficient_quota"}
    }
    llm_server.fail_next(r"/images/generations$", 429, body=body)

    with pytest.raises(ModelRequestError, match="quota is spent"):
        generator.generate_image(ImageRequest("gpt-image-1", PROMPT, "photo"))


# -- Gemini and Imagen -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("size", "supported", "expected"),
    [
        ("1024x1024", IMAGEN_RATIOS, "1:1"),
        ("1920x1080", IMAGEN_RATIOS, "16:9"),
        ("1000x1300", IMAGEN_RATIOS, "3:4"),
        ("1536x1024", IMAGEN_RATIOS, "4:3"),
        ("1536x1024", GEMINI_RATIOS, "3:2"),
        ("2520x1080", GEMINI_RATIOS, "21:9"),
    ],
)
def test_the_nearest_supported_aspect_ratio_is_asked_for(
    size: str, supported: tuple[str, ...], expected: str
) -> None:
    assert nearest_ratio(*parse_size(size), supported) == expected


def test_imagen_asks_for_2k_only_past_what_1k_draws(llm_server: FakeLLM) -> None:
    generator = ImagenGenerator(api_key=DEFAULT_GEMINI_KEY, base_url=llm_server.gemini_base_url)

    small = generator.generate_image(
        ImageRequest("imagen-4.0-generate-001", PROMPT, "p", "1408x768")
    )
    large = generator.generate_image(
        ImageRequest("imagen-4.0-generate-001", PROMPT, "p", "2048x2048")
    )

    sent = [r.body["parameters"].get("sampleImageSize") for r in llm_server.calls()]
    assert sent == [None, "2K"]
    assert decoded(small).size == IMAGEN_SIZES["16:9"]
    assert decoded(large).size == (2048, 2048)


def test_imagen_goes_to_vertex_in_express_mode_with_the_key(llm_server: FakeLLM) -> None:
    generator = ImagenGenerator(api_key=DEFAULT_GEMINI_KEY, base_url=llm_server.gemini_base_url)

    generator.generate_image(ImageRequest("imagen-4.0-fast-generate-001", PROMPT, "photo"))

    (call,) = llm_server.calls()
    assert call.path == "/v1beta1/publishers/google/models/imagen-4.0-fast-generate-001:predict"
    assert call.headers["x-goog-api-key"] == DEFAULT_GEMINI_KEY


def test_imagen_on_a_developer_api_client_is_refused_before_any_request(
    llm_server: FakeLLM,
) -> None:
    # google-genai 3.x sends generate_images only to Vertex AI
    developer = genai.Client(
        api_key=DEFAULT_GEMINI_KEY,
        vertexai=False,
        http_options=genai.types.HttpOptions(base_url=llm_server.gemini_base_url),
    )
    generator = ImagenGenerator(client=developer)

    with pytest.raises(ModelRequestError, match="only supported in"):
        generator.generate_image(ImageRequest("imagen-4.0-generate-001", PROMPT, "photo"))

    assert llm_server.requests == []


def test_imagen_without_a_key_or_project_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="API key, or a project and a location"):
        ImagenGenerator(project="p")


def test_gemini_reports_the_version_that_answered_and_the_image_tokens(
    llm_server: FakeLLM,
) -> None:
    generator = GeminiImageGenerator(
        api_key=DEFAULT_GEMINI_KEY, base_url=llm_server.gemini_base_url
    )

    image = generator.generate_image(ImageRequest("gemini-2.5-flash-image", PROMPT, "photo"))

    assert image.model == "gemini-2.5-flash-image"  # the fake's modelVersion
    assert image.output_tokens == 1290
    assert decoded(image).size == GEMINI_IMAGE_SIZES["1:1"]


# -- offline placeholders --------------------------------------------------------------------

OFFLINE = OfflineImageGenerator()


def placeholder(category: str, prompt: str = PROMPT, size: str = "320x240") -> GeneratedImage:
    return OFFLINE.generate_image(ImageRequest("gpt-image-1", prompt, category, size))


def outside_label(picture: Image.Image, category: str) -> list[tuple[int, int, int]]:
    left, top, right, bottom = label_box(*picture.size, category)
    width, height = picture.size
    pixels = picture.load()
    return [
        pixels[x, y]
        for y in range(height)
        for x in range(width)
        if not (left <= x < right and top <= y < bottom)
    ]


def test_a_placeholder_is_a_png_of_the_size_asked_labelled_offline() -> None:
    image = placeholder("photo", size="320x240")

    assert image.mime_type == "image/png"
    assert decoded(image).format == "PNG"
    assert decoded(image).size == (320, 240)
    assert image.model == "offline-gpt-image-1"


def test_placeholders_are_deterministic_from_category_and_prompt() -> None:
    first = placeholder("colour_illustration")

    assert placeholder("colour_illustration").data == first.data
    assert placeholder("colour_illustration", prompt="another prompt").data != first.data
    assert placeholder("colour_drawing").data != first.data


@pytest.mark.parametrize(
    ("category", "style"),
    [
        ("photo", "photo"),
        ("photorealistic", "photo"),
        ("bw_stylized", "bw"),
        ("color_stylized", "colour"),
        ("bw_illustration", "bw"),
        ("ink-bw", "bw"),
        ("black_and_white", "bw"),
        ("cobweb", "colour"),
        ("colour_illustration", "colour"),
    ],
)
def test_the_style_follows_the_category_name(category: str, style: str) -> None:
    assert style_of(category) == style


@pytest.mark.parametrize("prompt", [PROMPT, "a lighthouse at dusk", "x"])
def test_a_bw_placeholder_is_grey_only_with_ink_lines(prompt: str) -> None:
    picture = decoded(placeholder("bw_illustration", prompt=prompt)).convert("RGB")
    red, green, blue = picture.split()

    # every pixel has R = G = B
    assert ImageChops.difference(red, green).getbbox() is None
    assert ImageChops.difference(green, blue).getbbox() is None
    # and ink was drawn outside the label: lines on paper, not a flat grey
    levels = [r for r, _g, _b in outside_label(picture, "bw_illustration")]
    inked = sum(level <= INK + 40 for level in levels)
    assert 0.03 < inked / len(levels) < 0.6


def test_a_photo_placeholder_is_a_smooth_many_coloured_picture() -> None:
    photo = decoded(placeholder("photo")).convert("RGB")
    flat = decoded(placeholder("colour_illustration")).convert("RGB")

    photo_colours = photo.getcolors(maxcolors=1 << 24) or []
    flat_colours = flat.getcolors(maxcolors=1 << 24) or []
    assert len(photo_colours) > 2_000
    assert len(flat_colours) < 400  # a few flat shapes and the label's anti-aliased text
    red, green, _blue = photo.split()
    assert ImageChops.difference(red, green).getbbox() is not None  # in colour


def saturation_share(picture: Image.Image, category: str, at_least: float) -> float:
    pixels = outside_label(picture, category)
    saturated = sum(
        colorsys.rgb_to_hsv(r / 255, g / 255, b / 255)[1] >= at_least for r, g, b in pixels
    )
    return saturated / len(pixels)


def test_a_colour_placeholder_is_made_of_saturated_colours() -> None:
    colour = decoded(placeholder("colour_illustration")).convert("RGB")
    photo = decoded(placeholder("photo")).convert("RGB")

    assert saturation_share(colour, "colour_illustration", 0.9) > 0.95
    assert saturation_share(photo, "photo", 0.9) < 0.05


@pytest.mark.parametrize("category", ["photo", "bw_illustration", "colour_illustration"])
def test_every_placeholder_carries_its_label(category: str) -> None:
    # GIVEN two placeholders of one category from different prompts
    one = decoded(placeholder(category)).convert("RGB")
    two = decoded(placeholder(category, prompt="a lighthouse at dusk")).convert("RGB")
    box = label_box(320, 240, category)

    # THEN the label is the same opaque box on both, while the pictures differ elsewhere
    assert box[2] > 100
    assert box[3] > 30
    assert ImageChops.difference(one.crop(box), two.crop(box)).getbbox() is None
    assert ImageChops.difference(one, two).getbbox() is not None
    # and its text is drawn in the label's ink, which no style uses elsewhere
    ink = [(x, y) for y in range(240) for x in range(320) if one.getpixel((x, y)) == LABEL_INK]
    assert len(ink) > 100
    assert all(box[0] <= x < box[2] and box[1] <= y < box[3] for x, y in ink)


def test_the_label_names_the_category() -> None:
    # GIVEN two categories of one style, whose labels differ by their second line only
    photo = decoded(placeholder("photo")).convert("RGB")
    portrait = decoded(placeholder("photo_portrait")).convert("RGB")
    left, top, right, bottom = label_box(320, 240, "photo")
    middle = top + (bottom - top) // 2

    first_line = (left, top, right, middle)
    second_line = (left, middle, right, bottom)
    assert (
        ImageChops.difference(photo.crop(first_line), portrait.crop(first_line)).getbbox() is None
    )
    assert ImageChops.difference(photo.crop(second_line), portrait.crop(second_line)).getbbox()


def test_a_tiny_placeholder_still_fits_its_label() -> None:
    picture = decoded(placeholder("colour_illustration_with_a_long_name", size="64x48"))

    assert picture.size == (64, 48)
    colours = {colour: count for count, colour in picture.convert("RGB").getcolors(4096) or []}
    assert colours.get(LABEL_INK, 0) > 20


@pytest.mark.parametrize("size", ["1024", "0x10", "10x", "axb", "9000x10"])
def test_a_size_that_is_not_width_x_height_is_refused_at_the_request(size: str) -> None:
    with pytest.raises(ValueError, match="size"):
        ImageRequest("gpt-image-1", PROMPT, "photo", size)

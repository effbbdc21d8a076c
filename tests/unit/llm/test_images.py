"""The image client: provider choice, the one retry layer, pictures per minute, the ledger with
a price per picture, and the refusal of unpriced models; at the port with a scripted
generator, and over the real SDKs against the fake APIs."""

from __future__ import annotations

import json
from collections.abc import Mapping

import pytest
from llmfake import (  # noqa: F401 (fixture llm_server)
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    FakeLLM,
    fake_png,
    llm_server_fixture,
)
from pydantic import ValidationError
from support import ManualClock
from typer.testing import CliRunner

from shared.adapters.local import build_local_services
from shared.adapters.models.offline_images import OfflineImageGenerator
from shared.bootstrap import build_image_generators
from shared.cli.main import app
from shared.config import Settings
from shared.core.errors import ConfigError
from shared.llm.client import ModelCallFailedError
from shared.llm.images import ImageClient, family_of, image_client
from shared.llm.ledger import MODEL_CALLS, summarize_costs
from shared.platform.context import Context
from shared.ports.images import GeneratedImage, ImageGenerator, ImageRequest
from shared.ports.models import (
    MalformedReplyError,
    ModelRequestError,
    ModelUnavailableError,
    RateLimitedError,
)

pytestmark = pytest.mark.filterwarnings("ignore:The generate_images method is deprecated")

PROMPT = "a watercolour of a heron"


class FakeImageGenerator:
    """An image provider at the port that answers from a script of pictures and errors."""

    def __init__(self, script: list[bytes | Exception], name: str = "openai") -> None:
        self.name = name
        self.script = list(script)
        self.requests: list[ImageRequest] = []

    def generate_image(self, request: ImageRequest) -> GeneratedImage:
        self.requests.append(request)
        step = self.script.pop(0)
        if isinstance(step, Exception):
            raise step
        return GeneratedImage(step, "image/png", f"{request.model}-2025-04-23", "revised")


@pytest.fixture
def stores(tmp_path):
    settings = Settings(home=tmp_path, model_max_retries=3)
    _blobs, documents, _bus = build_local_services(settings)
    return settings, documents


def client_with(
    stores, generators: Mapping[str, ImageGenerator], settings: Settings | None = None
) -> tuple[ImageClient, ManualClock]:
    settings = settings or stores[0]
    clock = ManualClock()
    client = ImageClient(
        settings,
        stores[1],
        {"offline": OfflineImageGenerator(), **generators},
        sleep=clock.sleep,
        clock=clock,  # its own limiter runs on this clock too
    )
    return client, clock


def draw(client: ImageClient, model: str = "gpt-image-1", **kwargs) -> object:
    return client.generate(PROMPT, model=model, category="watercolour", **kwargs)


def ledger(documents) -> list[dict]:
    return [doc.data for doc in documents.iter_collection(MODEL_CALLS)]


# -- the ledger and prices -----------------------------------------------------------------


def test_every_picture_is_one_ledger_entry_at_its_price_and_costs_count_it(stores):
    # GIVEN a provider that draws two pictures
    generator = FakeImageGenerator([b"one", b"two"])
    client, _clock = client_with(stores, {"openai": generator})

    # WHEN two pictures are asked for, labelled like a run's
    first = draw(client, labels={"kind": "trainset_images", "run": "r1"}, size="1536x1024")
    draw(client, labels={"kind": "trainset_images", "run": "r1"})

    # THEN each is one entry with the per-picture price, the model that answered, the labels
    assert first.data == b"one"
    assert first.cost_usd == pytest.approx(0.042)
    assert first.model == "gpt-image-1-2025-04-23"
    assert first.revised_prompt == "revised"
    entries = ledger(stores[1])
    assert len(entries) == 2
    entry = next(e for e in entries if e["size"] == "1536x1024")
    assert entry["outcome"] == "success"
    assert entry["provider"] == "openai"
    assert entry["model"] == "gpt-image-1-2025-04-23"
    assert entry["requested_model"] == "gpt-image-1"
    assert entry["cost_usd"] == pytest.approx(0.042)
    assert entry["images"] == 1
    assert entry["category"] == "watercolour"
    assert entry["labels"] == {"kind": "trainset_images", "run": "r1"}
    assert entry["prompt_name"] == "image_generation"
    # and the spend summary (vidcurate costs) counts them by model, kind and run
    summary = summarize_costs(stores[1], run="r1")
    assert summary.calls == 2
    assert summary.cost_usd == pytest.approx(0.084)
    assert summary.by_kind["trainset_images"]["calls"] == 2
    assert summary.by_model["gpt-image-1-2025-04-23"]["cost_usd"] == pytest.approx(0.084)
    result = CliRunner().invoke(app, ["--home", str(stores[0].home), "costs", "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["cost_usd"] == pytest.approx(0.084)


def test_the_provider_sees_the_request_with_the_prompt_category_size_and_timeout(stores):
    generator = FakeImageGenerator([b"png"])
    client, _clock = client_with(stores, {"openai": generator})

    draw(client, size="1024x1536", prompt_name="trainset_style", prompt_version="4")

    (request,) = generator.requests
    assert (request.model, request.prompt, request.category) == (
        "gpt-image-1",
        PROMPT,
        "watercolour",
    )
    assert request.size == "1024x1536"
    assert request.timeout_seconds == stores[0].image_timeout_seconds == 180
    (entry,) = ledger(stores[1])
    assert (entry["prompt_name"], entry["prompt_version"]) == ("trainset_style", "4")


def test_an_unpriced_model_is_refused_before_any_call_even_offline(stores):
    generator = FakeImageGenerator([b"png"])
    client, _clock = client_with(stores, {"openai": generator})

    for model in ("gpt-image-9", "imagen-9-typo"):
        with pytest.raises(ConfigError, match="VIDCURATE_IMAGE_PRICES") as caught:
            draw(client, model=model)
        assert f"no price for image model '{model}'" in str(caught.value)

    assert generator.requests == []
    assert ledger(stores[1]) == []


def test_a_price_given_in_the_settings_makes_a_model_usable(stores, monkeypatch):
    monkeypatch.setenv("VIDCURATE_IMAGE_PRICES", '{"gpt-image-9": 0.5}')
    settings = Settings(home=stores[0].home)
    client, _clock = client_with(stores, {"openai": FakeImageGenerator([b"png"])}, settings)

    assert draw(client, model="gpt-image-9").cost_usd == 0.5
    # merged over the defaults, which stay priced
    assert settings.image_prices["imagen-4.0-fast-generate-001"] == 0.02
    assert settings.unpriced_image_message("gpt-image-9", "x") is None


@pytest.mark.parametrize("prices", ['{"m": -1}', '{"m": "free"}'])
def test_a_price_that_is_not_a_non_negative_number_is_a_settings_error(stores, prices):
    with pytest.raises(ValidationError, match="image_prices"):
        Settings(home=stores[0].home, image_prices=json.loads(prices))


def test_empty_vertex_settings_are_unset(stores, monkeypatch):
    # as .env templates leave them: "VIDCURATE_VERTEX_API_KEY=" means no key
    monkeypatch.setenv("VIDCURATE_VERTEX_API_KEY", "")
    monkeypatch.setenv("VIDCURATE_VERTEX_LOCATION", " ")

    settings = Settings(home=stores[0].home)

    assert settings.vertex_api_key is None
    assert settings.vertex_location is None


def test_offline_pictures_are_recorded_as_offline_at_no_cost(stores):
    client, _clock = client_with(stores, {})

    result = draw(client, size="256x256")

    assert result.provider == "offline"
    assert result.model == "offline-gpt-image-1"
    assert result.cost_usd == 0
    assert result.data.startswith(b"\x89PNG")
    (entry,) = ledger(stores[1])
    assert (entry["provider"], entry["model"], entry["cost_usd"]) == (
        "offline",
        "offline-gpt-image-1",
        0,
    )
    assert client.price_per_image("gpt-image-1") == 0.042  # what it would cost with a key


# -- provider choice -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "family"),
    [
        ("gpt-image-1", "openai"),
        ("dall-e-3", "openai"),
        ("gemini-2.5-flash-image", "gemini"),
        ("imagen-4.0-generate-001", "imagen"),
        ("flux-schnell", "openai"),  # an OpenAI-compatible server, as for text
    ],
)
def test_the_provider_follows_the_model_name(stores, model, family):
    generators = {name: FakeImageGenerator([], name) for name in ("openai", "gemini", "imagen")}
    client, _clock = client_with(stores, generators)

    assert family_of(model) == family
    assert client.provider_for(model) is generators[family]
    assert not client.is_offline(model)


def test_without_a_family_s_generator_or_when_forced_offline_the_placeholder_answers(stores):
    client, _clock = client_with(stores, {"openai": FakeImageGenerator([])})
    forced = Settings(home=stores[0].home, llm_provider="offline")
    offline_everywhere, _ = client_with(stores, {"openai": FakeImageGenerator([])}, forced)

    assert client.is_offline("imagen-4.0-generate-001")
    assert not client.is_offline("gpt-image-1")
    assert offline_everywhere.is_offline("gpt-image-1")


def test_the_offline_generator_is_required(stores):
    with pytest.raises(ConfigError, match="offline"):
        ImageClient(stores[0], stores[1], {"openai": FakeImageGenerator([])})


# -- retries ---------------------------------------------------------------------------------


def test_a_rate_limit_is_retried_after_at_least_what_retry_after_asks(stores):
    generator = FakeImageGenerator([RateLimitedError("429", retry_after=7.0), b"png"])
    client, clock = client_with(stores, {"openai": generator})

    result = draw(client)

    assert result.attempts == 2
    assert len(generator.requests) == 2
    assert clock.slept[0] >= 7.0
    assert len(ledger(stores[1])) == 1  # one picture, one entry


@pytest.mark.parametrize(
    "error", [ModelUnavailableError("503"), MalformedReplyError("no picture in the answer")]
)
def test_unavailable_and_unusable_answers_are_asked_again(stores, error):
    generator = FakeImageGenerator([error, b"png"])
    client, _clock = client_with(stores, {"openai": generator})

    assert draw(client).attempts == 2


def test_a_request_error_is_not_retried_and_costs_nothing(stores):
    generator = FakeImageGenerator([ModelRequestError("withheld by the safety filter"), b"png"])
    client, _clock = client_with(stores, {"openai": generator})

    with pytest.raises(ModelRequestError, match="withheld"):
        draw(client)

    assert len(generator.requests) == 1
    assert ledger(stores[1]) == []


def test_retries_stop_after_the_budget_with_the_attempts_and_last_error(stores):
    generator = FakeImageGenerator([ModelUnavailableError(f"503 #{n}") for n in range(10)])
    client, _clock = client_with(stores, {"openai": generator})

    with pytest.raises(ModelCallFailedError) as caught:
        draw(client, max_retries=2)

    assert caught.value.attempts == 3
    assert "503 #2" in str(caught.value)
    assert len(generator.requests) == 3
    assert ledger(stores[1]) == []


def test_a_deadline_stops_retries_that_would_wait_past_it(stores):
    generator = FakeImageGenerator([RateLimitedError("429", retry_after=30.0), b"png"])
    client, clock = client_with(stores, {"openai": generator})

    with pytest.raises(ModelCallFailedError):
        draw(client, deadline=clock.now + 10)

    assert clock.slept == []
    assert len(generator.requests) == 1


def test_each_attempt_gets_at_most_the_time_left(stores):
    generator = FakeImageGenerator([b"png"])
    client, clock = client_with(stores, {"openai": generator})

    draw(client, deadline=clock.now + 20)

    assert generator.requests[0].timeout_seconds == 20


# -- pictures per minute ---------------------------------------------------------------------


def test_pictures_per_minute_are_kept_under_the_model_s_quota(stores):
    # GIVEN a quota of 2 pictures a minute
    settings = Settings(home=stores[0].home, image_limits={"gpt-image-1": 2})
    generator = FakeImageGenerator([b"1", b"2", b"3"])
    client, clock = client_with(stores, {"openai": generator}, settings)

    # WHEN three are asked for at once
    for _ in range(3):
        draw(client)

    # THEN the third waited for the first to leave the 60-second window
    assert clock.slept == [pytest.approx(60.0)]
    assert settings.image_limit("gpt-image-1") == 2
    assert settings.image_limit("dall-e-3") == 5  # the defaults stay


def test_a_quota_wait_past_the_deadline_ends_the_call(stores):
    settings = Settings(home=stores[0].home, image_limits={"gpt-image-1": 1})
    generator = FakeImageGenerator([b"1", b"2"])
    client, clock = client_with(stores, {"openai": generator}, settings)
    draw(client)

    with pytest.raises(ModelCallFailedError, match="after the job's deadline"):
        draw(client, deadline=clock.now + 30)

    assert len(generator.requests) == 1


def test_offline_pictures_wait_for_no_quota(stores):
    settings = Settings(home=stores[0].home, image_limits={"gpt-image-1": 1})
    client, clock = client_with(stores, {}, settings)

    for _ in range(3):
        draw(client, size="64x64")

    assert clock.slept == []


# -- the context's client ----------------------------------------------------------------------


def test_the_context_keeps_one_client_per_settings(stores):
    settings, documents = stores
    _blobs, _documents, bus = build_local_services(settings)
    context = Context(settings=settings, blobs=_blobs, documents=documents, bus=bus)
    generators = {"offline": OfflineImageGenerator()}

    first = image_client(context, generators)

    assert image_client(context, generators) is first
    context.settings = Settings(home=settings.home)  # replaced settings: built again
    assert image_client(context, generators) is not first


def test_a_context_without_image_generators_is_a_configuration_error(stores):
    settings, documents = stores
    blobs, _documents, bus = build_local_services(settings)
    context = Context(settings=settings, blobs=blobs, documents=documents, bus=bus)

    with pytest.raises(ConfigError, match="without image generators"):
        image_client(context)


# -- over the real SDKs ------------------------------------------------------------------------


@pytest.fixture
def http_client(tmp_path, llm_server: FakeLLM):
    settings = Settings(
        home=tmp_path,
        openai_api_key=DEFAULT_OPENAI_KEY,
        openai_base_url=llm_server.openai_base_url,
        gemini_api_key=DEFAULT_GEMINI_KEY,
        gemini_base_url=llm_server.gemini_base_url,
        vertex_api_key=DEFAULT_GEMINI_KEY,
        vertex_base_url=llm_server.gemini_base_url,
        model_max_retries=2,
    )
    _blobs, documents, _bus = build_local_services(settings)
    clock = ManualClock()
    client = ImageClient(
        settings, documents, build_image_generators(settings), sleep=clock.sleep, clock=clock
    )
    return client, documents, clock


def test_each_family_draws_through_its_sdk_and_every_picture_is_in_the_ledger(
    http_client, llm_server
):
    client, documents, _clock = http_client

    models = ["gpt-image-1", "gemini-2.5-flash-image", "imagen-4.0-generate-001"]
    results = [client.generate(PROMPT, model=m, category="photo") for m in models]

    assert [r.provider for r in results] == ["openai-compatible", "gemini", "imagen"]
    assert [r.model for r in llm_server.calls()] == models
    assert all(r.data == fake_png(PROMPT, 1024, 1024) for r in results)
    assert sorted(e["cost_usd"] for e in ledger(documents)) == pytest.approx([0.039, 0.04, 0.042])


@pytest.mark.parametrize(
    ("model", "path"),
    [("gpt-image-1", r"/images/generations$"), ("imagen-4.0-generate-001", r":predict$")],
)
def test_a_429_is_retried_by_our_layer_then_one_picture_is_recorded(
    http_client, llm_server, model, path
):
    client, documents, clock = http_client
    llm_server.fail_next(path, 429, retry_after=4)

    result = client.generate(PROMPT, model=model, category="photo")

    assert result.attempts == 2
    assert [r.status for r in llm_server.calls()] == [429, 200]  # no hidden SDK retries
    assert clock.slept[0] >= 4
    assert len(ledger(documents)) == 1


@pytest.mark.parametrize(
    ("model", "path"),
    [("gpt-image-1", r"/images/generations$"), ("gemini-2.5-flash-image", r":generateContent$")],
)
def test_a_400_is_not_retried(http_client, llm_server, model, path):
    client, documents, clock = http_client
    llm_server.fail_next(path, 400, times=3)

    with pytest.raises(ModelRequestError, match="HTTP 400"):
        client.generate(PROMPT, model=model, category="photo")

    assert [r.status for r in llm_server.calls()] == [400]
    assert clock.slept == []
    assert ledger(documents) == []

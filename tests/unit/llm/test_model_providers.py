"""The OpenAI and Gemini adapters through the real SDKs, against the fake APIs
(tests/llmfake.py) over real HTTP on 127.0.0.1.

What is asserted is what crossed the wire (the fake's request log) and what the adapter
returned or raised: structured replies, usage, where instructions and media land, one HTTP
request per ``generate`` whatever the answer (no SDK retries), and the translation of every
failure into the port's errors.
"""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any, Literal

import openai
import pytest
from google import genai
from google.genai import types
from llmfake import (  # noqa: F401 (fixture llm_server)
    ANSWERED_VERSIONS,
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    Completion,
    FakeLLM,
    fake_object,
    llm_server_fixture,
    run_fake_llm,
)
from pydantic import BaseModel, Field
from support import free_port

from shared.adapters.models.gemini_provider import GeminiProvider
from shared.adapters.models.openai_provider import OpenAIProvider
from shared.core.errors import PermanentError, TransientError
from shared.ports.models import (
    MalformedReplyError,
    MediaPart,
    ModelProvider,
    ModelRequest,
    ModelRequestError,
    ModelUnavailableError,
    Part,
    RateLimitedError,
    TextPart,
)

OPENAI_MODEL = "gpt-4o-mini"
GEMINI_MODEL = "gemini-2.5-flash"
CHAT = r"/v1/chat/completions$"
GENERATE = r":generateContent$"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(64))


class Shot(BaseModel):
    kind: Literal["wide", "close"]
    seconds: int = Field(ge=1, le=600)


class Critique(BaseModel):
    summary: str
    score: int = Field(ge=1, le=5)
    tags: list[str]
    shot: Shot
    note: str | None = None


GOOD = {
    "summary": "a cat on a sofa",
    "score": 4,
    "tags": ["cat", "indoor"],
    "shot": {"kind": "close", "seconds": 12},
    "note": None,
}


def ask(
    model: str,
    parts: list[Part] | None = None,
    *,
    timeout: float = 10.0,
    max_output_tokens: int | None = None,
    temperature: float | None = None,
) -> ModelRequest[Critique]:
    return ModelRequest(
        model=model,
        instructions="You critique video captions. Answer in JSON.",
        parts=parts if parts is not None else [TextPart("caption: a cat sleeps on a sofa")],
        schema=Critique,
        max_output_tokens=max_output_tokens,
        temperature=temperature,
        timeout_seconds=timeout,
    )


@pytest.fixture
def openai_provider(llm_server: FakeLLM) -> OpenAIProvider:
    return OpenAIProvider(api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url)


@pytest.fixture
def gemini_provider(llm_server: FakeLLM) -> GeminiProvider:
    return GeminiProvider(api_key=DEFAULT_GEMINI_KEY, base_url=llm_server.gemini_base_url)


@pytest.fixture(params=["openai", "gemini"])
def provider_and_model(
    request: pytest.FixtureRequest, llm_server: FakeLLM
) -> Iterator[tuple[ModelProvider, str, str]]:
    """Each adapter with its model and the path regex of its generate call."""
    if request.param == "openai":
        provider: ModelProvider = OpenAIProvider(
            api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url
        )
        yield provider, OPENAI_MODEL, CHAT
    else:
        provider = GeminiProvider(api_key=DEFAULT_GEMINI_KEY, base_url=llm_server.gemini_base_url)
        yield provider, GEMINI_MODEL, GENERATE


# -- both adapters: the port's contract ----------------------------------------------------


def test_structured_reply_is_parsed_into_the_schema_with_usage(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str]
) -> None:
    # GIVEN a model that answers a specific object
    provider, model, _ = provider_and_model
    llm_server.responder = lambda _provider, _model, _body: GOOD

    # WHEN the adapter asks
    reply = provider.generate(ask(model))

    # THEN the reply is validated into the schema, with the provider's usage
    assert reply.parsed == Critique.model_validate(GOOD)
    # the version that answered: OpenAI's dated snapshot of an alias, Gemini's modelVersion
    assert reply.model == ANSWERED_VERSIONS.get(model, model)
    (call,) = llm_server.calls()
    assert call.model == model
    assert reply.input_tokens > 0
    assert reply.output_tokens == max(1, len(reply.text) // 4)


def test_default_fake_reply_is_valid_for_the_requested_schema(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str]
) -> None:
    provider, model, _ = provider_and_model

    reply = provider.generate(ask(model))

    # The fake built the object from the schema the SDK sent: enum first, minimum, one item.
    assert reply.parsed.shot == Shot(kind="wide", seconds=1)
    assert reply.parsed.score == 1
    assert reply.parsed.tags == ["fake tags"]
    assert reply.parsed.summary == "fake summary"


@pytest.mark.parametrize("retry_after", ["7", 7.5])
def test_429_with_retry_after_is_rate_limited_after_one_request(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str], retry_after: Any
) -> None:
    provider, model, path = provider_and_model
    llm_server.fail_next(path, 429, retry_after=retry_after)

    with pytest.raises(RateLimitedError) as caught:
        provider.generate(ask(model))

    assert caught.value.retry_after == float(retry_after)
    assert isinstance(caught.value, TransientError)
    assert [r.status for r in llm_server.calls()] == [429]  # the SDK did not retry


def test_retry_after_as_an_http_date(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str]
) -> None:
    provider, model, path = provider_and_model
    when = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    llm_server.fail_next(path, 429, retry_after=when)

    with pytest.raises(RateLimitedError) as caught:
        provider.generate(ask(model))

    assert caught.value.retry_after is not None
    assert 25 <= caught.value.retry_after <= 30


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_is_unavailable_after_one_request(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str], status: int
) -> None:
    provider, model, path = provider_and_model
    llm_server.fail_next(path, status, times=5)

    with pytest.raises(ModelUnavailableError) as caught:
        provider.generate(ask(model))

    assert f"HTTP {status}" in str(caught.value)
    assert [r.status for r in llm_server.calls()] == [status]


def test_a_stalled_answer_times_out_quickly_as_unavailable(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str]
) -> None:
    # GIVEN a server that answers only after 5 s
    provider, model, path = provider_and_model
    llm_server.fail_next(path, 200, delay=5.0)

    # WHEN the attempt may take 0.5 s
    started = time.monotonic()
    with pytest.raises(ModelUnavailableError) as caught:
        provider.generate(ask(model, timeout=0.5))

    # THEN it gives up on time, with one request
    assert time.monotonic() - started < 3.0
    assert "0.5 s" in str(caught.value)
    assert len(llm_server.calls()) == 1


def test_an_unreachable_server_is_unavailable() -> None:
    base = f"http://127.0.0.1:{free_port()}"
    providers: list[tuple[ModelProvider, str]] = [
        (OpenAIProvider(api_key=DEFAULT_OPENAI_KEY, base_url=f"{base}/v1"), OPENAI_MODEL),
        (GeminiProvider(api_key=DEFAULT_GEMINI_KEY, base_url=base), GEMINI_MODEL),
    ]
    for provider, model in providers:
        with pytest.raises(ModelUnavailableError, match="cannot reach"):
            provider.generate(ask(model, timeout=2.0))


@pytest.mark.parametrize(
    "content",
    ['{"summary": "cut off", "sco', "Sure! Here is the JSON you asked for.", "```json\n{}\n```"],
)
def test_malformed_json_is_a_malformed_reply(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str], content: str
) -> None:
    provider, model, _ = provider_and_model
    llm_server.responder = lambda _provider, _model, _body: content

    with pytest.raises(MalformedReplyError, match="does not fit Critique"):
        provider.generate(ask(model))


def test_json_that_breaks_the_schema_is_a_malformed_reply(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str]
) -> None:
    provider, model, _ = provider_and_model
    llm_server.responder = lambda _provider, _model, _body: {**GOOD, "score": 9}

    with pytest.raises(MalformedReplyError) as caught:
        provider.generate(ask(model))

    assert "score" in str(caught.value)
    assert isinstance(caught.value, TransientError)


def test_empty_content_is_a_malformed_reply(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str]
) -> None:
    provider, model, _ = provider_and_model
    llm_server.responder = lambda _provider, _model, _body: Completion(content=None)

    with pytest.raises(MalformedReplyError, match="no content"):
        provider.generate(ask(model))


def test_a_wrong_key_is_a_request_error_that_does_not_show_the_key(llm_server: FakeLLM) -> None:
    wrong_openai = "sk-wrong-secret-value-0042"
    wrong_gemini = "wrong-gemini-secret-0042"
    providers: list[tuple[ModelProvider, str, str]] = [
        (
            OpenAIProvider(api_key=wrong_openai, base_url=llm_server.openai_base_url),
            OPENAI_MODEL,
            wrong_openai,
        ),
        (
            GeminiProvider(api_key=wrong_gemini, base_url=llm_server.gemini_base_url),
            GEMINI_MODEL,
            wrong_gemini,
        ),
    ]
    for provider, model, key in providers:
        with pytest.raises(ModelRequestError) as caught:
            provider.generate(ask(model))
        message = str(caught.value)
        assert "HTTP 401" in message
        assert "key" in message  # says what to fix
        assert model in message
        assert key not in message
        assert isinstance(caught.value, PermanentError)
    assert [r.status for r in llm_server.calls()] == [401, 401]


@pytest.mark.parametrize("status", [400, 403, 404, 422])
def test_client_errors_are_request_errors_after_one_request(
    llm_server: FakeLLM, provider_and_model: tuple[ModelProvider, str, str], status: int
) -> None:
    provider, model, path = provider_and_model
    llm_server.fail_next(path, status)

    with pytest.raises(ModelRequestError) as caught:
        provider.generate(ask(model))

    assert f"HTTP {status}" in str(caught.value)
    assert model in str(caught.value)
    assert len(llm_server.calls()) == 1


# -- OpenAI --------------------------------------------------------------------------------


def test_openai_request_carries_instructions_parts_and_a_strict_schema(
    llm_server: FakeLLM, openai_provider: OpenAIProvider
) -> None:
    openai_provider.generate(
        ask(
            OPENAI_MODEL,
            [TextPart("caption one"), TextPart("caption two")],
            max_output_tokens=300,
            temperature=0.2,
        )
    )

    (call,) = llm_server.calls("openai")
    system, user = call.body["messages"]
    assert system == {"role": "system", "content": "You critique video captions. Answer in JSON."}
    # Text only: one string, which every compatible server's chat template accepts.
    assert user == {"role": "user", "content": "caption one\n\ncaption two"}
    response_format = call.body["response_format"]
    assert response_format["type"] == "json_schema"
    assert response_format["json_schema"]["name"] == "Critique"
    assert response_format["json_schema"]["strict"] is True
    assert set(response_format["json_schema"]["schema"]["required"]) == set(GOOD)
    assert call.body["max_completion_tokens"] == 300
    assert call.body["temperature"] == 0.2
    assert call.headers["authorization"] == f"Bearer {DEFAULT_OPENAI_KEY}"
    assert call.headers["x-stainless-retry-count"] == "0"


def test_openai_compatible_servers_get_max_tokens(llm_server: FakeLLM) -> None:
    provider = OpenAIProvider(
        api_key="none", base_url=llm_server.openai_base_url, name="openai-compatible"
    )
    llm_server.openai_key = "none"  # vLLM and Ollama take any key

    provider.generate(ask("llama3.2-vision", max_output_tokens=128))

    (call,) = llm_server.calls("openai")
    assert provider.name == "openai-compatible"
    assert call.body["max_tokens"] == 128
    assert "max_completion_tokens" not in call.body


def test_openai_image_bytes_go_as_a_data_url_and_https_images_as_is(
    llm_server: FakeLLM, openai_provider: OpenAIProvider
) -> None:
    parts: list[Part] = [
        TextPart("describe these frames"),
        MediaPart("image/png", data=PNG),
        MediaPart("image/jpeg", uri="https://cdn.example.com/frame.jpg"),
    ]

    openai_provider.generate(ask(OPENAI_MODEL, parts))

    (call,) = llm_server.calls("openai")
    content = call.body["messages"][1]["content"]
    assert content[0] == {"type": "text", "text": "describe these frames"}
    assert content[1]["type"] == "image_url"
    assert content[1]["image_url"]["url"] == (
        "data:image/png;base64," + base64.b64encode(PNG).decode()
    )
    assert content[2]["image_url"]["url"] == "https://cdn.example.com/frame.jpg"


@pytest.mark.parametrize(
    "part",
    [
        MediaPart("video/mp4", uri="https://cdn.example.com/clip.mp4"),
        MediaPart("video/mp4", data=b"\x00\x00\x00\x18ftypmp42"),
    ],
)
def test_openai_refuses_video_without_a_request(
    llm_server: FakeLLM, openai_provider: OpenAIProvider, part: MediaPart
) -> None:
    with pytest.raises(ModelRequestError, match=r"cannot take video.*use a Gemini model"):
        openai_provider.generate(ask(OPENAI_MODEL, [TextPart("what happens?"), part]))

    assert llm_server.calls() == []


def test_openai_cannot_fetch_a_gs_image(
    llm_server: FakeLLM, openai_provider: OpenAIProvider
) -> None:
    with pytest.raises(ModelRequestError, match="cannot fetch"):
        openai_provider.generate(ask(OPENAI_MODEL, [MediaPart("image/png", uri="gs://b/f.png")]))

    assert llm_server.calls() == []


def test_openai_client_passed_in_still_makes_one_attempt(llm_server: FakeLLM) -> None:
    # GIVEN a client built with the SDK's default retries (2)
    client = openai.OpenAI(api_key=DEFAULT_OPENAI_KEY, base_url=llm_server.openai_base_url)
    provider = OpenAIProvider(api_key=DEFAULT_OPENAI_KEY, client=client)
    llm_server.fail_next(CHAT, 503, times=3, retry_after=0)

    with pytest.raises(ModelUnavailableError):
        provider.generate(ask(OPENAI_MODEL))

    assert len(llm_server.calls()) == 1


def test_openai_retry_after_ms_wins(llm_server: FakeLLM, openai_provider: OpenAIProvider) -> None:
    llm_server.fail_next(CHAT, 429, retry_after=9, headers={"retry-after-ms": "1500"})

    with pytest.raises(RateLimitedError) as caught:
        openai_provider.generate(ask(OPENAI_MODEL))

    assert caught.value.retry_after == 1.5


def test_openai_spent_quota_is_not_a_rate_limit(
    llm_server: FakeLLM, openai_provider: OpenAIProvider
) -> None:
    body = {
        "error": {
            "message": "You exceeded your current quota.",
            "type": "insufficient_quota",
            "param": None,
            "code": "insufficient_quota",
        }
    }
    llm_server.fail_next(CHAT, 429, body=body)

    with pytest.raises(ModelRequestError, match="billing"):
        openai_provider.generate(ask(OPENAI_MODEL))


def test_openai_refusal_and_content_filter_are_request_errors(
    llm_server: FakeLLM, openai_provider: OpenAIProvider
) -> None:
    llm_server.responder = lambda _p, _m, _b: Completion(refusal="I can't help with that.")
    with pytest.raises(ModelRequestError, match="can't help"):
        openai_provider.generate(ask(OPENAI_MODEL))

    llm_server.responder = lambda _p, _m, _b: Completion(content="", finish_reason="content_filter")
    with pytest.raises(ModelRequestError, match="content filter"):
        openai_provider.generate(ask(OPENAI_MODEL))


def test_openai_truncated_reply_says_to_raise_the_token_limit(
    llm_server: FakeLLM, openai_provider: OpenAIProvider
) -> None:
    llm_server.responder = lambda _p, _m, _b: Completion(
        content='{"summary": "a cat', finish_reason="length"
    )

    with pytest.raises(MalformedReplyError, match="max_output_tokens"):
        openai_provider.generate(ask(OPENAI_MODEL, max_output_tokens=5))


# -- Gemini --------------------------------------------------------------------------------


def test_gemini_request_carries_instructions_schema_and_parts(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    parts: list[Part] = [
        TextPart("caption: a dog runs"),
        MediaPart("image/png", data=PNG),
        MediaPart("video/mp4", uri="gs://clips/raw/dog.mp4"),
        MediaPart("video/mp4", uri="https://cdn.example.com/dog.mp4"),
        # Bytes beat an https URL that Gemini may not be able to fetch.
        MediaPart("video/mp4", uri="https://private.example.com/cat.mp4", data=b"tiny video"),
    ]

    gemini_provider.generate(ask(GEMINI_MODEL, parts, max_output_tokens=256, temperature=0.0))

    (call,) = llm_server.calls("gemini")
    assert re.fullmatch(rf"/v1(beta)?/models/{GEMINI_MODEL}:generateContent", call.path)
    assert call.headers["x-goog-api-key"] == DEFAULT_GEMINI_KEY
    assert call.body["systemInstruction"]["parts"] == [
        {"text": "You critique video captions. Answer in JSON."}
    ]
    sent = call.body["contents"][0]["parts"]
    assert sent[0] == {"text": "caption: a dog runs"}
    # The SDK encodes bytes as url-safe base64, which the API accepts.
    assert base64.urlsafe_b64decode(sent[1]["inlineData"]["data"]) == PNG
    assert sent[1]["inlineData"]["mime_type"] == "image/png"
    assert sent[2]["fileData"] == {"file_uri": "gs://clips/raw/dog.mp4", "mime_type": "video/mp4"}
    assert sent[3]["fileData"]["file_uri"] == "https://cdn.example.com/dog.mp4"
    assert base64.urlsafe_b64decode(sent[4]["inlineData"]["data"]) == b"tiny video"
    config = call.body["generationConfig"]
    assert config["responseMimeType"] == "application/json"
    assert config["responseSchema"]["type"] == "OBJECT"
    assert set(config["responseSchema"]["properties"]) == set(GOOD)
    assert config["maxOutputTokens"] == 256
    assert config["temperature"] == 0.0


def test_gemini_accepts_a_client_on_v1beta(llm_server: FakeLLM) -> None:
    client = genai.Client(
        api_key=DEFAULT_GEMINI_KEY,
        http_options=types.HttpOptions(base_url=llm_server.gemini_base_url, api_version="v1beta"),
    )
    provider = GeminiProvider(api_key=DEFAULT_GEMINI_KEY, client=client)

    reply = provider.generate(ask(GEMINI_MODEL))

    assert reply.parsed.summary == "fake summary"
    (call,) = llm_server.calls("gemini")
    assert call.path == f"/v1beta/models/{GEMINI_MODEL}:generateContent"


def test_gemini_client_with_retries_still_makes_one_attempt(llm_server: FakeLLM) -> None:
    client = genai.Client(
        api_key=DEFAULT_GEMINI_KEY,
        http_options=types.HttpOptions(
            base_url=llm_server.gemini_base_url,
            retry_options=types.HttpRetryOptions(attempts=4, initial_delay=0.01, max_delay=0.01),
        ),
    )
    provider = GeminiProvider(api_key=DEFAULT_GEMINI_KEY, client=client)
    llm_server.fail_next(GENERATE, 503, times=4)

    with pytest.raises(ModelUnavailableError):
        provider.generate(ask(GEMINI_MODEL))

    assert len(llm_server.calls()) == 1


def test_gemini_retry_delay_from_the_error_body(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    # Gemini says when to come back in a RetryInfo detail, not in a header.
    body = {
        "error": {
            "code": 429,
            "message": "You exceeded your current quota.",
            "status": "RESOURCE_EXHAUSTED",
            "details": [
                {"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []},
                {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "37s"},
            ],
        }
    }
    llm_server.fail_next(GENERATE, 429, body=body)

    with pytest.raises(RateLimitedError) as caught:
        gemini_provider.generate(ask(GEMINI_MODEL))

    assert caught.value.retry_after == 37.0
    assert len(llm_server.calls()) == 1


def test_gemini_bad_key_as_400_is_a_key_error(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    # What Gemini really answers to a wrong key: 400 INVALID_ARGUMENT, API_KEY_INVALID.
    body = {
        "error": {
            "code": 400,
            "message": "API key not valid. Please pass a valid API key.",
            "status": "INVALID_ARGUMENT",
        }
    }
    llm_server.fail_next(GENERATE, 400, body=body)

    with pytest.raises(ModelRequestError, match="API key was refused"):
        gemini_provider.generate(ask(GEMINI_MODEL))


@pytest.mark.parametrize("reason", ["SAFETY", "PROHIBITED_CONTENT", "RECITATION"])
def test_gemini_refused_answers_are_request_errors(
    llm_server: FakeLLM, gemini_provider: GeminiProvider, reason: str
) -> None:
    llm_server.responder = lambda _p, _m, _b: Completion(content=None, finish_reason=reason)

    with pytest.raises(ModelRequestError, match=reason):
        gemini_provider.generate(ask(GEMINI_MODEL))


def test_gemini_blocked_prompt_is_a_request_error(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    llm_server.responder = lambda _p, _m, _b: Completion(blocked="SAFETY")

    with pytest.raises(ModelRequestError, match="blocked the prompt"):
        gemini_provider.generate(ask(GEMINI_MODEL))


def test_gemini_truncated_reply_says_to_raise_the_token_limit(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    llm_server.responder = lambda _p, _m, _b: Completion(
        content='{"summary": "a cat', finish_reason="MAX_TOKENS"
    )

    with pytest.raises(MalformedReplyError, match="max_output_tokens"):
        gemini_provider.generate(ask(GEMINI_MODEL, max_output_tokens=5))


def test_gemini_large_media_goes_through_the_files_api(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    # GIVEN bytes over the inline budget, and a video still processing at two status reads
    gemini_provider.inline_request_bytes = 64 * 1024
    gemini_provider.file_poll_seconds = 0.01
    llm_server.file_polls_until_active = 2
    video = bytes(range(256)) * 1024  # 256 KiB

    # WHEN the adapter asks about it
    reply = gemini_provider.generate(
        ask(GEMINI_MODEL, [TextPart("what happens?"), MediaPart("video/mp4", data=video)])
    )

    # THEN the bytes were uploaded, waited for, referenced by URI, and deleted afterwards
    assert reply.parsed.summary == "fake summary"
    (uploaded,) = llm_server.files.values()
    assert bytes(uploaded.data) == video
    assert uploaded.mime_type == "video/mp4"
    assert uploaded.state == "ACTIVE"
    assert uploaded.deleted
    assert len(llm_server.requests_to(r"/files/", method="GET")) == 3  # 2 x PROCESSING, ACTIVE
    (call,) = llm_server.calls("gemini")
    file_data = call.body["contents"][0]["parts"][1]["fileData"]
    assert file_data["file_uri"].endswith(uploaded.name.removeprefix("files/"))
    assert file_data["mime_type"] == "video/mp4"


def test_gemini_upload_still_processing_at_the_deadline_is_unavailable(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    gemini_provider.inline_request_bytes = 1024
    gemini_provider.file_poll_seconds = 0.05
    llm_server.file_polls_until_active = 1_000

    started = time.monotonic()
    with pytest.raises(ModelUnavailableError, match="still PROCESSING"):
        gemini_provider.generate(
            ask(GEMINI_MODEL, [MediaPart("video/mp4", data=bytes(4096))], timeout=0.5)
        )

    assert time.monotonic() - started < 3.0
    assert llm_server.calls() == []
    assert all(f.deleted for f in llm_server.files.values())


def test_gemini_media_without_uri_or_data_is_a_request_error(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    with pytest.raises(ModelRequestError, match="neither uri nor data"):
        gemini_provider.generate(ask(GEMINI_MODEL, [MediaPart("video/mp4")]))
    assert llm_server.calls() == []


# -- the fake itself (the benchmark leans on its rate limit) -------------------------------


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_fake_rate_limit_refuses_over_quota_with_retry_after() -> None:
    clock = _Clock()
    with run_fake_llm(FakeLLM(clock=clock)) as llm:
        provider = OpenAIProvider(api_key=DEFAULT_OPENAI_KEY, base_url=llm.openai_base_url)
        llm.limit_rpm(2)

        provider.generate(ask(OPENAI_MODEL))
        clock.now += 10
        provider.generate(ask(OPENAI_MODEL))
        clock.now += 10
        with pytest.raises(RateLimitedError) as caught:
            provider.generate(ask(OPENAI_MODEL))
        # The first call leaves the window 40 s from now.
        assert caught.value.retry_after == 40.0
        # Another model has its own quota.
        provider.generate(ask("gpt-4o"))
        clock.now += 40
        provider.generate(ask(OPENAI_MODEL))

        assert llm.over_limit == 1
        assert llm.served_over_limit == 0
        assert llm.max_served_in_window(OPENAI_MODEL) == 2
        assert [r.status for r in llm.calls(model=OPENAI_MODEL)] == [200, 200, 429, 200]


def test_fake_rate_limit_measures_a_client_that_ignores_it(llm_server: FakeLLM) -> None:
    provider = GeminiProvider(api_key=DEFAULT_GEMINI_KEY, base_url=llm_server.gemini_base_url)
    llm_server.limit_rpm(1, enforce=False)

    for _ in range(3):
        provider.generate(ask(GEMINI_MODEL))

    assert llm_server.over_limit == 2
    assert llm_server.served_over_limit == 2
    assert llm_server.max_served_in_window(GEMINI_MODEL) == 3
    assert llm_server.achieved_rpm(GEMINI_MODEL) > 1


def test_fake_gemini_rate_limit_answers_like_gemini(
    llm_server: FakeLLM, gemini_provider: GeminiProvider
) -> None:
    llm_server.limit_rpm(0)

    with pytest.raises(RateLimitedError) as caught:
        gemini_provider.generate(ask(GEMINI_MODEL))

    assert caught.value.retry_after is not None
    (call,) = llm_server.calls()
    assert call.status == 429


def test_fake_object_speaks_json_schema_and_gemini_schema() -> None:
    json_schema = Critique.model_json_schema()
    assert Critique.model_validate(fake_object(json_schema)).shot.kind == "wide"
    gemini_schema = {
        "type": "OBJECT",
        "properties": {
            "names": {"type": "ARRAY", "items": {"type": "STRING"}, "minItems": "2"},
            "count": {"type": "INTEGER", "minimum": 3},
            "maybe": {"type": "STRING", "nullable": True},
        },
    }
    assert fake_object(gemini_schema) == {
        "names": ["fake names", "fake names"],
        "count": 3,
        "maybe": "fake maybe",
    }

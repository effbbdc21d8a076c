"""The model client over the real SDKs and a local server speaking both APIs: provider
choice from configured keys, our one retry layer, and the ledger."""

from __future__ import annotations

import pytest
from llmfake import (  # noqa: F401 (fixture llm_server)
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    FakeLLM,
    llm_server_fixture,
)
from pydantic import BaseModel

from shared.adapters.local import build_local_services
from shared.bootstrap import build_providers
from shared.config import Settings
from shared.llm.client import ModelCallFailedError, ModelClient
from shared.llm.ledger import MODEL_CALLS, summarize_costs
from shared.llm.prompts import Prompt

PROMPT = Prompt("http_probe", "1", "Describe the caption.", ("caption",))


class Answer(BaseModel):
    critique: str


@pytest.fixture
def client(tmp_path, llm_server: FakeLLM):
    settings = Settings(
        home=tmp_path,
        openai_api_key=DEFAULT_OPENAI_KEY,
        openai_base_url=llm_server.openai_base_url,
        gemini_api_key=DEFAULT_GEMINI_KEY,
        gemini_base_url=llm_server.gemini_base_url,
        model_max_retries=2,
    )
    _blobs, documents, _bus = build_local_services(settings)
    return ModelClient(settings, documents, build_providers(settings)), documents


def test_models_go_to_their_provider_and_every_call_is_in_the_ledger(client, llm_server):
    model_client, documents = client

    openai = model_client.generate(PROMPT, model="gpt-4.1", schema=Answer, data={"caption": "c"})
    gemini = model_client.generate(
        PROMPT, model="gemini-2.5-pro", schema=Answer, data={"caption": "c"}
    )

    assert openai.provider == "openai-compatible"
    assert gemini.provider == "gemini"
    assert [r.provider for r in llm_server.calls()] == ["openai", "gemini"]
    # the ledger records the version that answered (OpenAI answers with a dated snapshot)
    # next to the requested name, which prices and limits are keyed by
    calls = {d.data["requested_model"]: d.data["model"] for d in documents.query(MODEL_CALLS)}
    assert calls == {"gpt-4.1": "gpt-4.1-2025-04-14", "gemini-2.5-pro": "gemini-2.5-pro"}
    assert openai.model == "gpt-4.1-2025-04-14"
    assert all(d.data["cost_usd"] > 0 for d in documents.query(MODEL_CALLS))


def test_a_429_with_retry_after_is_retried_once_by_our_layer(client, llm_server):
    model_client, _documents = client
    llm_server.fail_next(r"chat/completions", 429, retry_after=0.2)

    result = model_client.generate(PROMPT, model="gpt-4.1", schema=Answer, data={"caption": "c"})

    assert result.attempts == 2
    assert [r.status for r in llm_server.calls()] == [429, 200]  # no hidden SDK retries


def test_malformed_json_is_asked_again_then_gives_up_with_the_attempts(client, llm_server):
    model_client, documents = client
    llm_server.responder = lambda provider, model, body: "{not json"

    with pytest.raises(ModelCallFailedError) as caught:
        model_client.generate(PROMPT, model="gemini-2.5-pro", schema=Answer, data={"caption": "c"})

    assert caught.value.attempts == 3
    assert len(llm_server.calls()) == 3
    # each answer was billed though unusable: the ledger says so, priced, apart from the rest
    entries = [doc.data for doc in documents.iter_collection(MODEL_CALLS)]
    assert [e["outcome"] for e in entries] == ["malformed"] * 3
    assert all(e["input_tokens"] > 0 and e["cost_usd"] > 0 for e in entries)
    assert "does not fit Answer" in entries[0]["error"]
    summary = summarize_costs(documents)
    assert (summary.calls, summary.unused_calls) == (3, 3)
    assert summary.unused_cost_usd == pytest.approx(sum(e["cost_usd"] for e in entries))

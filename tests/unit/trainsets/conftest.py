"""What the training-set tests share: a context over a fresh home whose local stores are real,
with or without model keys; with them, the OpenAI and Gemini SDKs reach the fake APIs
(``llm_server``), whose responder each test scripts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from contexts import make_services_fixture  # noqa: F401 (fixture make_services)
from llmfake import (
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    llm_server_fixture,  # noqa: F401 (fixture llm_server)
)

from shared.config import Settings
from shared.platform.context import Context


@pytest.fixture
def online(make_services, llm_server) -> Callable[..., Context[Settings]]:
    """A context whose OpenAI and Gemini keys reach the fake server (one try a call)."""

    def make(**overrides: Any) -> Context[Settings]:
        settings: dict[str, Any] = {
            "openai_api_key": DEFAULT_OPENAI_KEY,
            "openai_base_url": llm_server.openai_base_url,
            "gemini_api_key": DEFAULT_GEMINI_KEY,
            "gemini_base_url": llm_server.gemini_base_url,
            "model_max_retries": 0,
            **overrides,
        }
        return make_services(**settings)

    return make

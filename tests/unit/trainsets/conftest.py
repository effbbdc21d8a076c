"""What the training-set tests share: a context over a fresh home whose local stores are real,
with or without model keys; with them, the OpenAI and Gemini SDKs reach the fake APIs
(``llm_server``), whose responder each test scripts."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from llmfake import (
    DEFAULT_GEMINI_KEY,
    DEFAULT_OPENAI_KEY,
    llm_server_fixture,  # noqa: F401 (fixture llm_server)
)

from shared.bootstrap import build_context
from shared.config import Settings
from shared.platform.context import Context

PROVIDER_KEYS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture
def make_services(tmp_path, monkeypatch) -> Iterator[Callable[..., Context[Settings]]]:
    """Build a context over a fresh home (local stores) with these settings."""
    for variable in PROVIDER_KEYS:
        monkeypatch.delenv(variable, raising=False)
    built: list[Context[Settings]] = []

    def make(**overrides: Any) -> Context[Settings]:
        settings = Settings(
            _env_file=None,
            home=tmp_path / "home",
            log_level="CRITICAL",
            min_backoff_seconds=0.01,
            max_backoff_seconds=0.05,
            **overrides,
        )
        context = build_context(settings)
        built.append(context)
        return context

    yield make
    for context in built:
        context.close()


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

"""A context over a fresh home (real local stores), built with the settings a test gives:
the fixture every capability's unit tests share. Model keys from the environment are removed,
so a test reaches a provider only when it says so; retries back off in milliseconds."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from shared.bootstrap import build_context
from shared.config import Settings
from shared.platform.context import Context

PROVIDER_KEYS = ("OPENAI_API_KEY", "OPENAI_BASE_URL", "GEMINI_API_KEY", "GOOGLE_API_KEY")


@pytest.fixture(name="make_services")
def make_services_fixture(tmp_path, monkeypatch) -> Iterator[Callable[..., Context[Settings]]]:
    """Build a context over a fresh home (local stores) with these settings."""
    for variable in PROVIDER_KEYS:
        monkeypatch.delenv(variable, raising=False)
    built: list[Context[Settings]] = []

    def make(**overrides: Any) -> Context[Settings]:
        defaults: dict[str, Any] = {
            "home": tmp_path / "home",
            "log_level": "CRITICAL",
            "min_backoff_seconds": 0.01,
            "max_backoff_seconds": 0.05,
        }
        settings = Settings(_env_file=None, **{**defaults, **overrides})
        context = build_context(settings)
        built.append(context)
        return context

    yield make
    for context in built:
        context.close()

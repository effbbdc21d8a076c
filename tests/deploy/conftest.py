"""Deployment tests: the archive builder (infra/build_function.py) and the terraform."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "infra" / "build_function.py"


def load_build_function() -> ModuleType:
    """Import infra/build_function.py (a script, not part of the ``shared`` package)."""
    name = "vidcurate_build_function"
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, BUILD_SCRIPT)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while being defined
        spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def build_function() -> ModuleType:
    return load_build_function()

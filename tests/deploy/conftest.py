"""Deployment tests: the archive builder (infra/build_function.py) and the terraform.

The fixtures the terraform tests share: the main configuration (``root``), the function
module (``module``), the bootstrap (``bootstrap``) and cloudbuild.yaml (``cloudbuild``), each
read once per test module (a test that changes one changes a deep copy).
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest
from docker_build import REPO, load_script
from terraform_config import BOOTSTRAP, MODULE, TERRAFORM, Config, load_cloudbuild, parse

BUILD_SCRIPT = REPO / "infra" / "build_function.py"


def load_build_function() -> ModuleType:
    """Import infra/build_function.py (a script, not part of the ``shared`` package)."""
    return load_script("vidcurate_build_function", BUILD_SCRIPT)


@pytest.fixture(scope="session")
def build_function() -> ModuleType:
    return load_build_function()


@pytest.fixture(scope="module")
def root() -> Config:
    return parse(TERRAFORM)


@pytest.fixture(scope="module")
def module() -> Config:
    return parse(MODULE)


@pytest.fixture(scope="module")
def bootstrap() -> Config:
    return parse(BOOTSTRAP)


@pytest.fixture(scope="module")
def cloudbuild() -> dict[str, Any]:
    return load_cloudbuild()

"""The labelling tests' context: a fresh home with real local stores."""

from contexts import make_services_fixture
from labelling_support import services

__all__ = ["make_services_fixture", "services"]

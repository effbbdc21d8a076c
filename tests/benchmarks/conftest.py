"""Fixtures the labelling benchmarks share with the labelling tests."""

from contexts import make_services_fixture

__all__ = ["make_services_fixture"]

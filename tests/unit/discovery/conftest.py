"""Fixtures of the discovery tests."""

from contexts import make_services_fixture  # noqa: F401 (fixture make_services)

"""The CLI tests' context factory (a fresh home with real local stores)."""

from contexts import make_services_fixture

__all__ = ["make_services_fixture"]

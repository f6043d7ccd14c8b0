"""Fixtures for the API tests; the API itself lives in tests/api/harness.py (the CLI tests share it)."""

from tests.api.harness import api  # noqa: F401 - a fixture, registered by being imported

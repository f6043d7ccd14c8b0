"""Fixtures for the API tests; the API itself is in harness.py beside this file (the CLI tests share it)."""

from tests.streams.api.harness import api  # noqa: F401 - a fixture, registered by being imported

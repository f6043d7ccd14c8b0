"""The CLI tests run against the same in-process API as tests/api."""

from tests.streams.api.harness import api  # noqa: F401 - a fixture, registered by being imported

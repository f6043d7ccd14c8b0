"""The poller tests' in-memory database and topic."""

from __future__ import annotations

import pytest

from tests.support.poller_harness import Harness


@pytest.fixture
def harness() -> Harness:
    return Harness()

"""The CLI tests run against the same in-process API as tests/api, as the `cli` tenant."""

import pytest

from tests.streams.api.harness import RunningApi, api  # noqa: F401 - a fixture, registered by being imported
from tests.support.pipeline import Pipeline


@pytest.fixture
def env(api: RunningApi, pipeline: Pipeline) -> dict[str, str]:  # noqa: F811 - `api` is the fixture above
    """The `cli` tenant's view: the pipeline's namespace plus the API's URL and token."""
    tenant = api.tenants["cli"]
    return {
        **pipeline.env,
        "JOBSTREAM_API_URL": api.url,
        "JOBSTREAM_API_TOKEN": tenant.token,
        "JOBSTREAM_ORGANIZATION_ID": tenant.organization_id,
    }

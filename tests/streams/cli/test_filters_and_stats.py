"""`jobstream jobs list --metadata/--duration-gt/--order-by` and `jobstream stats`, as a user types them."""

from __future__ import annotations

import pytest

from tests.streams.cli.runner import jobstream, send
from tests.support.pipeline import unique

pytestmark = pytest.mark.e2e


async def test_metadata_and_duration_filters_and_stats(env: dict[str, str]) -> None:
    agent, source = unique("cli-agent"), unique("src")
    tagged = await send(
        env, "create", "--agent-id", agent, "--job-type", "run", "--metadata", f'{{"source_id": "{source}"}}'
    )
    other = await send(
        env, "create", "--agent-id", agent, "--job-type", "run", "--metadata", '{"source_id": "else"}'
    )
    await send(env, "cancel", tagged["job_id"])

    listed = await jobstream("jobs", "list", "--json", "-m", f"source_id={source}", env=env)
    assert listed.code == 0, listed.stderr
    assert [j["id"] for j in listed.json()["jobs"]] == [tagged["job_id"]]

    finished = await jobstream(
        "jobs", "list", "--json", "--agent-id", agent, "--order-by", "duration", env=env
    )
    assert [j["id"] for j in finished.json()["jobs"]] == [tagged["job_id"]]
    slow = await jobstream("jobs", "list", "--json", "--agent-id", agent, "--duration-gt", "3600", env=env)
    assert slow.json()["jobs"] == []

    stats = await jobstream("stats", "--json", "--agent-id", agent, env=env)
    assert stats.code == 0, stats.stderr
    body = stats.json()
    assert body["total"] == 2 and body["by_status"] == {"cancelled": 1, "created": 1}
    assert body["by_stop_reason"] == {"cancelled": 1} and body["duration_s"]["count"] == 1
    table = await jobstream("stats", "--agent-id", agent, "-m", f"source_id={source}", env=env)
    assert table.code == 0 and "1 jobs" in table.stdout and "cancelled" in table.stdout
    assert other["job_id"] not in table.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("jobs", "list", "-m", "no-equals-sign"), "is not KEY=VALUE"),
        (("stats", "--created-after", "2026-01-01"), "created_after"),
        (("jobs", "list", "-m", "k=" + "v" * 1025), "at most 1024"),
    ],
)
async def test_filter_mistakes_say_which_option(
    env: dict[str, str], args: tuple[str, ...], says: str
) -> None:
    result = await jobstream(*args, env=env)
    assert result.code != 0 and says in result.stderr, result

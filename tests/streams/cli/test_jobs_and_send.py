"""`jobstream send …` to the real worker and `jobstream jobs …` through the API, as a user types them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from httpx import AsyncClient as HttpClient

from storage.tables import job_events
from tests.streams.api import harness
from tests.streams.api.harness import RunningApi
from tests.streams.cli.runner import Result, jobstream, send
from tests.support.pipeline import Pipeline, unique

pytestmark = pytest.mark.e2e


async def test_send_then_read_back_through_the_api(env: dict[str, str]) -> None:
    job_id = unique("cli")
    created = await send(env, "create", job_id, "--job-type", "run", "--agent-id", "cli-agent")
    assert created["job_id"] == job_id and created["event"]["type"] == "job.created"
    await send(env, "transition", job_id, "running")
    await send(env, "metadata", job_id, '{"stage": 2}')
    await send(env, "messages", job_id, "m-1", "m-2")
    done = await send(env, "cancel", job_id, "--stop-reason", "user_cancelled")
    assert done["event"]["to_status"] == "cancelled"

    listed = await jobstream(
        "jobs", "list", "--json", "--status", "cancelled", "--agent-id", "cli-agent", env=env
    )
    assert listed.code == 0, listed.stderr
    assert [j["id"] for j in listed.json()["jobs"]] == [job_id]

    table = await jobstream("jobs", "list", "--job-type", "run", env=env)
    assert table.code == 0 and job_id in table.stdout and "cancelled" in table.stdout

    shown = await jobstream("jobs", "get", job_id, env=env)
    assert shown.code == 0 and "user_cancelled" in shown.stdout and '{"stage":2}' in shown.stdout

    events = await jobstream("jobs", "events", job_id, "--json", env=env)
    assert [e["seq"] for e in events.json()["events"]] == [1, 2, 3, 4, 5]

    messages = await jobstream("jobs", "messages", job_id, env=env)
    assert messages.code == 0 and "m-1" in messages.stdout and "m-2" in messages.stdout


async def test_list_all_follows_every_page(env: dict[str, str]) -> None:
    agent = unique("pager")
    for _ in range(3):
        await send(env, "create", "--agent-id", agent)
    paged = await jobstream("jobs", "list", "--agent-id", agent, "--limit", "1", "--all", "--json", env=env)
    one = await jobstream("jobs", "list", "--agent-id", agent, "--limit", "1", "--descending", env=env)
    assert len(paged.json()["jobs"]) == 3 and paged.json()["next_cursor"] is None
    assert "more: add --before" in one.stderr


async def test_events_and_messages_page_through_everything(
    api: RunningApi, pipeline: Pipeline, env: dict[str, str]
) -> None:
    """More than the API's largest page of each: all of them arrive, and stderr says it took pages."""
    job_id = unique("cli-long")
    org = api.tenants["cli"].organization_id
    now = datetime.now(UTC)
    await harness.insert_jobs(api.settings, [harness.job_row(job_id, org, now, seq=1_050)])
    await harness.insert_rows(api.settings, job_events, harness.event_rows(job_id, 1_050, now))
    message_ids = [f"m-{n:05}" for n in range(1_200)]
    client = HttpClient(base_url=api.url, headers=api.tenants["cli"].headers)
    async with client:
        await harness.post(client, type="attach_messages", job_id=job_id, message_ids=message_ids)
        await harness.job_when(pipeline, client, job_id, 1_051)

    events = await jobstream("jobs", "events", job_id, "--json", env=env)
    messages = await jobstream("jobs", "messages", job_id, "--json", env=env)
    table = await jobstream("jobs", "messages", job_id, env=env)

    assert events.code == 0, events.stderr
    assert [e["seq"] for e in events.json()["events"]] == list(range(1, 1_052))  # + the attach
    assert events.json()["next_cursor"] is None
    assert "fetched 1051 events in 2 pages" in events.stderr
    assert [m["message_id"] for m in messages.json()["messages"]] == message_ids
    assert "fetched 1200 messages in 2 pages" in messages.stderr
    assert table.stdout.count("m-") == 1_200


async def test_a_rejected_command_exits_1_with_the_reason(env: dict[str, str]) -> None:
    job_id = unique("cli")
    await send(env, "create", job_id, "--status", "running")
    result = await jobstream("send", "transition", job_id, "pending", "--wait", env=env)
    assert result.code == 1
    assert result.stdout.strip() == job_id
    assert "rejected invalid_transition" in result.stderr


async def test_a_retry_policy_and_heartbeats_from_the_command_line(
    env: dict[str, str], pipeline: Pipeline
) -> None:
    job_id = unique("cli-retry")
    policy = '{"max_attempts": 4, "initial_backoff_seconds": 60}'
    created = await send(
        env,
        "create",
        job_id,
        "--status",
        "running",
        "--retry-policy",
        policy,
        "--heartbeat-timeout-seconds",
        "600",
    )
    job = created["event"]["job"]
    assert (job["attempt"], job["max_attempts"], job["heartbeat_timeout_seconds"]) == (1, 4, 600)
    beat = await jobstream("send", "heartbeat", job_id, env=env)
    assert beat.code == 0 and beat.stdout.strip() == job_id, beat.stderr

    async def heartbeat_recorded() -> bool:
        row = await pipeline.job_row(job_id)
        return row is not None and row["last_heartbeat_at"] is not None

    await pipeline.wait_for(heartbeat_recorded, 30, "the heartbeat on the job's row")
    row = await pipeline.job_row(job_id)
    assert row is not None and row["seq"] == 1, "a heartbeat is no event"
    failed = await send(env, "transition", job_id, "failed", "--stop-reason", "llm_api_error")
    assert (failed["event"]["type"], failed["event"]["attempt"]) == ("job.attempt_failed", 1)
    assert failed["event"]["job"]["status"] == "running" and failed["event"]["job"]["retry_at"] is not None


@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("send", "metadata", "j", "[1]"), 2, "must be a JSON object"),
        (("send", "metadata", "j", "{oops"), 2, "is not JSON"),
        (("send", "create", "j", "--retry-policy", '{"max_attempts": 0}'), 2, "retry_policy.max_attempts"),
        (("jobs", "get", "no-such-job"), 1, "hint: check the job id"),
        (("jobs", "list", "--after", "no-such-job"), 1, "unknown cursor"),
    ],
)
async def test_mistakes_say_what_to_do(
    env: dict[str, str], args: tuple[str, ...], code: int, says: str
) -> None:
    result = await jobstream(*args, env=env)
    assert result.code == code and says in result.stderr, result


@pytest.mark.parametrize(
    ("overrides", "says"),
    [
        ({"JOBSTREAM_API_URL": "http://127.0.0.1:9"}, "start it with `jobstream api`"),
        ({"JOBSTREAM_API_TOKEN": ""}, "set JOBSTREAM_API_TOKEN"),
        ({"JOBSTREAM_API_TOKEN": "not-a-token"}, "the API refused the token"),
    ],
)
async def test_connection_problems_say_what_to_do(
    env: dict[str, str], overrides: dict[str, str], says: str
) -> None:
    result: Result = await jobstream("jobs", "list", env={**env, **overrides})
    assert result.code == 1 and says in result.stderr, result

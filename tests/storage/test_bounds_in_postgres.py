"""The bounds fit the real tables: every id at its longest, in 4-byte characters, stored and indexed."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import asyncpg
import orjson
import pytest

from schemas.bounds import (
    MAX_COMMAND_ID_LENGTH,
    MAX_CUSTOM_ID_LENGTH,
    MAX_ERROR_LENGTH,
    MAX_ID_LENGTH,
    MAX_JSON_BYTES,
    MAX_URL_LENGTH,
)
from schemas.commands import RecordCallbackCommand
from schemas.events import rejected_event
from schemas.lifecycle import Applied, decide
from schemas.parsing import Parsed, parse_command
from schemas.vocabulary import RejectionCode
from storage.job_store import BatchWrite, JobTransaction
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings

pytestmark = pytest.mark.e2e
NOW = datetime(2026, 1, 2, tzinfo=UTC)
RNG = random.Random(11)


def wide(length: int) -> str:
    """Random characters from the supplementary planes: 4 UTF-8 bytes each, and nothing to compress."""
    return "".join(chr(RNG.randrange(0x10000, 0x110000)) for _ in range(length))


def parsed(document: dict[str, object]) -> Parsed:
    result = parse_command(str(document["job_id"]).encode(), orjson.dumps(document))
    assert isinstance(result, Parsed), result
    return result


def json_of(size: int) -> dict[str, str]:
    """An object of wide strings whose compact JSON is just under `size` bytes."""
    return {wide(8): wide(200) for _ in range(size // 850)}


async def test_the_longest_values_fit_every_table_and_index(stack: LocalStack, settings: Settings) -> None:
    job_id, batch_id = wide(MAX_ID_LENGTH), wide(MAX_ID_LENGTH)
    items = [{"custom_id": wide(MAX_CUSTOM_ID_LENGTH), "job_id": wide(MAX_ID_LENGTH)} for _ in range(3)]
    create = parsed(
        {
            "command_id": wide(MAX_COMMAND_ID_LENGTH),
            "job_id": job_id,
            "type": "create",
            "job_type": "batch",
            "organization_id": wide(MAX_ID_LENGTH),
            "agent_id": wide(MAX_ID_LENGTH),
            "batch_id": batch_id,
            "provider": wide(MAX_ID_LENGTH),
            "provider_batch_id": wide(MAX_ID_LENGTH),
            "callback_url": wide(MAX_URL_LENGTH),
            "metadata": json_of(MAX_JSON_BYTES),
            "request_config": json_of(MAX_JSON_BYTES),
            "items": items,
        }
    )
    created = decide(None, create.command, NOW)
    assert isinstance(created, Applied)
    callback = parsed(
        {
            "command_id": wide(MAX_COMMAND_ID_LENGTH),
            "job_id": job_id,
            "type": "record_callback",
            "organization_id": create.command.organization_id,
            "sent_at": "2026-01-02T03:04:05Z",
            "status_code": 999,
            "error": wide(MAX_ERROR_LENGTH),
            "attempts": 2**31 - 1,
        }
    )
    assert isinstance(callback.command, RecordCallbackCommand)
    recorded = decide(created.job, callback.command, NOW)
    assert isinstance(recorded, Applied)
    rejected_id = wide(MAX_COMMAND_ID_LENGTH)
    rejection = rejected_event(
        job_id, rejected_id, RejectionCode.VALIDATION_ERROR, "no", {"job_id": job_id}, recorded.job, NOW
    )
    write = BatchWrite(
        created=[recorded.job],
        events=[orjson.dumps(created.event), orjson.dumps(recorded.event)],
        rejections=[orjson.dumps(rejection)],
        messages=[(job_id, wide(MAX_ID_LENGTH), NOW) for _ in range(3)],
        batch_items=[(batch_id, item["custom_id"], item["job_id"], NOW) for item in items],
    )
    connection = await asyncpg.connect(settings.postgres_url)
    try:
        transaction = connection.transaction()
        await transaction.start()
        try:
            await JobTransaction(connection).write(write)  # an index row too long would raise here
            row = await connection.fetchrow(
                "SELECT organization_id, agent_id, callback_error, callback_attempts FROM jobs WHERE id = $1",
                job_id,
            )
            counts = await connection.fetchrow(
                "SELECT (SELECT count(*) FROM job_events WHERE job_id = $1) AS events,"
                " (SELECT count(*) FROM job_rejections WHERE job_id = $1 AND command_id = $2) AS rejections,"
                " (SELECT count(*) FROM job_messages WHERE job_id = $1) AS messages,"
                " (SELECT count(*) FROM batch_items WHERE batch_id = $3) AS items",
                job_id,
                rejected_id,
                batch_id,
            )
        finally:
            await transaction.rollback()  # the shared database keeps none of it
    finally:
        await connection.close()
    assert row is not None and counts is not None
    assert (row["organization_id"], row["agent_id"]) == (
        create.command.organization_id,
        create.command.agent_id,
    )
    assert (row["callback_error"], row["callback_attempts"]) == (callback.command.error, 2**31 - 1)
    assert dict(counts) == {"events": 2, "rejections": 1, "messages": 3, "items": 3}

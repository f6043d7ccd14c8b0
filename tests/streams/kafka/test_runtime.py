"""The worker's Runtime on the real Postgres: the command path has connections of its own, so a burst
elsewhere in the worker (the callback dispatcher records up to 64 attempts at once) never makes a batch
wait for one."""

from __future__ import annotations

import dataclasses
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import exc as sa_errors

from storage.database import PostgresTimeouts, raw_connection
from streams.devtools.stack.stack import LocalStack
from streams.kafka.runtime import SHARED_POOL_OVERFLOW, SHARED_POOL_SIZE, Runtime


async def test_a_batch_gets_its_connection_while_the_shared_pool_is_exhausted(stack: LocalStack) -> None:
    settings = dataclasses.replace(stack.settings, postgres_timeouts=PostgresTimeouts(connect_s=1.0))
    runtime = Runtime(settings)
    await runtime.start()
    try:
        async with AsyncExitStack() as held:
            for _ in range(SHARED_POOL_SIZE + SHARED_POOL_OVERFLOW):
                await held.enter_async_context(raw_connection(runtime.engine))
            with pytest.raises(sa_errors.TimeoutError):  # every shared connection is in use
                async with raw_connection(runtime.engine):
                    pass
            async with runtime.store.transaction() as tx:
                locked = await tx.lock(["test-runtime-no-such-job"])
            assert locked.seqs == {} and locked.deleted == set()
    finally:
        await runtime.stop()

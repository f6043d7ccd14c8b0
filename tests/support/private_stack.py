"""A stack of one's own (state folder and ports) for tests that stop, kill or restart Kafka or Postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.migrate import upgrade
from streams.devtools.stack.ports import free_ports
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings


@contextmanager
def private_stack(home: Path, brokers: int = 1) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    """Kafka (`brokers` combined broker+controller nodes), Postgres and the API on ports free right now,
    torn down afterwards; so two checkouts can run their suites on one machine at once. With 3 nodes the
    topics are replicated 3 ways with min.insync.replicas=2, as in production."""
    kafka, controller, postgres, api = free_ports(4)
    unset = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "JOBSTREAM_REPLICATION_FACTOR")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    env.update(
        JOBSTREAM_HOME=str(home),
        JOBSTREAM_KAFKA_PORT=str(kafka),
        JOBSTREAM_KAFKA_CONTROLLER_PORT=str(controller),
        JOBSTREAM_POSTGRES_PORT=str(postgres),
        JOBSTREAM_API_PORT=str(api),
        PYTHONUNBUFFERED="1",
    )
    settings = Settings.from_env(env)
    stack = LocalStack(settings)
    stack.resize_kafka(brokers)  # the extra nodes' ports are recorded under `home`, read by every process
    try:
        stack.up()
        upgrade(settings.postgres_url)
        yield stack, env
    finally:
        stack.down()

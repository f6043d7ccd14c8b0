"""A stack of one's own (state folder and ports) for tests that stop, kill or restart Kafka or Postgres."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from storage.migrate import upgrade
from streams.devtools.stack.stack import LocalStack
from streams.settings import Settings


@contextmanager
def private_stack(home: Path, port_base: int) -> Iterator[tuple[LocalStack, dict[str, str]]]:
    """Kafka on port_base/port_base+1 and Postgres on port_base+2, torn down afterwards."""
    env = {k: v for k, v in os.environ.items() if k not in ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL")}
    env.update(
        JOBSTREAM_HOME=str(home),
        JOBSTREAM_KAFKA_PORT=str(port_base),
        JOBSTREAM_KAFKA_CONTROLLER_PORT=str(port_base + 1),
        JOBSTREAM_POSTGRES_PORT=str(port_base + 2),
        PYTHONUNBUFFERED="1",
    )
    settings = Settings.from_env(env)
    stack = LocalStack(settings)
    try:
        stack.up()
        upgrade(settings.postgres_url)
        yield stack, env
    finally:
        stack.down()

"""What one bench run creates, and its removal afterwards (also when the run fails or is interrupted).

A run is namespaced by its run id (`b1a2b3c`, `h1a2b3c` for --long-job): its topics are named
`<run>.…` and `<run>-…` (the worker's under JOBSTREAM_NAMESPACE=`<run>.js`; the Faust apps' own ones under
their app ids), and its job ids are recorded here as the run makes them, so the rows it removes are
exactly its own. Its consumer groups need no removal: Kafka drops an empty group's offsets once their
topics are gone, and then the group itself.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from storage.tables import metadata
from streams.settings import Settings

STEP_TIMEOUT_S = 120.0
# Variables that would move the bench worker off its run's namespace (onto topics or a group of a real
# deployment): the bench worker never inherits them.
NAMESPACE_OVERRIDES = ("JOBSTREAM_APP_ID", "JOBSTREAM_TOPIC_")


def new_run_id(kind: str) -> str:
    return f"{kind}{uuid.uuid4().hex[:6]}"


def namespaced_env(run_id: str, roles: str, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of the run's worker: everything on its run's namespace."""
    base = os.environ if environ is None else environ
    env = {k: v for k, v in base.items() if not k.startswith(NAMESPACE_OVERRIDES)}
    env.update(
        JOBSTREAM_NAMESPACE=f"{run_id}.js",
        JOBSTREAM_WORKER_NAME=f"{run_id}-bench",
        JOBSTREAM_WORKER_ROLES=roles,
    )
    return env


@dataclass
class Scratch:
    """The run's namespace in Kafka, Postgres and the state folder."""

    settings: Settings
    run_id: str
    app_ids: set[str] = field(default_factory=set)
    job_ids: set[str] = field(default_factory=set)
    folders: set[Path] = field(default_factory=set)

    def add_worker(self, worker_settings: Settings) -> None:
        """A Faust app of this run: its topics (`<app id>-…`) and its local table state go too."""
        self.app_ids.update({worker_settings.app_id, worker_settings.deployment})
        self.folders.add(worker_settings.worker_state_dir.parent)  # every worker of that app id

    def add_jobs(self, job_ids: Iterable[str]) -> None:
        self.job_ids.update(job_ids)

    def owns_topic(self, name: str) -> bool:
        prefixes = (f"{self.run_id}.", f"{self.run_id}-", *(f"{app_id}-" for app_id in self.app_ids))
        return name.startswith(prefixes)

    async def __aenter__(self) -> Scratch:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.remove()

    async def remove(self) -> None:
        """Each part on its own, so one failing (say Kafka is down) still removes the others; says what
        it could not remove rather than raising over the run's own outcome."""
        print(f"bench {self.run_id}: removing its topics and rows", file=sys.stderr, flush=True)
        for what, step in (("topics", self._remove_topics), ("rows", self._remove_rows)):
            try:
                await asyncio.wait_for(step(), STEP_TIMEOUT_S)
            except Exception as exc:  # reported, not raised: the run's own outcome matters more
                print(f"bench {self.run_id}: could not remove its {what}: {exc!r}", file=sys.stderr)
        for folder in self.folders:
            shutil.rmtree(folder, ignore_errors=True)

    async def _remove_topics(self) -> None:
        admin = AIOKafkaAdminClient(
            bootstrap_servers=self.settings.bootstrap_servers, client_id=f"{self.run_id}-cleanup"
        )
        await admin.start()
        try:
            names = sorted(name for name in await admin.list_topics() if self.owns_topic(name))
            if names:
                response = await admin.delete_topics(names)
                failed = [(t, code) for t, code, *_ in response.topic_error_codes if code != 0]
                if failed:
                    raise RuntimeError(f"the broker refused to delete {failed} (topic, error code)")
        finally:
            await admin.close()

    async def _remove_rows(self) -> None:
        """The run's jobs and everything keyed by their ids, in one transaction."""
        if not self.job_ids:
            return
        ids = sorted(self.job_ids)
        connection = await asyncpg.connect(self.settings.postgres_url, timeout=30)
        try:
            existing = {
                row["tablename"]
                for row in await connection.fetch(
                    "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"
                )
            }
            async with connection.transaction():
                for table in metadata.sorted_tables:
                    column = "id" if table.name == "jobs" else "job_id"
                    if table.name in existing and column in table.c:
                        await connection.execute(
                            f'DELETE FROM "{table.name}" WHERE "{column}" = ANY($1::text[])', ids
                        )
        finally:
            await connection.close()

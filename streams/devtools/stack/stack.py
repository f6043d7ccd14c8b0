"""The whole local stack as one thing: up, down, status and the environment other tools need."""

from __future__ import annotations

import time
from dataclasses import dataclass

from streams.devtools.stack.kafka import KafkaNode
from streams.devtools.stack.postgres import PostgresNode
from streams.settings import Settings


@dataclass(frozen=True)
class ServiceReport:
    name: str
    running: bool
    address: str
    pid: int | None
    rss_mb: float | None
    external: bool = False


class LocalStack:
    """Starts only what is not configured externally (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = KafkaNode(settings)
        self.postgres = PostgresNode(settings)

    def up(self) -> dict[str, float]:
        """Bring both services up; returns seconds each took (0 when already running)."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        timings: dict[str, float] = {}
        if not self.settings.uses_external_postgres:
            started = time.monotonic()
            self.postgres.up()
            timings["postgres"] = time.monotonic() - started
        if not self.settings.uses_external_kafka:
            started = time.monotonic()
            self.kafka.up()
            timings["kafka"] = time.monotonic() - started
        return timings

    def down(self) -> None:
        self.kafka.down()
        self.postgres.down()

    def status(self) -> list[ServiceReport]:
        reports = []
        if self.settings.uses_external_kafka:
            reports.append(ServiceReport("kafka", True, self.settings.bootstrap_servers, None, None, True))
        else:
            k = self.kafka.status()
            reports.append(ServiceReport("kafka", k.running, k.address, k.pid, k.rss_mb))
        if self.settings.uses_external_postgres:
            reports.append(ServiceReport("postgres", True, self.settings.postgres_url, None, None, True))
        else:
            p = self.postgres.status()
            reports.append(ServiceReport("postgres", p.running, p.address, p.pid, p.rss_mb))
        return reports

    def env(self) -> dict[str, str]:
        """What `jobstream stack env` exports so any other tool reaches the same stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "DATABASE_URL": self.settings.postgres_url,
            "JOBSTREAM_API_URL": f"http://127.0.0.1:{self.settings.api_port}",
        }

"""The whole local stack as one thing: up, down, status and the environment other tools need."""

from __future__ import annotations

import dataclasses
import os
import time

from sqlalchemy.engine import make_url

from streams.devtools.stack.kafka import KafkaNode
from streams.devtools.stack.ports import choose_ports
from streams.devtools.stack.postgres import PostgresNode
from streams.devtools.stack.process import ServiceStatus
from streams.settings import LOCAL_PORTS, Settings, record_local_ports
from streams.settings.ports import local_ports_path


class LocalStack:
    """Starts only what is not configured externally (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka = KafkaNode(settings)
        self.postgres = PostgresNode(settings)

    def choose_ports(self) -> Settings:
        """On a checkout's first `up` with no ports set (no JOBSTREAM_*_PORT, no `<home>/ports.json`):
        the usual ports where free, free ones elsewhere, recorded for every later process (`stack down`
        keeps the record). Ports set by the environment, a record, or whoever built these settings with
        other ports than the defaults are kept as they are. Returns the settings now in use."""
        defaults = {name: default for name, (_, default) in LOCAL_PORTS.items()}
        current = {name: getattr(self.settings, name) for name in LOCAL_PORTS}
        variables_set = any(os.environ.get(variable, "").strip() for variable, _ in LOCAL_PORTS.values())
        if variables_set or current != defaults or local_ports_path(self.settings.home).exists():
            return self.settings
        # A stack started before ports were recorded runs on the defaults: keep them (and record them).
        running = self.kafka.status().running or self.postgres.status().running
        chosen = current if running else choose_ports(current)
        record_local_ports(self.settings.home, chosen)
        self.settings = dataclasses.replace(self.settings, **chosen)
        self.kafka = KafkaNode(self.settings)
        self.postgres = PostgresNode(self.settings)
        return self.settings

    def up(self) -> dict[str, float]:
        """Bring both services up; returns seconds each took (0 when already running)."""
        self.settings.home.mkdir(parents=True, exist_ok=True)
        self.choose_ports()
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

    def status(self) -> list[ServiceStatus]:
        """An external service is reported as running: it is not ours to check or start."""
        return [
            ServiceStatus("kafka", True, self.settings.bootstrap_servers, None, None, external=True)
            if self.settings.uses_external_kafka
            else self.kafka.status(),
            ServiceStatus("postgres", True, _without_password(self.settings.postgres_url), None, None, True)
            if self.settings.uses_external_postgres
            else self.postgres.status(),
        ]

    def env(self) -> dict[str, str]:
        """What `jobstream stack env` exports so any other tool reaches the same stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "DATABASE_URL": self.settings.postgres_url,
            "JOBSTREAM_API_URL": f"http://127.0.0.1:{self.settings.api_port}",
        }


def _without_password(url: str) -> str:
    """A status line is read over shoulders and pasted into tickets: never with the password in it."""
    return make_url(url).render_as_string(hide_password=True)

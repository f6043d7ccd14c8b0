"""The whole local stack as one thing: up, down, status and the environment other tools need."""

from __future__ import annotations

import dataclasses
import os
import shutil
import time

from sqlalchemy.engine import make_url

from streams.devtools.stack.exceptions import StackError
from streams.devtools.stack.kafka import KafkaNode, stop_nodes
from streams.devtools.stack.ports import choose_ports, free_ports
from streams.devtools.stack.postgres import PostgresNode
from streams.devtools.stack.process import ServiceStatus
from streams.settings import LOCAL_PORTS, Settings, record_local_ports
from streams.settings.ports import local_ports_path, record_kafka_cluster


class LocalStack:
    """Starts only what is not configured externally (KAFKA_BOOTSTRAP_SERVERS, DATABASE_URL)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.kafka_nodes = _kafka_nodes(settings)
        self.postgres = PostgresNode(settings)

    @property
    def kafka(self) -> KafkaNode:
        """Node 1 (the only one unless `stack up --brokers N`)."""
        return self.kafka_nodes[0]

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
        self.kafka_nodes = _kafka_nodes(self.settings)
        self.postgres = PostgresNode(self.settings)
        return self.settings

    def resize_kafka(self, nodes: int) -> bool:
        """Make the local Kafka `nodes` combined nodes (on free ports, recorded for every later process);
        True if that changed it. Its data are reset: storage is formatted for one quorum of voters."""
        if nodes == len(self.kafka_nodes):
            return False
        if self.settings.uses_external_kafka:
            raise StackError("KAFKA_BOOTSTRAP_SERVERS is set: the local stack runs no Kafka to resize")
        running = [node.name for node in self.kafka_nodes if node.status().running]
        if running:
            raise StackError(
                f"Kafka runs with {len(self.kafka_nodes)} node(s) ({', '.join(running)}): run"
                f" `jobstream stack down` first, then `jobstream stack up --brokers {nodes}`"
            )
        for node in self.kafka_nodes:
            shutil.rmtree(node.data, ignore_errors=True)
        taken = frozenset({self.settings.kafka_port, self.settings.kafka_controller_port})
        ports = free_ports(2 * (nodes - 1), avoid=taken)
        extra = tuple((ports[2 * i], ports[2 * i + 1]) for i in range(nodes - 1))
        record_kafka_cluster(self.settings.home, extra)
        replication = (
            self.settings.replication_factor if os.environ.get("JOBSTREAM_REPLICATION_FACTOR") else None
        )
        self.settings = dataclasses.replace(
            self.settings,
            kafka_extra_nodes=extra,
            replication_factor=replication or (3 if nodes >= 3 else 1),
        )
        self.kafka_nodes = _kafka_nodes(self.settings)
        return True

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
            self._kafka_up()
            timings["kafka"] = time.monotonic() - started
        return timings

    def _kafka_up(self) -> None:
        """Every node started before any is waited for: a node of a cluster answers only once a majority
        of the controller quorum runs. All nodes share one cluster id (their storage is formatted for it)."""
        known = [node.formatted_cluster_id() for node in self.kafka_nodes]
        cluster_id = next((found for found in known if found), None)
        if cluster_id is None and len(self.kafka_nodes) > 1:
            cluster_id = self.kafka.new_cluster_id()
        started = [(node, node.start(cluster_id)) for node in self.kafka_nodes]
        for node, proc in started:
            node.wait_ready(proc)

    def down(self) -> None:
        stop_nodes(self.kafka_nodes)
        self.postgres.down()

    def status(self) -> list[ServiceStatus]:
        """An external service is reported as running: it is not ours to check or start."""
        return [
            *(
                [ServiceStatus("kafka", True, self.settings.bootstrap_servers, None, None, external=True)]
                if self.settings.uses_external_kafka
                else [node.status() for node in self.kafka_nodes]
            ),
            ServiceStatus("postgres", True, _without_password(self.settings.postgres_url), None, None, True)
            if self.settings.uses_external_postgres
            else self.postgres.status(),
        ]

    def env(self) -> dict[str, str]:
        """What `jobstream stack env` exports so any other tool reaches the same stack."""
        return {
            "KAFKA_BOOTSTRAP_SERVERS": self.settings.bootstrap_servers,
            "JOBSTREAM_REPLICATION_FACTOR": str(self.settings.replication_factor),
            "DATABASE_URL": self.settings.postgres_url,
            "JOBSTREAM_API_URL": f"http://127.0.0.1:{self.settings.api_port}",
        }


def _kafka_nodes(settings: Settings) -> list[KafkaNode]:
    return [KafkaNode(settings, node_id) for node_id in range(1, 2 + len(settings.kafka_extra_nodes))]


def _without_password(url: str) -> str:
    """A status line is read over shoulders and pasted into tickets: never with the password in it."""
    return make_url(url).render_as_string(hide_password=True)

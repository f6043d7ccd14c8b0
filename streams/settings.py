"""Service configuration, read once from the environment (the one table in the README)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from storage.database import PostgresTimeouts
from streams.env import ConfigError, env_float, env_int

# What a worker runs: the command path (commands agent, table, expiry) and/or the downstream agents
# (callbacks, batch results, resume notices). Split, each role scales and fails on its own.
ROLES = frozenset({"commands", "downstream"})


def _roles(raw: str | None) -> frozenset[str]:
    roles = frozenset(r.strip() for r in (raw or ",".join(sorted(ROLES))).split(",") if r.strip())
    if not roles or not roles <= ROLES:
        raise ConfigError(f"JOBSTREAM_WORKER_ROLES must name some of {sorted(ROLES)}, got {raw!r}")
    return roles


def _postgres_timeouts(env: Mapping[str, str]) -> PostgresTimeouts:
    values = {}
    for name, variable in (("connect_s", "CONNECT"), ("statement_s", "STATEMENT"), ("lock_s", "LOCK")):
        variable = f"JOBSTREAM_PG_{variable}_TIMEOUT_S"
        values[name] = env_float(env, variable, getattr(PostgresTimeouts, name))
        if values[name] < 0.001:  # Postgres reads 0 as "no timeout at all"
            raise ConfigError(f"{variable} must be at least 0.001 (seconds), got {values[name]!r}")
    return PostgresTimeouts(**values)


@dataclass(frozen=True)
class Topics:
    """Topic names (spec §2); configurable so several deployments can share a cluster."""

    commands: str = "jobs.commands"
    events: str = "jobs.events"
    deadletter: str = "jobs.deadletter"
    batch_results: str = "batches.results"
    resume: str = "jobs.resume"

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Topics:
        """Each name from its own variable, else the default under JOBSTREAM_NAMESPACE (if set)."""
        prefix = f"{environ['JOBSTREAM_NAMESPACE']}." if environ.get("JOBSTREAM_NAMESPACE") else ""
        return cls(
            commands=environ.get("JOBSTREAM_TOPIC_COMMANDS", prefix + cls.commands),
            events=environ.get("JOBSTREAM_TOPIC_EVENTS", prefix + cls.events),
            deadletter=environ.get("JOBSTREAM_TOPIC_DEADLETTER", prefix + cls.deadletter),
            batch_results=environ.get("JOBSTREAM_TOPIC_BATCH_RESULTS", prefix + cls.batch_results),
            resume=environ.get("JOBSTREAM_TOPIC_RESUME", prefix + cls.resume),
        )


@dataclass(frozen=True)
class Settings:
    """Everything the worker, API and CLI need to find Kafka, Postgres and each other."""

    home: Path = Path(".jobstream")
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    postgres_port: int = 5432
    kafka_bootstrap_servers: str | None = None
    database_url: str | None = None
    topics: Topics = field(default_factory=Topics)
    partitions: int = 4
    replication_factor: int = 1
    app_id: str = "jobstream"
    deployment: str = "jobstream"
    batch_max: int = 500
    batch_within_s: float = 0.05
    expiry_interval_s: float = 1.0
    api_port: int = 8080
    worker_name: str = "worker"
    roles: frozenset[str] = ROLES
    postgres_timeouts: PostgresTimeouts = field(default_factory=PostgresTimeouts)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        roles = _roles(env.get("JOBSTREAM_WORKER_ROLES"))
        base_app_id = env.get("JOBSTREAM_APP_ID") or (
            "jobstream-" + env["JOBSTREAM_NAMESPACE"] if env.get("JOBSTREAM_NAMESPACE") else "jobstream"
        )
        return cls(
            home=Path(env.get("JOBSTREAM_HOME", ".jobstream")).absolute(),
            kafka_port=env_int(env, "JOBSTREAM_KAFKA_PORT", 9092),
            kafka_controller_port=env_int(env, "JOBSTREAM_KAFKA_CONTROLLER_PORT", 9093),
            postgres_port=env_int(env, "JOBSTREAM_POSTGRES_PORT", 5432),
            kafka_bootstrap_servers=env.get("KAFKA_BOOTSTRAP_SERVERS") or None,
            database_url=env.get("DATABASE_URL") or None,
            topics=Topics.from_env(env),
            partitions=env_int(env, "JOBSTREAM_PARTITIONS", 4),
            replication_factor=env_int(env, "JOBSTREAM_REPLICATION_FACTOR", 1),
            # A downstream-only worker is a consumer group of its own (it subscribes to other topics).
            app_id=base_app_id + ("-downstream" if roles == {"downstream"} else ""),
            deployment=base_app_id,
            batch_max=env_int(env, "JOBSTREAM_BATCH_MAX", 500),
            batch_within_s=env_float(env, "JOBSTREAM_BATCH_WITHIN_S", 0.05),
            expiry_interval_s=env_float(env, "JOBSTREAM_EXPIRY_INTERVAL_S", 1.0),
            api_port=env_int(env, "JOBSTREAM_API_PORT", 8080),
            worker_name=env.get("JOBSTREAM_WORKER_NAME", "worker"),
            roles=roles,
            postgres_timeouts=_postgres_timeouts(env),
        )

    @property
    def worker_state_dir(self) -> Path:
        """The worker's local table state (RocksDB). Per app id as well as per worker name: the stores
        remember changelog offsets of their own app's changelog, and a worker of another deployment
        (another namespace) reusing them refuses to start (Faust's ConsistencyError)."""
        return self.home / "worker-data" / self.app_id / self.worker_name

    @property
    def bootstrap_servers(self) -> str:
        """The external cluster when configured, else the local stack's broker."""
        return self.kafka_bootstrap_servers or f"127.0.0.1:{self.kafka_port}"

    @property
    def postgres_url(self) -> str:
        """A libpq URL (what psql takes); the local stack's server unless DATABASE_URL is set."""
        return self.database_url or f"postgresql://postgres@127.0.0.1:{self.postgres_port}/jobstream"

    @property
    def uses_external_postgres(self) -> bool:
        return self.database_url is not None

    @property
    def uses_external_kafka(self) -> bool:
        return self.kafka_bootstrap_servers is not None

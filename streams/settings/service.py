"""The service's settings tree, read once from the environment by each process at startup (the one
table in the README). Every bad value is a ConfigError naming its variable."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from storage.database import PostgresTimeouts
from streams.settings.api import read_api_tokens
from streams.settings.callbacks import CallbackSettings
from streams.settings.env import env_choices, env_float, env_int, env_list, env_port, env_str, invalid, raw
from streams.settings.poller import PollerSettings
from streams.settings.ports import LOCAL_PORTS, read_kafka_cluster, read_local_ports, record_local_ports
from streams.settings.topics import Topics, namespace_from_env

__all__ = ["LOG_LEVELS", "ROLES", "Settings", "Topics", "read_local_ports", "record_local_ports"]

# What a worker runs: the command path (commands agent, table, expiry) and/or the downstream agents
# (callbacks, batch results, resume notices). Split, each role scales and fails on its own.
ROLES = frozenset({"commands", "downstream"})
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_FOLDER = re.compile(r"[A-Za-z0-9._-]+")  # names that become one folder of JOBSTREAM_HOME
_FOLDER_RULE = "a folder name (letters, digits, '.', '_', '-'; not '.' or '..')"
_DATABASE_URL_RULE = "a postgresql:// URL"


@dataclass(frozen=True)
class Settings:
    """Everything the worker, API, poller and CLI need to find Kafka, Postgres and each other."""

    home: Path = Path(".jobstream")
    kafka_port: int = LOCAL_PORTS["kafka_port"][1]
    kafka_controller_port: int = LOCAL_PORTS["kafka_controller_port"][1]
    postgres_port: int = LOCAL_PORTS["postgres_port"][1]
    kafka_bootstrap_servers: str | None = None
    # The local stack's Kafka nodes after the first, as (broker, controller) ports (`stack up --brokers N`).
    kafka_extra_nodes: tuple[tuple[int, int], ...] = ()
    database_url: str | None = field(default=None, repr=False)  # may hold a password
    topics: Topics = field(default_factory=Topics)
    partitions: int = 4
    replication_factor: int = 1
    app_id: str = "jobstream"
    deployment: str = "jobstream"
    batch_max: int = 500
    batch_within_s: float = 0.05
    fetch_wait_ms: int = 0  # the longest the broker holds a fetch for more records (0: answer at once)
    expiry_interval_s: float = 1.0
    retention_days: float | None = None  # terminal jobs older than this are deleted (rule 14); None: kept
    retention_interval_s: float = 60.0
    metrics_port: int | None = None  # the worker's Prometheus endpoint; None: not served, 0: any free port
    metrics_host: str = "127.0.0.1"
    api_port: int = LOCAL_PORTS["api_port"][1]
    api_tokens: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)
    worker_name: str = "worker"
    roles: frozenset[str] = ROLES
    postgres_timeouts: PostgresTimeouts = field(default_factory=PostgresTimeouts)
    log_level: str = "INFO"
    callbacks: CallbackSettings = field(default_factory=CallbackSettings)
    poller: PollerSettings = field(default_factory=PollerSettings)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The whole tree; local stack ports come from the variables, else `<home>/ports.json`."""
        env = os.environ if environ is None else environ
        home = Path(env_str(env, "JOBSTREAM_HOME", ".jobstream")).absolute()
        ports = _local_ports(env, home)
        bootstrap = _bootstrap_servers(env, "KAFKA_BOOTSTRAP_SERVERS")
        extra_nodes = read_kafka_cluster(home) if bootstrap is None else ()
        roles = env_choices(env, "JOBSTREAM_WORKER_ROLES", ROLES, ROLES)
        namespace = namespace_from_env(env)
        base_app_id = _folder(env, "JOBSTREAM_APP_ID", f"jobstream-{namespace}" if namespace else "jobstream")
        return cls(
            home=home,
            kafka_port=ports["kafka_port"],
            kafka_controller_port=ports["kafka_controller_port"],
            postgres_port=ports["postgres_port"],
            api_port=ports["api_port"],
            kafka_bootstrap_servers=bootstrap,
            kafka_extra_nodes=extra_nodes,
            database_url=_database_url(env, "DATABASE_URL"),
            topics=Topics.from_env(env),
            partitions=env_int(env, "JOBSTREAM_PARTITIONS", cls.partitions, minimum=1),
            # A local cluster of three or more nodes replicates three ways by default, as production does.
            replication_factor=env_int(
                env, "JOBSTREAM_REPLICATION_FACTOR", 3 if len(extra_nodes) >= 2 else 1, minimum=1
            ),
            # A downstream-only worker is a consumer group of its own (it subscribes to other topics).
            app_id=base_app_id + ("-downstream" if roles == {"downstream"} else ""),
            deployment=base_app_id,
            batch_max=env_int(env, "JOBSTREAM_BATCH_MAX", cls.batch_max, minimum=1),
            batch_within_s=env_float(env, "JOBSTREAM_BATCH_WITHIN_S", cls.batch_within_s, minimum=0),
            fetch_wait_ms=env_int(env, "JOBSTREAM_FETCH_WAIT_MS", cls.fetch_wait_ms, minimum=0, maximum=500),
            expiry_interval_s=env_float(
                env, "JOBSTREAM_EXPIRY_INTERVAL_S", cls.expiry_interval_s, positive=True
            ),
            retention_days=_retention_days(env, "JOBSTREAM_RETENTION_DAYS"),
            retention_interval_s=env_float(
                env, "JOBSTREAM_RETENTION_INTERVAL_S", cls.retention_interval_s, positive=True
            ),
            metrics_port=(
                env_int(env, "JOBSTREAM_METRICS_PORT", 0, minimum=0, maximum=65535)
                if raw(env, "JOBSTREAM_METRICS_PORT") is not None
                else None
            ),
            metrics_host=env_str(env, "JOBSTREAM_METRICS_HOST", cls.metrics_host),
            api_tokens=read_api_tokens(env),
            worker_name=_folder(env, "JOBSTREAM_WORKER_NAME", cls.worker_name),
            roles=roles,
            postgres_timeouts=_postgres_timeouts(env),
            log_level=_log_level(env, "JOBSTREAM_LOG_LEVEL"),
            callbacks=CallbackSettings.from_env(env),
            poller=PollerSettings.from_env(env),
        )

    @property
    def worker_state_dir(self) -> Path:
        """The worker's local table state (RocksDB). Per app id as well as per worker name: the stores
        remember changelog offsets of their own app's changelog, and a worker of another deployment
        (another namespace) reusing them refuses to start (Faust's ConsistencyError)."""
        return self.home / "worker-data" / self.app_id / self.worker_name

    @property
    def bootstrap_servers(self) -> str:
        """The external cluster when configured, else the local stack's broker(s)."""
        if self.kafka_bootstrap_servers:
            return self.kafka_bootstrap_servers
        ports = [self.kafka_port, *(broker for broker, _ in self.kafka_extra_nodes)]
        return ",".join(f"127.0.0.1:{port}" for port in ports)

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


def _local_ports(env: Mapping[str, str], home: Path) -> dict[str, int]:
    """Per port: its variable, else what this checkout's stack recorded, else the usual default."""
    recorded = read_local_ports(home)
    return {
        field_name: env_port(env, variable, recorded.get(field_name, default))
        for field_name, (variable, default) in LOCAL_PORTS.items()
    }


def _folder(env: Mapping[str, str], variable: str, default: str) -> str:
    """A name that becomes a folder of JOBSTREAM_HOME (worker state), so no '/' and no '..'."""
    name = env_str(env, variable, default)
    if not _FOLDER.fullmatch(name) or name in (".", ".."):
        raise invalid(variable, _FOLDER_RULE, name)
    return name


def _bootstrap_servers(env: Mapping[str, str], variable: str) -> str | None:
    text = raw(env, variable)
    for entry in env_list(env, variable):
        host, _, port = entry.rpartition(":") if ":" in entry else (entry, "", "9092")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise invalid(variable, "comma-separated host:port entries", text)
    return text


def _database_url(env: Mapping[str, str], variable: str) -> str | None:
    text = raw(env, variable)
    if text is None:
        return None
    try:
        url = make_url(text)
    except (ArgumentError, ValueError):
        raise invalid(variable, _DATABASE_URL_RULE, text, secret=True) from None  # it may hold a password
    if url.get_backend_name() not in ("postgresql", "postgres"):
        raise invalid(variable, _DATABASE_URL_RULE, url.render_as_string(hide_password=True))
    return text


def _postgres_timeouts(env: Mapping[str, str]) -> PostgresTimeouts:
    # Postgres reads 0 as "no timeout at all", hence at least a millisecond.
    values = {
        name: env_float(
            env, f"JOBSTREAM_PG_{variable}_TIMEOUT_S", getattr(PostgresTimeouts, name), minimum=0.001
        )
        for name, variable in (("connect_s", "CONNECT"), ("statement_s", "STATEMENT"), ("lock_s", "LOCK"))
    }
    return PostgresTimeouts(**values)


def _log_level(env: Mapping[str, str], variable: str) -> str:
    level = env_str(env, variable, "INFO")
    if level.upper() not in LOG_LEVELS:
        raise invalid(variable, f"one of {', '.join(LOG_LEVELS)}", level)
    return level.upper()


MAX_RETENTION_DAYS = 36_500.0  # a century; a cutoff further back would overflow the date arithmetic


def _retention_days(env: Mapping[str, str], name: str) -> float | None:
    """Unset (the default): nothing is ever deleted by age."""
    if raw(env, name) is None:
        return None
    days = env_float(env, name, 0.0, positive=True)
    if days > MAX_RETENTION_DAYS:
        raise invalid(name, f"at most {MAX_RETENTION_DAYS:g} days", days)
    return days

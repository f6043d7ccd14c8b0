"""The settings tree (no services needed): every bad value of every variable is a ConfigError naming it,
the sub-settings are filled from the same environment, and the local stack's recorded ports are used."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from streams.settings import (
    DEFAULT_ANTHROPIC_BASE_URL,
    ConfigError,
    Settings,
    read_local_ports,
    record_local_ports,
)

ROOT = Path(__file__).resolve().parents[2]
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

# (variable, a bad value, whether the message may echo it): secrets, tokens and passwords never are.
BAD_VALUES: list[tuple[str, str, bool]] = [
    ("JOBSTREAM_KAFKA_PORT", "kafka", True),
    ("JOBSTREAM_KAFKA_PORT", "0", True),
    ("JOBSTREAM_KAFKA_CONTROLLER_PORT", "65536", True),
    ("JOBSTREAM_POSTGRES_PORT", "5432.0", True),
    ("JOBSTREAM_API_PORT", "-1", True),
    ("KAFKA_BOOTSTRAP_SERVERS", "broker:port", True),
    ("KAFKA_BOOTSTRAP_SERVERS", "b1:9092,:9093", True),
    ("DATABASE_URL", "mysql://app@db/jobstream", True),
    ("DATABASE_URL", "postgresql://app:hunter2@db:port/jobstream", False),
    ("JOBSTREAM_NAMESPACE", "team a", True),
    ("JOBSTREAM_TOPIC_COMMANDS", "jobs/commands", True),
    ("JOBSTREAM_TOPIC_EVENTS", "jobs events", True),
    ("JOBSTREAM_TOPIC_DEADLETTER", "..", True),
    ("JOBSTREAM_TOPIC_BATCH_RESULTS", "b" * 250, True),
    ("JOBSTREAM_TOPIC_RESUME", "jobs:resume", True),
    ("JOBSTREAM_APP_ID", "a/b", True),
    ("JOBSTREAM_WORKER_NAME", "..", True),
    ("JOBSTREAM_WORKER_ROLES", "commands,api", True),
    ("JOBSTREAM_WORKER_ROLES", ",", True),
    ("JOBSTREAM_PARTITIONS", "0", True),
    ("JOBSTREAM_PARTITIONS", "four", True),
    ("JOBSTREAM_REPLICATION_FACTOR", "0", True),
    ("JOBSTREAM_BATCH_MAX", "1e3", True),
    ("JOBSTREAM_BATCH_WITHIN_S", "-0.1", True),
    ("JOBSTREAM_BATCH_WITHIN_S", "nan", True),
    ("JOBSTREAM_FETCH_WAIT_MS", "-1", True),
    ("JOBSTREAM_FETCH_WAIT_MS", "501", True),
    ("JOBSTREAM_EXPIRY_INTERVAL_S", "0", True),
    ("JOBSTREAM_EXPIRY_INTERVAL_S", "inf", True),
    ("JOBSTREAM_PG_CONNECT_TIMEOUT_S", "0", True),
    ("JOBSTREAM_PG_STATEMENT_TIMEOUT_S", "soon", True),
    ("JOBSTREAM_PG_LOCK_TIMEOUT_S", "0.0001", True),
    ("JOBSTREAM_LOG_LEVEL", "LOUD", True),
    ("JOBSTREAM_API_TOKENS", "just-a-token", False),
    ("JOBSTREAM_API_TOKENS_FILE", "/nonexistent/tokens", True),
    ("JOBSTREAM_CALLBACK_SECRET", "whsec_!!!", False),
    ("JOBSTREAM_CALLBACK_SECRETS", SECRET, False),
    ("JOBSTREAM_CALLBACK_SECRETS", "acme:x", False),
    ("JOBSTREAM_CALLBACK_ALLOW_CIDRS", "10.0.0.0/33", True),
    ("JOBSTREAM_CALLBACK_TIMEOUT_S", "0", True),
    ("JOBSTREAM_CALLBACK_MAX_ATTEMPTS", "0", True),
    ("JOBSTREAM_CALLBACK_BACKOFF_BASE_S", "-1", True),
    ("JOBSTREAM_CALLBACK_BACKOFF_CAP_S", "soon", True),
    ("JOBSTREAM_ANTHROPIC_BASE_URL", "api.anthropic.com", True),
    ("JOBSTREAM_ANTHROPIC_BASE_URL", "http://127.0.0.1:port", True),
    ("JOBSTREAM_POLL_INTERVAL_S", "-1", True),
    ("JOBSTREAM_POLL_CONCURRENCY", "2.5", True),
    ("JOBSTREAM_POLL_TIMEOUT_S", "0", True),
    ("JOBSTREAM_POLL_TIMEOUT_S", "soon", True),
]


@pytest.mark.parametrize(("name", "value", "echoed"), BAD_VALUES)
def test_every_bad_value_is_a_config_error_naming_its_variable(
    name: str, value: str, echoed: bool, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"JOBSTREAM_HOME": str(tmp_path), name: value})
    message = str(caught.value)
    assert message.startswith(f"{name} must be "), message
    assert ", got " in message
    if echoed:
        assert f"got {value!r}" in message
    else:
        assert value not in message
        assert "hunter2" not in message


def test_the_defaults(tmp_path: Path) -> None:
    settings = Settings.from_env({"JOBSTREAM_HOME": str(tmp_path)})
    assert settings == Settings(home=tmp_path)
    assert (settings.kafka_port, settings.kafka_controller_port, settings.postgres_port) == (9092, 9093, 5432)
    assert settings.api_port == 8080
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.postgres_url == "postgresql://postgres@127.0.0.1:5432/jobstream"
    assert settings.log_level == "INFO"
    assert len(settings.api_tokens) == 0


def test_blank_means_the_default(tmp_path: Path) -> None:
    env = {"JOBSTREAM_HOME": str(tmp_path), "JOBSTREAM_PARTITIONS": " ", "JOBSTREAM_WORKER_NAME": ""}
    settings = Settings.from_env(env)
    assert (settings.partitions, settings.worker_name) == (4, "worker")


def test_one_environment_fills_the_whole_tree(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "JOBSTREAM_HOME": str(tmp_path),
            "JOBSTREAM_LOG_LEVEL": "debug",
            "JOBSTREAM_API_TOKENS": "t1:org-1",
            "JOBSTREAM_CALLBACK_SECRET": SECRET,
            "JOBSTREAM_CALLBACK_MAX_ATTEMPTS": "3",
            "JOBSTREAM_POLL_TIMEOUT_S": "2.5",
            "JOBSTREAM_POLL_CONCURRENCY": "2",
            "DATABASE_URL": "postgresql://app:hunter2@db/jobstream",
            "KAFKA_BOOTSTRAP_SERVERS": "b1:9092,[::1]:9093,b3",
        }
    )
    assert settings.log_level == "DEBUG"
    assert dict(settings.api_tokens) == {"t1": "org-1"}
    assert settings.callbacks.secret == SECRET
    assert settings.callbacks.max_attempts == 3
    assert (settings.poller.request_timeout_s, settings.poller.poll_concurrency) == (2.5, 2)
    assert settings.poller.anthropic_base_url == DEFAULT_ANTHROPIC_BASE_URL
    assert settings.bootstrap_servers == "b1:9092,[::1]:9093,b3"
    for secret in (SECRET, "hunter2", "t1"):
        assert secret not in repr(settings)


def test_deployments_never_share_a_workers_local_state() -> None:
    """A namespaced worker and the default one, both named `worker`, on one host: their RocksDB stores
    track different changelogs, so sharing one folder made the second refuse to start."""
    default = Settings.from_env({"JOBSTREAM_HOME": "/srv/js"})
    namespaced = Settings.from_env({"JOBSTREAM_HOME": "/srv/js", "JOBSTREAM_NAMESPACE": "staging"})
    assert default.worker_name == namespaced.worker_name == "worker"
    assert default.worker_state_dir != namespaced.worker_state_dir
    assert str(default.worker_state_dir).startswith("/srv/js/worker-data/")


def test_two_workers_of_one_deployment_keep_separate_state() -> None:
    first = Settings.from_env({"JOBSTREAM_WORKER_NAME": "w1"})
    second = Settings.from_env({"JOBSTREAM_WORKER_NAME": "w2"})
    assert first.worker_state_dir.parent == second.worker_state_dir.parent
    assert first.worker_state_dir != second.worker_state_dir


def test_the_namespace_prefixes_topics_and_app_id(tmp_path: Path) -> None:
    env = {"JOBSTREAM_HOME": str(tmp_path), "JOBSTREAM_NAMESPACE": "staging"}
    settings = Settings.from_env({**env, "JOBSTREAM_TOPIC_RESUME": "own.resume"})
    assert settings.topics.commands == "staging.jobs.commands"
    assert settings.topics.resume == "own.resume"
    assert settings.app_id == settings.deployment == "jobstream-staging"
    downstream = Settings.from_env({**env, "JOBSTREAM_WORKER_ROLES": "downstream"})
    assert (downstream.app_id, downstream.deployment) == ("jobstream-staging-downstream", "jobstream-staging")


def test_recorded_ports_are_used_and_the_variables_override_them(tmp_path: Path) -> None:
    ports = {"kafka_port": 19092, "kafka_controller_port": 19093, "postgres_port": 15432}
    record_local_ports(tmp_path, ports)
    recorded = Settings.from_env({"JOBSTREAM_HOME": str(tmp_path)})
    assert (recorded.kafka_port, recorded.kafka_controller_port, recorded.postgres_port) == (*ports.values(),)
    assert recorded.api_port == 8080  # not recorded: the default
    assert recorded.bootstrap_servers == "127.0.0.1:19092"
    assert recorded.postgres_url == "postgresql://postgres@127.0.0.1:15432/jobstream"
    overridden = Settings.from_env({"JOBSTREAM_HOME": str(tmp_path), "JOBSTREAM_POSTGRES_PORT": "25432"})
    assert (overridden.kafka_port, overridden.postgres_port) == (19092, 25432)


def test_the_ports_file_lives_under_jobstream_home(tmp_path: Path) -> None:
    record_local_ports(tmp_path / "a", {"kafka_port": 19092, "api_port": 18080})
    assert json.loads((tmp_path / "a" / "ports.json").read_text()) == {"api_port": 18080, "kafka_port": 19092}
    assert read_local_ports(tmp_path / "a") == {"api_port": 18080, "kafka_port": 19092}
    assert read_local_ports(tmp_path / "b") == {}
    assert Settings.from_env({"JOBSTREAM_HOME": str(tmp_path / "a")}).api_port == 18080
    assert Settings.from_env({"JOBSTREAM_HOME": str(tmp_path / "b")}).kafka_port == 9092


def test_recording_rejects_what_it_could_not_read_back(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown ports"):
        record_local_ports(tmp_path, {"kafka": 19092})
    with pytest.raises(ConfigError, match="kafka_port must be at most 65535"):
        record_local_ports(tmp_path, {"kafka_port": 70000})
    assert not (tmp_path / "ports.json").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("{not json", "must be a JSON object of ports, got '{not json'"),
        ("[9092]", "must be a JSON object of ports"),
        ('{"kafka_port": "9092"}', "ports.json kafka_port must be a port number, got '9092'"),
        ('{"postgres_port": 0}', "ports.json postgres_port must be at least 1, got '0'"),
    ],
)
def test_a_broken_ports_file_is_a_config_error_naming_it(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "ports.json").write_text(text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("{", r"\{")):
        Settings.from_env({"JOBSTREAM_HOME": str(tmp_path)})


def test_unknown_keys_in_the_ports_file_are_ignored(tmp_path: Path) -> None:
    (tmp_path / "ports.json").write_text('{"kafka_port": 19092, "grafana_port": 3000}')
    assert read_local_ports(tmp_path) == {"kafka_port": 19092}


@pytest.mark.parametrize("command", ["poller", "api", "worker", "migrate"])
def test_the_entry_point_reports_a_bad_value_in_one_line(command: str, tmp_path: Path) -> None:
    env = {"PATH": os.environ.get("PATH", ""), "JOBSTREAM_HOME": str(tmp_path)}
    env["JOBSTREAM_POLL_TIMEOUT_S"] = "x"  # a poller setting: every command checks the whole tree
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli.main", command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[0] == "error: JOBSTREAM_POLL_TIMEOUT_S must be a number, got 'x'"
    assert "Traceback" not in done.stderr

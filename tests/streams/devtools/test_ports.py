"""The local stack's ports: the usual ones when free, else free ones, recorded once (no broker needed)."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.devtools.stack.ports import choose_ports, free_ports, is_free
from streams.devtools.stack.stack import LocalStack
from streams.settings import LOCAL_PORTS, Settings

DEFAULTS = {name: default for name, (_, default) in LOCAL_PORTS.items()}


@pytest.fixture
def listening() -> Iterator[int]:
    """A port something listens on, as another checkout's Kafka would."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield int(server.getsockname()[1])


@pytest.fixture
def no_port_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable, _ in LOCAL_PORTS.values():
        monkeypatch.delenv(variable, raising=False)


def test_free_ports_are_distinct_and_free() -> None:
    ports = free_ports(4)
    assert len(set(ports)) == 4
    assert all(is_free(port) for port in ports)


def test_a_busy_port_is_replaced_and_a_free_one_kept(listening: int) -> None:
    (free,) = free_ports(1)
    chosen = choose_ports({"busy": listening, "free": free})
    assert chosen["free"] == free
    assert chosen["busy"] not in (listening, free)
    assert not is_free(listening)


def test_first_up_records_the_defaults_where_free_else_free_ports(
    tmp_path: Path, no_port_variables: None
) -> None:
    free_before = {name: is_free(port) for name, port in DEFAULTS.items()}
    stack = LocalStack(Settings.from_env({"JOBSTREAM_HOME": str(tmp_path)}))
    chosen = stack.choose_ports()
    ports = {name: getattr(chosen, name) for name in DEFAULTS}
    assert len(set(ports.values())) == len(ports)
    for name, default in DEFAULTS.items():
        assert (ports[name] == default) == free_before[name], (name, ports[name])
    assert json.loads((tmp_path / "ports.json").read_text()) == ports
    # Every later process of this checkout reads them, and a second `up` keeps them.
    again = Settings.from_env({"JOBSTREAM_HOME": str(tmp_path)})
    assert {name: getattr(again, name) for name in DEFAULTS} == ports
    assert LocalStack(again).choose_ports() == again
    assert stack.kafka.address == f"127.0.0.1:{ports['kafka_port']}"
    assert stack.postgres.address == f"127.0.0.1:{ports['postgres_port']}"


def test_ports_set_in_the_environment_are_kept_and_not_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_port_variables: None
) -> None:
    """Even the default, when a variable says so: the user chose it (busy or not)."""
    monkeypatch.setenv("JOBSTREAM_KAFKA_PORT", str(DEFAULTS["kafka_port"]))
    settings = Settings.from_env({"JOBSTREAM_HOME": str(tmp_path)})
    assert LocalStack(settings).choose_ports() == settings
    assert not (tmp_path / "ports.json").exists()


def test_settings_built_with_other_ports_are_kept(tmp_path: Path, no_port_variables: None) -> None:
    """A test's private stack: its settings come from its own environment, not this process's."""
    kafka, controller, postgres = free_ports(3)
    env = {
        "JOBSTREAM_HOME": str(tmp_path),
        "JOBSTREAM_KAFKA_PORT": str(kafka),
        "JOBSTREAM_KAFKA_CONTROLLER_PORT": str(controller),
        "JOBSTREAM_POSTGRES_PORT": str(postgres),
    }
    settings = Settings.from_env(env)
    assert LocalStack(settings).choose_ports() == settings
    assert not (tmp_path / "ports.json").exists()

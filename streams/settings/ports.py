"""The ports a checkout's local stack listens on, recorded in `<home>/ports.json` so that two checkouts
on one machine each find their own stack without anyone exporting JOBSTREAM_*_PORT."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path

from streams.settings.env import ConfigError, check_range, invalid

PORTS_FILE = "ports.json"

# Settings field -> the variable that overrides it, and the port when neither is set.
LOCAL_PORTS: Mapping[str, tuple[str, int]] = {
    "kafka_port": ("JOBSTREAM_KAFKA_PORT", 9092),
    "kafka_controller_port": ("JOBSTREAM_KAFKA_CONTROLLER_PORT", 9093),
    "postgres_port": ("JOBSTREAM_POSTGRES_PORT", 5432),
    "api_port": ("JOBSTREAM_API_PORT", 8080),
}


def local_ports_path(home: Path) -> Path:
    return home / PORTS_FILE


def read_local_ports(home: Path) -> dict[str, int]:
    """What the local stack recorded (a subset of LOCAL_PORTS' keys); {} when it recorded nothing.

    Unknown keys are ignored, so a newer stack's file does not break an older reader.
    """
    path = local_ports_path(home)
    try:
        text = path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"{path} must be readable, got {exc.strerror}") from exc
    try:
        document = json.loads(text)
    except ValueError:
        raise invalid(str(path), "a JSON object of ports", text[:80]) from None
    if not isinstance(document, dict):
        raise invalid(str(path), "a JSON object of ports", text[:80])
    return {key: _port(f"{path} {key}", document[key]) for key in LOCAL_PORTS if key in document}


def record_local_ports(home: Path, ports: Mapping[str, int]) -> Path:
    """Write the ports the local stack chose (keys of LOCAL_PORTS), atomically; returns the file.

    Replaces what was recorded before, so pass every port the stack listens on.
    """
    unknown = set(ports) - set(LOCAL_PORTS)
    if unknown:
        raise ValueError(f"unknown ports {sorted(unknown)}; known: {sorted(LOCAL_PORTS)}")
    checked = {key: _port(key, value) for key, value in ports.items()}
    path = local_ports_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{PORTS_FILE}.{os.getpid()}")
    partial.write_text(json.dumps(checked, indent=2, sort_keys=True) + "\n")
    os.replace(partial, path)
    return path


def _port(name: str, value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise invalid(name, "a port number", value)
    check_range(name, value, minimum=1, maximum=65535)
    return value


# `jobstream stack up --brokers N`: the ports of nodes 2..N of a local Kafka cluster (node 1 is
# kafka_port / kafka_controller_port above), as [[broker, controller], ...]; no file: one node.
KAFKA_CLUSTER_FILE = "kafka-cluster.json"


def kafka_cluster_path(home: Path) -> Path:
    return home / KAFKA_CLUSTER_FILE


def read_kafka_cluster(home: Path) -> tuple[tuple[int, int], ...]:
    """The recorded (broker, controller) ports of the local cluster's nodes after the first."""
    path = kafka_cluster_path(home)
    try:
        document = json.loads(path.read_text())
    except FileNotFoundError:
        return ()
    except (OSError, ValueError) as exc:
        raise ConfigError(
            f"{path} must be a readable JSON list of [broker, controller] ports: {exc}"
        ) from exc
    if not isinstance(document, list) or not all(isinstance(n, list) and len(n) == 2 for n in document):
        raise invalid(str(path), "a JSON list of [broker, controller] ports", str(document)[:80])
    return tuple((_port(f"{path} broker", b), _port(f"{path} controller", c)) for b, c in document)


def record_kafka_cluster(home: Path, extra_nodes: tuple[tuple[int, int], ...]) -> None:
    """Record nodes 2..N (none: a single node, the file is removed)."""
    path = kafka_cluster_path(home)
    if not extra_nodes:
        path.unlink(missing_ok=True)
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{KAFKA_CLUSTER_FILE}.{os.getpid()}")
    partial.write_text(json.dumps([list(node) for node in extra_nodes]) + "\n")
    os.replace(partial, path)
